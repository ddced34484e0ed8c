r"""Figures of the finite-width chapter (*Beyond both papers: how wide is wide enough?*, ``book/finite_width.md``).

The theory is :mod:`nsp_helpers.theory.finite_width` (the exact random walk of :math:`\ln \hat q^{\,l}`),
drawn as lines and shaded bands; the simulations are :class:`nsp_helpers.simulate.LogQSimulation` runs
(the package's forward pass, one input per network), drawn as points on the same axes. Each function
returns a :class:`~nsp_helpers.plots.style.BookFigure` in the book's style (:mod:`nsp_helpers.plots.style`),
uses the object-oriented API and changes no global plotting state. This is the book's own material, not
from either paper.
"""

from __future__ import annotations

import numpy as np

from ..activations import get_activation
from ..errors import InvalidParameterError, check_in_range, check_int
from ..noise import Dropout, MultiplicativeGaussian, MultiplicativeLaplace, MultiplicativePoisson, NoiseModel, NoNoise
from ..theory import depth_scale
from ..theory import finite_width as fw
from .style import TEXT_WIDTH, _cell_edges, figure_function, legend_below, new_figure, number

__all__ = [
    "noise_label",
    "log_q_bands_figure",
    "mean_median_figure",
    "spread_scaling_figure",
    "same_mu2_figure",
    "width_for_spread_figure",
    "median_stable_figure",
    "log_q_band_frame",
    "log_q_cdf_frame",
    "trainable_depth_spread_figure",
]

_PROBS = (0.05, 0.25, 0.5, 0.75, 0.95)


# --- helpers ----------------------------------------------------------------------------------------------
def _figure(n_panels: int, *, width: float = 4.2, height: float = 3.4, ncols: int | None = None):
    """A figure of ``n_panels`` panels (``ncols`` per row) in the book's style, at most the column's width."""
    ncols = n_panels if ncols is None else min(ncols, n_panels)
    nrows = -(-n_panels // ncols)
    fig, axes = new_figure(nrows, ncols, width=min(TEXT_WIDTH, width * ncols), height=min(height, 3.0) * nrows)
    axes = axes.ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    fig.panels = list(axes[:n_panels])
    return fig, list(axes[:n_panels])


def noise_label(noise) -> str:
    """A short label for a noise model ("dropout p = 0.5", "Gaussian σ = 1", ...).

    Examples
    --------
    >>> noise_label(Dropout(keep_prob=0.5)), noise_label(NoNoise()), noise_label(MultiplicativePoisson(rate=1.0))
    ('dropout p = 0.5', 'no noise', 'Poisson λ = 1')
    """
    if isinstance(noise, NoNoise):
        return "no noise"
    if isinstance(noise, Dropout):
        return "no noise" if float(noise.keep_prob) == 1.0 else f"dropout p = {float(noise.keep_prob):g}"
    if isinstance(noise, MultiplicativeGaussian):
        return f"Gaussian σ = {float(noise.std):g}"
    if isinstance(noise, MultiplicativeLaplace):
        return f"Laplace β = {float(noise.scale):g}"
    if isinstance(noise, MultiplicativePoisson):
        return f"Poisson λ = {float(noise.rate):g}"
    return repr(noise)


def _check_simulations(simulations) -> list:
    from ..simulate.finite_width import LogQSimulation

    if isinstance(simulations, LogQSimulation):
        simulations = [simulations]
    simulations = list(simulations)
    if not simulations or not all(isinstance(s, LogQSimulation) for s in simulations):
        raise InvalidParameterError("simulations must be a non-empty sequence of LogQSimulation (simulate.simulate_log_q)")
    return simulations


def _check_probabilities(probabilities) -> np.ndarray:
    probs = np.atleast_1d(check_in_range("probabilities", probabilities, 0.0, 1.0, low_open=True, high_open=True,
                                         max_ndim=1))
    if probs.size % 2 != 1 or not np.all(np.diff(probs) > 0) or not np.allclose(probs + probs[::-1], 1.0):
        raise InvalidParameterError(f"probabilities must be increasing, symmetric about 0.5 and odd in number "
                                    f"(e.g. 0.05, 0.25, 0.5, 0.75, 0.95), got {probs.tolist()}")
    return probs


def _pct(p: float) -> str:
    return f"{100 * p:g} %"


def _marker_layers(n_layers: int, n_points: int) -> np.ndarray:
    return np.unique(np.linspace(0, n_layers, n_points).round().astype(int))[1:]


def _gain(network) -> float:
    """The mean-field gain per layer, sigma_w^2 mu_2 E[phi(z)^2] (ReLU: 1/2, linear: 1)."""
    name = get_activation(network.activation).name
    m2 = {"relu": 0.5, "linear": 1.0}.get(name)
    if m2 is None:
        raise InvalidParameterError(f"the finite-width figures need a ReLU or linear network, got {name!r}")
    return float(network.sigma_w2) * m2 * float(network.noise.mu2)


def _theory_quantiles(probs, layers, network):
    """(n_probs, n_layers) theory quantiles of ln(q_hat^l/q^0) for a NoisyNetwork."""
    return np.asarray(fw.log_q_quantiles(probs, layers, network.width, network)).reshape(len(probs), len(layers))


def _draw_bands(ax, layers, quantiles, probs, colour, *, label=None, alpha=0.18, edges=False):
    """Shaded bands between symmetric quantiles (their edges drawn thin with ``edges``) and the median line."""
    n = probs.size
    for i in range(n // 2):
        ax.fill_between(layers, quantiles[i], quantiles[n - 1 - i], color=colour, alpha=alpha * (1 + i), lw=0,
                        label=f"theory {_pct(probs[i])}–{_pct(probs[n - 1 - i])}" if label is None else None)
        if edges:
            ax.plot(layers, quantiles[i], color=colour, lw=0.7, ls="--")
            ax.plot(layers, quantiles[n - 1 - i], color=colour, lw=0.7, ls="--")
    ax.plot(layers, quantiles[n // 2], color=colour, lw=1.6, label="theory median" if label is None else label)


# --- theory bands against simulated quantiles -------------------------------------------------------------
@figure_function
def log_q_bands_figure(simulations, *, probabilities=_PROBS, n_points: int = 21, ncols: int | None = None,
                       sharey: bool = False):
    r"""Theory bands of :math:`\ln(\hat q^{\,l}/q^0)` over depth against simulated quantiles, one panel per run.

    Introduced in the chapter *Beyond both papers: how wide is wide enough?*.

    Parameters
    ----------
    simulations : LogQSimulation or sequence of them
        From :func:`nsp_helpers.simulate.simulate_log_q` (one panel each, e.g. one per width).
    probabilities : sequence of float
        Increasing, symmetric about 0.5, odd in number: the bands (pairs) and the median.
    n_points : int
        Layers at which the simulated quantiles are drawn.
    ncols : int, optional
        Panels per row.
    sharey : bool
        One y range for all panels.

    Returns
    -------
    BookFigure

    Notes
    -----
    Bands and line: :func:`nsp_helpers.theory.finite_width.log_q_quantiles` (exact cumulants,
    Cornish-Fisher); dotted: the mean field, :math:`\ln g^l` (0 at criticality). Points: the simulated
    quantiles over the surviving networks (filled: the median).

    Examples
    --------
    >>> from nsp_helpers.simulate import simulate_log_q
    >>> sim = simulate_log_q(20, NoNoise(), width=64, n_networks=100, seed=0, device="cpu")
    >>> fig = log_q_bands_figure(sim, n_points=5)
    >>> len(fig.axes[0].collections)     # two bands, the simulated quantiles and the simulated median
    4
    """
    sims = _check_simulations(simulations)
    probs = _check_probabilities(probabilities)
    n_points = check_int("n_points", n_points, 2)
    fig, axes = _figure(len(sims), ncols=ncols)
    for ax, sim in zip(axes, sims):
        net = sim.network
        layers = sim.layers
        _draw_bands(ax, layers, _theory_quantiles(probs, layers, net), probs, "C0")
        ax.plot(layers, layers * np.log(_gain(net)), color="0.3", ls=":", lw=1.2, label="mean field")
        at = _marker_layers(sim.n_layers, n_points)
        sq = sim.quantiles(probs)[:, at]
        middle = probs.size // 2
        others = [i for i in range(probs.size) if i != middle]
        ax.scatter(np.tile(at, len(others)), sq[others].ravel(), s=14, marker="o", facecolors="none", edgecolors="C3",
                   lw=0.9, zorder=3, label="simulated quantiles")
        ax.scatter(at, sq[middle], s=16, marker="o", color="C3", zorder=3, label="simulated median")
        ax.set_title(f"{noise_label(net.noise)}, N = {net.width} ({sim.n_networks} networks)", fontsize="medium")
        ax.set_xlabel("layer l")
        ax.set_xlim(0, sim.n_layers)
    if sharey:
        lo = min(ax.get_ylim()[0] for ax in axes)
        hi = max(ax.get_ylim()[1] for ax in axes)
        for ax in axes:
            ax.set_ylim(lo, hi)
    for ax in axes[:: (ncols or len(axes))]:
        ax.set_ylabel(r"$\ln(\hat q^{\,l}/q^0)$")
    legend_below(fig, axes[0], ncols=2)
    return fig


@figure_function
def mean_median_figure(simulations, *, n_points: int = 11):
    r"""The mean of :math:`\hat q^{\,l}/q^0` is stable at criticality while the median decays.

    One panel per run, logarithmic :math:`y`: the theory's mean :math:`g^l` (exact at every width; 1 at
    criticality), the theory's median and 25–75 % band, and the simulated sample mean (with its standard
    error; dead networks count 0) and median.

    Introduced in the chapter *Beyond both papers: how wide is wide enough?*.

    Examples
    --------
    >>> from nsp_helpers.simulate import simulate_log_q
    >>> sim = simulate_log_q(10, NoNoise(), width=64, n_networks=50, seed=0, device="cpu")
    >>> fig = mean_median_figure([sim], n_points=4)
    >>> [line.get_label() for line in fig.axes[0].get_lines()][:2]
    ['theory mean (exact)', 'theory median']
    """
    sims = _check_simulations(simulations)
    n_points = check_int("n_points", n_points, 2)
    fig, axes = _figure(len(sims))
    for ax, sim in zip(axes, sims):
        net = sim.network
        layers = sim.layers
        gain = _gain(net)
        quant = _theory_quantiles(np.array([0.25, 0.5, 0.75]), layers, net)
        ax.plot(layers, gain**layers, color="C1", lw=1.6, label="theory mean (exact)")
        ax.plot(layers, np.exp(quant[1]), color="C0", lw=1.6, label="theory median")
        ax.fill_between(layers, np.exp(quant[0]), np.exp(quant[2]), color="C0", alpha=0.18, lw=0, label="theory 25–75 %")
        at = _marker_layers(sim.n_layers, n_points)
        mean, se = sim.mean_ratio()
        ax.errorbar(at, mean[at], yerr=se[at], fmt="s", ms=4, color="C1", mfc="none", capsize=2,
                    label="simulated mean ± s.e.")
        ax.plot(at, np.exp(sim.quantiles(0.5)[0, at]), "o", ms=4, color="C3", label="simulated median")
        ax.set_yscale("log")
        ax.set_xlim(0, sim.n_layers)
        ax.set_xlabel("layer l")
        ax.set_title(f"{noise_label(net.noise)}, N = {net.width} ({sim.n_networks} networks)", fontsize="medium")
    axes[0].set_ylabel(r"$\hat q^{\,l}/q^0$")
    legend_below(fig, axes[0], ncols=2)
    return fig


@figure_function
def spread_scaling_figure(simulations, depths=(10, 25, 50, 100, 200)):
    r"""The standard deviation of :math:`\ln \hat q^{\,L}` against :math:`\sqrt{L\kappa/N}`: one line for all runs.

    Every (run, depth) is a point: colour by noise model, marker by width. The diagonal is the leading
    order :math:`\sqrt{L\kappa/N}`; small crosses are the exact theory at the same points (above the
    diagonal where :math:`\kappa/N` is not small).

    Introduced in the chapter *Beyond both papers: how wide is wide enough?*.

    Examples
    --------
    >>> from nsp_helpers.simulate import simulate_log_q
    >>> sims = [simulate_log_q(20, NoNoise(), width=w, n_networks=50, seed=w, device="cpu") for w in (32, 128)]
    >>> fig = spread_scaling_figure(sims, depths=[10, 20])
    >>> len(fig.axes[0].collections) >= 2
    True
    """
    sims = _check_simulations(simulations)
    depths = np.atleast_1d(np.asarray(depths))
    fig, (ax,) = _figure(1, width=5.0, height=4.0)
    noises = []
    widths = sorted({s.width for s in sims})
    markers = dict(zip(widths, ["o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">"] * 3))
    xs_all = []
    for sim in sims:
        net = sim.network
        key = noise_label(net.noise)
        if key not in noises:
            noises.append(key)
        colour = f"C{noises.index(key)}"
        use = depths[(depths >= 1) & (depths <= sim.n_layers)]
        kappa = float(fw.unit_relative_variance(net.noise, get_activation(net.activation).name))
        x = np.sqrt(use * kappa / sim.width)
        y = np.array([np.std(r[np.isfinite(r)], ddof=1) for r in sim.log_q[use]])
        exact = np.sqrt(np.asarray(fw.log_q_cumulants(use, sim.width, net).variance))
        ax.scatter(x, y, marker=markers[sim.width], facecolors="none", edgecolors=colour, s=26, lw=1.0)
        ax.scatter(x, exact, marker="+", color="0.2", s=14, lw=0.7)
        xs_all.append(x)
    xs = np.concatenate(xs_all)
    grid = np.geomspace(xs.min() / 1.3, xs.max() * 1.3, 50)
    ax.plot(grid, grid, color="0.3", lw=1, ls="--", label=r"leading order $\sqrt{L\kappa/N}$")
    ax.scatter([], [], marker="+", color="0.2", label="exact theory")
    for k, key in enumerate(noises):
        ax.scatter([], [], marker="o", facecolors="none", edgecolors=f"C{k}", label=key)
    for w in widths:
        ax.scatter([], [], marker=markers[w], facecolors="none", edgecolors="0.4", label=f"N = {w}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"$\sqrt{L\kappa/N}$")
    ax.set_ylabel(r"simulated sd of $\ln\hat q^{\,L}$")
    legend_below(fig, ax, ncols=2)
    return fig


@figure_function
def same_mu2_figure(simulations, *, probabilities=(0.05, 0.5, 0.95), n_points: int = 11):
    r"""Noise models with the same :math:`\mu_2` at the same width: different spreads.

    (a) Theory bands (outer probabilities) and medians of :math:`\ln(\hat q^{\,l}/q^0)`, one colour per
    run, with simulated quantiles as points. (b) The standard deviation over depth: exact theory (lines),
    leading order :math:`\sqrt{l\kappa/N}` (dotted) and simulation (points).

    Introduced in the chapter *Beyond both papers: how wide is wide enough?*.

    Examples
    --------
    >>> from nsp_helpers.simulate import simulate_log_q
    >>> sims = [simulate_log_q(10, n, width=64, n_networks=50, seed=1, device="cpu") for n in (Dropout(0.5), MultiplicativeGaussian(1.0))]
    >>> fig = same_mu2_figure(sims, n_points=3)
    >>> len(fig.axes)
    2
    """
    sims = _check_simulations(simulations)
    probs = _check_probabilities(probabilities)
    n_points = check_int("n_points", n_points, 2)
    fig, (ax, bx) = _figure(2, width=4.6, height=3.6)
    for k, sim in enumerate(sims):
        net, colour, layers = sim.network, f"C{k}", sim.layers
        quant = _theory_quantiles(probs, layers, net)
        kappa = float(fw.unit_relative_variance(net.noise, get_activation(net.activation).name))
        label = f"{noise_label(net.noise)} (κ = {kappa:g})"
        _draw_bands(ax, layers, quant, probs, colour, label=label, alpha=0.07, edges=True)
        at = _marker_layers(sim.n_layers, n_points)
        sq = sim.quantiles(probs)[:, at]
        for i in range(probs.size):
            ax.plot(at, sq[i], "o" if i == probs.size // 2 else "_", color=colour, ms=4 if i == probs.size // 2 else 7,
                    mew=1.3)
        exact = np.sqrt(np.asarray(fw.log_q_cumulants(layers, net.width, net).variance))
        bx.plot(layers, exact, color=colour, lw=1.6, label=label)
        bx.plot(layers, np.sqrt(layers * kappa / net.width), color=colour, lw=1.0, ls=":")
        sd = np.array([np.std(r[np.isfinite(r)], ddof=1) for r in sim.log_q[at]])
        bx.plot(at, sd, "o", color=colour, ms=4, mfc="none")
    width = sims[0].width
    ax.set_title(f"(a) {_pct(probs[0])}, 50 % and {_pct(probs[-1])} quantiles, N = {width}", fontsize="medium")
    ax.set_xlabel("layer l")
    ax.set_ylabel(r"$\ln(\hat q^{\,l}/q^0)$")
    bx.plot([], [], color="0.4", ls=":", label="leading order")
    bx.plot([], [], "o", color="0.4", mfc="none", label="simulated")
    bx.set_title(r"(b) spread of $\ln\hat q^{\,l}$", fontsize="medium")
    bx.set_xlabel("layer l")
    bx.set_ylabel("standard deviation")
    legend_below(fig, groups=[("(a)", *ax.get_legend_handles_labels()), ("(b)", *bx.get_legend_handles_labels())])
    for a in (ax, bx):
        a.set_xlim(0, max(s.n_layers for s in sims))
    return fig


@figure_function
def width_for_spread_figure(noises, max_std: float = 0.5, depths=None, *, mark_widths=(128, 1000)):
    r"""The width :math:`N` that keeps the standard deviation of :math:`\ln\hat q^{\,L}` below ``max_std``, over depth.

    Lines: exact (:func:`nsp_helpers.theory.finite_width.width_for_spread` with ``method="exact"``);
    dotted: the leading order :math:`L\kappa/s^2`. Horizontal lines mark ``mark_widths``.

    Introduced in the chapter *Beyond both papers: how wide is wide enough?*.

    Examples
    --------
    >>> fig = width_for_spread_figure([NoNoise(), Dropout(0.5)], depths=[10, 100])
    >>> len(fig.axes[0].get_lines())     # exact and leading order per model, its legend entry, two widths
    7
    """
    noises = [noises] if isinstance(noises, NoiseModel) else list(noises)
    if not noises:
        raise InvalidParameterError("noises must be a non-empty sequence of noise models")
    s = float(check_in_range("max_std", max_std, 0.0, np.inf, low_open=True))
    depths = np.unique(np.geomspace(2, 200, 16).round().astype(int)) if depths is None else np.atleast_1d(depths)
    fig, (ax,) = _figure(1, width=5.0, height=3.8)
    for k, noise in enumerate(noises):
        exact = [fw.width_for_spread(s, int(d), noise, method="exact") for d in depths]
        lead = [fw.width_for_spread(s, int(d), noise) for d in depths]
        ax.plot(depths, exact, color=f"C{k}", lw=1.6, marker="o", ms=3, label=noise_label(noise))
        ax.plot(depths, lead, color=f"C{k}", lw=1.0, ls=":")
    ax.plot([], [], color="0.4", ls=":", label=r"leading order $L\kappa/s^2$")
    for w in mark_widths:
        ax.axhline(w, color="0.6", lw=0.8, ls="--")
        ax.annotate(f"N = {w}", (depths[0], w), xytext=(2, 2), textcoords="offset points", fontsize="x-small", color="0.4")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("depth L")
    ax.set_ylabel("width N needed")
    ax.set_title(rf"sd of $\ln\hat q^{{\,L}}$ at most {s:g}", fontsize="medium")
    legend_below(fig, ax, ncols=2)
    return fig


@figure_function
def median_stable_figure(critical, stable, *, noises=None, widths=None, n_points: int = 11):
    r"""Critical versus median-stable :math:`\sigma_w^2`: the median is held, the mean grows.

    (a) Theory median and 5–95 % band of :math:`\ln(\hat q^{\,l}/q^0)` for both initialisations (same noise
    and width), simulated quantiles as points. (b) The mean :math:`\mathbb{E}[\hat q^{\,l}]/q^0 = g^l`
    (exact) and the simulated sample mean. (c), when ``noises`` is given: the correction
    :math:`\sigma_w^2\mu_2/2 - 1` over width, exact and leading order :math:`\kappa/(2N)`.

    Introduced in the chapter *Beyond both papers: how wide is wide enough?*.

    Examples
    --------
    >>> from nsp_helpers.simulate import simulate_log_q
    >>> from nsp_helpers.theory import finite_width as fw
    >>> crit = simulate_log_q(10, Dropout(0.5), width=64, n_networks=50, seed=0, device="cpu")
    >>> stab = simulate_log_q(10, Dropout(0.5), fw.median_stable_sigma_w2(64, Dropout(0.5)), width=64, n_networks=50,
    ...                       seed=1, device="cpu")
    >>> len(median_stable_figure(crit, stab, noises=[Dropout(0.5)], widths=[32, 64]).axes)
    3
    """
    crit, stab = _check_simulations([critical, stable])
    n_points = check_int("n_points", n_points, 2)
    fig, axes = _figure(2 if noises is None else 3, width=4.2, height=3.5)
    probs = np.array([0.05, 0.5, 0.95])
    for k, (sim, name) in enumerate([(crit, "critical"), (stab, "median-stable")]):
        net, colour, layers = sim.network, f"C{k}", sim.layers
        label = f"{name}, $\\sigma_w^2$ = {float(net.sigma_w2):.4f}"
        _draw_bands(axes[0], layers, _theory_quantiles(probs, layers, net), probs, colour, label=label, alpha=0.15)
        at = _marker_layers(sim.n_layers, n_points)
        sq = sim.quantiles(probs)[:, at]
        axes[0].plot(at, sq[1], "o", color=colour, ms=4)
        axes[0].plot(at, sq[0], "_", color=colour, ms=7, mew=1.3)
        axes[0].plot(at, sq[2], "_", color=colour, ms=7, mew=1.3)
        gain = _gain(net)
        axes[1].plot(layers, gain**layers, color=colour, lw=1.6, label=f"{name}: $g^l$")
        mean, se = sim.mean_ratio()
        axes[1].errorbar(at, mean[at], yerr=se[at], fmt="s", ms=4, color=colour, mfc="none", capsize=2)
    axes[0].axhline(0.0, color="0.4", lw=0.8, ls=":")
    axes[0].set_title(f"(a) {noise_label(crit.network.noise)}, N = {crit.width}: 5/50/95 %", fontsize="medium")
    axes[0].set_ylabel(r"$\ln(\hat q^{\,l}/q^0)$")
    axes[1].errorbar([], [], yerr=[], fmt="s", ms=4, color="0.4", mfc="none", label="simulated mean ± s.e.")
    axes[1].set_yscale("log")
    axes[1].set_title("(b) the mean", fontsize="medium")
    axes[1].set_ylabel(r"$\mathbb{E}[\hat q^{\,l}]/q^0$")
    for ax in axes[:2]:
        ax.set_xlabel("layer l")
        ax.set_xlim(0, max(crit.n_layers, stab.n_layers))
    if noises is not None:
        noises = [noises] if isinstance(noises, NoiseModel) else list(noises)
        widths = np.unique(np.geomspace(16, 4096, 17).round().astype(int)) if widths is None else np.atleast_1d(widths)
        ax = axes[2]
        for k, noise in enumerate(noises):
            mu2 = float(noise.mu2)
            exact = np.asarray(fw.median_stable_sigma_w2(widths, noise)) * mu2 / 2 - 1
            lead = np.asarray(fw.median_stable_sigma_w2(widths, noise, method="leading")) * mu2 / 2 - 1
            ax.plot(widths, exact, color=f"C{k + 2}", lw=1.6, label=noise_label(noise))
            ax.plot(widths, lead, color=f"C{k + 2}", lw=1.0, ls=":")
        ax.plot([], [], color="0.4", ls=":", label="leading order")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("width N")
        ax.set_ylabel(r"$\sigma_w^2\mu_2/2 - 1$")
        ax.set_title("(c) the correction to 2/μ₂", fontsize="medium")
    legend_below(fig, groups=[(f"({'abc'[k]})", *a.get_legend_handles_labels()) for k, a in enumerate(axes)])
    return fig


# --- slider frames (theory only) ----------------------------------------------------------------------------
@figure_function
def log_q_band_frame(width, noise, n_layers: int = 200, *, ylim=(-40.0, 8.0), probabilities=_PROBS):
    r"""One frame of the chapter's slider: theory bands of :math:`\ln(\hat q^{\,l}/q^0)` over depth.

    Critical initialisation; a text box gives the spread and the median network's :math:`\hat q^{\,L}/q^0`
    at the last layer, and the fraction of networks still alive.

    Introduced in the chapter *Beyond both papers: how wide is wide enough?*.

    Examples
    --------
    >>> fig = log_q_band_frame(128, Dropout(0.5), 50)
    >>> tuple(float(y) for y in fig.axes[0].get_ylim())
    (-40.0, 8.0)
    """
    width = check_int("width", width, 1, allow_integral_float=True)
    n_layers = check_int("n_layers", n_layers, 1)
    probs = _check_probabilities(probabilities)
    fig, (ax,) = _figure(1, width=5.6, height=3.3)
    layers = np.arange(n_layers + 1)
    quant = np.asarray(fw.log_q_quantiles(probs, layers, width, noise))
    _draw_bands(ax, layers, quant, probs, "C0")
    cum = fw.log_q_cumulants(n_layers, width, noise)
    ax.plot(layers, np.asarray(fw.log_q_cumulants(layers, width, noise).mean), color="C0", ls="--", lw=1,
            label="mean of ln q̂")
    ax.axhline(0.0, color="0.4", lw=0.8, ls=":", label="mean field (and log of the mean)")
    alive = float(fw.survival_probability(n_layers, width, noise))
    ax.text(0.98, 0.97, f"L = {n_layers}: sd {np.sqrt(cum.variance):.2f}, median q̂/q⁰ = "
            f"{number(np.exp(quant[probs.size // 2, -1]), '.2g')}\nalive {number(100 * alive, '.4g')} %",
            transform=ax.transAxes, ha="right", va="top", fontsize="small",
            bbox=dict(boxstyle="round", fc="white", ec="0.8"))
    ax.set_ylim(*ylim)
    ax.set_xlim(0, n_layers)
    ax.set_xlabel("layer l")
    ax.set_ylabel(r"$\ln(\hat q^{\,l}/q^0)$")
    ax.set_title(f"{noise_label(noise)}, N = {width}", fontsize="medium")
    legend_below(fig, ax, ncols=2)
    return fig


@figure_function
def log_q_cdf_frame(width, n_layers, noises, *, xlim=(-12.0, 4.0)):
    r"""One frame of the chapter's slider: the distribution of :math:`\ln(\hat q^{\,L}/q^0)` for several noise models.

    Cumulative distribution functions (theory, exact cumulants and Cornish-Fisher quantiles) at one width and
    depth; the mean field puts all the mass at 0.

    Introduced in the chapter *Beyond both papers: how wide is wide enough?*.

    Examples
    --------
    >>> fig = log_q_cdf_frame(128, 50, [NoNoise(), Dropout(0.5)])
    >>> len(fig.axes[0].get_lines())
    3
    """
    width = check_int("width", width, 1, allow_integral_float=True)
    n_layers = check_int("n_layers", n_layers, 1)
    noises = [noises] if isinstance(noises, NoiseModel) else list(noises)
    if not noises:
        raise InvalidParameterError("noises must be a non-empty sequence of noise models")
    fig, (ax,) = _figure(1, width=5.6, height=3.3)
    probs = np.linspace(0.002, 0.998, 200)
    for k, noise in enumerate(noises):
        x = np.asarray(fw.log_q_quantiles(probs, n_layers, width, noise))
        sd = float(np.sqrt(fw.log_q_cumulants(n_layers, width, noise).variance))
        ax.plot(x, probs, color=f"C{k}", lw=1.6, label=f"{noise_label(noise)} (sd {sd:.2f})")
    ax.axvline(0.0, color="0.4", lw=0.8, ls=":")
    ax.set_xlim(*xlim)
    ax.set_ylim(0, 1)
    ax.set_xlabel(r"$\ln(\hat q^{\,L}/q^0)$")
    ax.set_ylabel("fraction of networks below")
    ax.set_title(f"N = {width}, L = {n_layers}", fontsize="medium")
    legend_below(fig, ax, ncols=2)
    return fig


# --- the experiments ----------------------------------------------------------------------------------------
@figure_function
def trainable_depth_spread_figure(spreads, departures=None, *, vmax=None):
    r"""The spread of :math:`\ln\hat q^{\,L}` over the trainable-depth grid, with the rule :math:`k\xi_c`.

    One heatmap per :class:`nsp_helpers.analysis.FiniteWidthSpread` (e.g. the medium profile's width and the
    paper's), the standard deviation written in each cell, the curve :math:`k\,\xi_c(p)` dashed. With
    ``departures`` (a :class:`nsp_helpers.analysis.SpreadAtDepartures` of the grid at the first width) the
    cells where the grid departs from the rule are marked: × trained although predicted not to, ○ failed
    although predicted to train.

    Introduced in the chapter *Beyond both papers: how wide is wide enough?*.

    Examples
    --------
    >>> from nsp_helpers.analysis import finite_width_spread
    >>> fig = trainable_depth_spread_figure([finite_width_spread([2, 10], [0.5, 1.0], 128)])
    >>> len(fig.axes)      # one heatmap and its colour bar
    2
    """
    from matplotlib.colors import Normalize

    spreads = [spreads] if not isinstance(spreads, (list, tuple)) else list(spreads)
    if not spreads or not all(hasattr(s, "std") and hasattr(s, "boundary") for s in spreads):
        raise InvalidParameterError("spreads must be FiniteWidthSpread results (nsp_helpers.analysis.finite_width_spread)")
    vmax = max(float(np.max(s.std)) for s in spreads) if vmax is None else float(vmax)
    norm = Normalize(0.0, vmax)
    fig, axes = _figure(len(spreads), width=4.4, height=3.8)
    for k, (ax, sp) in enumerate(zip(axes, spreads)):
        xe, ye = _cell_edges(sp.keep_probs), _cell_edges(sp.depths)
        mesh = ax.pcolormesh(xe, ye, sp.std, cmap="viridis", norm=norm, shading="flat")
        for i, d in enumerate(sp.depths):
            for j, p in enumerate(sp.keep_probs):
                v = sp.std[i, j]
                ax.text(p, d, f"{v:.1f}", ha="center", va="center", fontsize=6,
                        color="white" if norm(v) < 0.55 else "black")
        fine = np.linspace(sp.keep_probs.min(), sp.keep_probs.max(), 200)
        boundary = sp.multiple * np.asarray(depth_scale(Dropout(keep_prob=fine)))
        ax.plot(fine, np.where(boundary <= ye[-1], boundary, np.nan), color="C1", ls="--", lw=1.8,
                label=f"{sp.multiple:g}" + r"$\xi_c$")
        if departures is not None and k == 0:
            for row in departures.departure_rows():
                ax.plot(row["keep_prob"], row["depth"], "x" if row["trained"] else "o", ms=11, mfc="none",
                        color="C3", mew=1.5)
            ax.plot([], [], "x", color="C3", label="trained, predicted not")
            ax.plot([], [], "o", mfc="none", color="C3", label="failed, predicted to train")
        ax.set_xlim(xe[0], xe[-1])
        ax.set_ylim(ye[0], ye[-1])
        ax.set_xlabel("keep probability p")
        ax.set_title(f"sd of $\\ln(\\hat q^{{\\,L}}/v^1)$, N = {sp.width}", fontsize="medium")
    axes[0].set_ylabel("depth L (hidden layers)")
    fig.colorbar(mesh, ax=axes, shrink=0.9, label="standard deviation")
    handles, labels = axes[0].get_legend_handles_labels()
    legend_below(fig, handles=handles, labels=labels, ncols=len(labels))
    return fig

