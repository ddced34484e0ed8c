r"""Figures about depth scales (chapters *Depth scales*, ``book/depth_scales.md``, and *Beyond the paper:
a noisy edge of chaos*, ``book/edge_of_chaos.md``).

Each function returns a :class:`~nsp_helpers.plots.style.BookFigure` in the book's style
(:mod:`nsp_helpers.plots.style`), uses the object-oriented matplotlib API and changes no global
plotting state. Simulation results are computed by :mod:`nsp_helpers.simulate`, maps and ridges by
:mod:`nsp_helpers.theory`, and passed in; the theory-only figures do not need torch.
"""

from __future__ import annotations

import numpy as np

from .. import theory
from ..errors import InvalidParameterError, check_bool, check_float, check_in_range, check_int, check_objects
from ..noise import Dropout, NoiseModel
from ..theory import DepthScaleRidge
from .style import ACCENT, colour, family_name, figure_function, legend_below, new_figure

__all__ = [
    "depth_scale_curve_figure",
    "depth_scale_fit_figure",
    "depth_scale_map_figure",
    "depth_scale_parity_figure",
    "depth_scale_ridge_figure",
    "trainable_depth_rule_figure",
]

_SYMBOLS = {"keep_prob": r"keep probability $p$", "std": r"noise std $\sigma_\epsilon$", "scale": r"scale $\beta$",
            "rate": r"rate $\lambda$"}


def _parameter(noise: NoiseModel):
    """Name and values of the (first) parameter of a family of noise levels."""
    name = type(noise)._params[0] if type(noise)._params else None
    if name is None:
        return "mu2", r"$\mu_2$", np.atleast_1d(noise.mu2)
    return name, _SYMBOLS.get(name, name), np.atleast_1d(np.asarray(getattr(noise, name), dtype=float))


def _check_simulations(simulations) -> list:
    from ..simulate.depth_scales import DepthScaleSimulation  # a simulation result: torch is loaded already

    return check_objects("simulations", simulations, DepthScaleSimulation,
                         "DepthScaleSimulation results (nsp_helpers.simulate.simulate_depth_scale)", single=True)


@figure_function
def depth_scale_curve_figure(noise, *, sigma_b2=(0.01, 0.05, 0.2), sigma_w2=None, activation="tanh",
                             ylim=(0.5, 200.0)):
    r""":math:`\xi_c` against :math:`\sigma_w^2` at a few bias variances, with and without noise (theory).

    Introduced in the chapter *Beyond the paper: a noisy edge of chaos* (``book/edge_of_chaos.md``),
    where a slider moves the noise level; the axes are fixed so that frames can be compared.

    Parameters
    ----------
    noise : NoiseModel
        A single noise level.
    sigma_b2 : sequence of float
        Bias variances, one curve each.
    sigma_w2 : 1-D array_like, optional
        Weight variances (default: 60 points from 0.3 to 4).
    activation : str, Activation or callable
        The activation (default ``"tanh"``).
    ylim : (float, float)
        Limits of the logarithmic :math:`\xi_c` axis; larger values, including :math:`\infty`, are clipped.

    Returns
    -------
    BookFigure
        One panel: :math:`\xi_c` with noise (solid, maximum marked), without noise (faint), the
        noiseless edge of chaos for each :math:`\sigma_b^2` (dotted verticals) and the noisy linear
        network's :math:`1/\ln\mu_2` (dashed), computed with :func:`nsp_helpers.theory.depth_scale_map`.

    Notes
    -----
    Without noise :math:`\xi_c = \infty` on the edge of chaos :math:`\chi_1 = 1`; with noise the peak is
    finite and, for odd activations without bias, at most

    .. math::

        \xi_c \le \xi_c^{\text{lin}} = \frac{1}{\ln\mu_2} .

    Examples
    --------
    >>> import numpy as np
    >>> from nsp_helpers.noise import Dropout
    >>> fig = depth_scale_curve_figure(Dropout(0.9), sigma_b2=[0.05], sigma_w2=np.linspace(0.5, 3.0, 6))
    >>> [float(v) for v in fig.axes[0].get_ylim()]
    [0.5, 200.0]
    """
    from ..theory import depth_scale_map, linear_network_depth_scale, noiseless_edge_of_chaos
    from ..noise import NoNoise

    if not isinstance(noise, NoiseModel) or noise.shape != ():
        raise InvalidParameterError(f"noise must be a single nsp_helpers.noise.NoiseModel, got {noise!r}")
    sb = np.atleast_1d(check_in_range("sigma_b2", sigma_b2, 0.0, np.inf, max_ndim=1))
    sw = (np.linspace(0.3, 4.0, 60) if sigma_w2 is None
          else np.atleast_1d(check_in_range("sigma_w2", sigma_w2, 0.0, np.inf, low_open=True, max_ndim=1)))
    if sb.ndim != 1 or sw.ndim != 1 or sb.size == 0 or sw.size < 2:
        raise InvalidParameterError("sigma_b2 must be a non-empty 1-d array and sigma_w2 a 1-d array of >= 2 values")
    limits = check_in_range("ylim", ylim, 0.0, np.inf, low_open=True)
    low, high = (float(v) for v in limits) if limits.shape == (2,) else (1.0, 0.0)
    if not 0 < low < high:
        raise InvalidParameterError(f"ylim must be (low, high) with 0 < low < high, got {ylim!r}")
    mu2 = float(noise.mu2)
    noisy = depth_scale_map(noise, sw, sb, activation)
    clean = depth_scale_map(NoNoise(), sw, sb, activation)
    edge = noiseless_edge_of_chaos(sb, activation) if activation == "tanh" else None
    fig, axes = new_figure(1, 1, height=3.0)
    ax = axes[0, 0]
    for k, b2 in enumerate(sb):
        col = colour(k)
        ax.plot(sw, np.clip(clean[k], low, high), color=col, lw=1.0, alpha=0.4)
        ax.plot(sw, np.clip(noisy[k], low, high), color=col, label=rf"$\sigma_b^2 = {b2:g}$")
        best = int(np.nanargmax(noisy[k]))
        if np.isfinite(noisy[k, best]) and noisy[k, best] < high:
            ax.plot(sw[best], noisy[k, best], "o", color=col, ms=5)
        if edge is not None:
            ax.axvline(float(np.atleast_1d(edge)[k]), color=col, ls=":", lw=1.0)
    ax.plot([], [], color="0.5", lw=1.0, alpha=0.5, label="no noise")
    if edge is not None:
        ax.plot([], [], color="0.5", ls=":", lw=1.0, label="noiseless edge of chaos")
    bound_label = r"linear network $1/\ln\mu_2$"
    if mu2 > 1:
        ax.axhline(float(linear_network_depth_scale(noise)), color="k", ls="--", lw=1.1, label=bound_label)
    else:  # infinite without noise; keep the legend (and so the axes) the same size in every frame
        ax.plot([], [], color="k", ls="--", lw=1.1, label=bound_label)
    ax.set_yscale("log")
    ax.set(xlabel=r"weight variance $\sigma_w^2$", ylabel=r"depth scale $\xi_c$ (layers)", xlim=(sw.min(), sw.max()),
           ylim=(low, high))
    name = activation if isinstance(activation, str) else "activation"
    ax.set_title(rf"{name}, $\mu_2 = {mu2:.3g}$ ({noise.label})")
    legend_below(fig, ax, ncols=3)
    return fig


@figure_function
def depth_scale_fit_figure(simulations, *, theory_points: int = 200):
    r"""Pretorius et al.'s Fig. 5 from simulated networks: straight-line fits and fitted against theoretical :math:`\xi_c`.

    Introduced in the chapter *Depth scales* (``book/depth_scales.md``).

    Parameters
    ----------
    simulations : DepthScaleSimulation or sequence of them
        One row of two panels per simulation (for example dropout, then multiplicative Gaussian),
        each a family of noise levels at critical ReLU initialisation.
    theory_points : int, in [2, 10**6]
        Points of the dense theory curve.

    Returns
    -------
    BookFigure
        Left: :math:`|\bar c^l - c^*|` against :math:`l` on a log axis, one colour per noise level;
        filled dots are the layers in the fit window, open dots the rest, lines the fits.
        Right: fitted :math:`-1/\text{slope}` (dots, :math:`\pm` 1 s.e.) against the noise level, with
        the theoretical :math:`\xi_c = -1/\ln\chi(c^*)` (line) and the same fit applied to the
        iterated mean-field map (crosses: what the authors' figure called "simulation").

    Notes
    -----
    Straight lines on the left panels are the linearisation
    :math:`\ln|c^l - c^*| \approx \text{const} - l/\xi_c`.

    Examples
    --------
    >>> from nsp_helpers.simulate import simulate_depth_scale
    >>> from nsp_helpers.noise import Dropout
    >>> sim = simulate_depth_scale(Dropout(keep_prob=[0.5, 0.8]), n_layers=4, n_pairs=3, n_networks=2, width=50,
    ...                            device="cpu")
    >>> len(depth_scale_fit_figure(sim).axes)  # two panels and a colour bar
    3
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import ListedColormap, Normalize

    sims = _check_simulations(simulations)
    theory_points = check_int("theory_points", theory_points, 2, 1_000_000)
    cmap = ListedColormap(colormaps["viridis"](np.linspace(0.0, 0.9, 256)))
    fig, axes = new_figure(len(sims), 2, height=2.9 * len(sims))
    letters = "abcdefghijklmnop"
    for row, sim in enumerate(sims):
        ax_fit, ax_xi = axes[row]
        name, symbol, values = _parameter(sim.noise)
        norm = Normalize(values.min(), values.max() if values.max() > values.min() else values.min() + 1.0)
        colours = cmap(norm(np.broadcast_to(values, (len(sim.fits),))))
        for fit, col in zip(sim.fits, colours):
            layers = fit.layers[1:]
            dev = fit.deviation[1:]
            show = dev > 0
            in_window = np.isin(layers, fit.window)
            ax_fit.plot(layers[show & in_window], dev[show & in_window], "o", ms=3.5, color=col)
            ax_fit.plot(layers[show & ~in_window], dev[show & ~in_window], "o", ms=3.5, mfc="none", color=col,
                        alpha=0.5)
            if np.isfinite(fit.line.slope):
                span = np.linspace(max(fit.window[0] - 0.5, 0), fit.window[-1] + 1.0, 20)
                ax_fit.plot(span, fit.line(span), color=col, lw=1.2)
        floor = float(np.median(np.concatenate([f.noise_floor[1:] for f in sim.fits])))
        ax_fit.axhline(floor, color="0.4", lw=1.0, ls=":", label=r"noise floor $z\,s^l$ (median)")
        ax_fit.set_yscale("log")
        ax_fit.set(xlabel=r"layer $l$", ylabel=r"$|\bar c^l - c^*|$", ylim=(floor / 10, 1.5))
        ax_fit.set_title(f"({letters[2 * row]}) {family_name(sim.noise)}: simulated decay")
        cb = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax_fit, pad=0.01, fraction=0.06)
        cb.set_label(symbol)

        dense = np.linspace(values.min(), values.max(), theory_points)
        family = type(sim.noise)(dense) if name != "mu2" else Dropout(keep_prob=1.0 / dense)
        sw_dense = None if np.allclose(sim.sigma_w2, theory.critical_weight_variance(sim.noise)) else sim.sigma_w2[0]
        sb = float(sim.sigma_b2[0])
        ax_xi.plot(dense, theory.depth_scale(family, sw_dense, sb), color="k", lw=1.4,
                   label=r"theory $\xi_c = -1/\ln\chi(c^*)$")
        ax_xi.plot(values, sim.depth_scale_theory_fit, "x", color=colour(1), ms=6, mew=1.5,
                   label="the same fit on the iterated map")
        ax_xi.errorbar(values, sim.depth_scale_fit, yerr=sim.depth_scale_fit_stderr, fmt="o", ms=4, color=colour(0),
                       capsize=2, label=f"simulation (width {sim.width}, {sim.n_networks} networks), $\\pm$ 1 s.e.")
        ax_xi.set(xlabel=symbol, ylabel=r"depth scale $\xi_c$ (layers)")
        ax_xi.set_title(f"({letters[2 * row + 1]}) fitted $-1/$slope and theory")
    from matplotlib.lines import Line2D

    handles, labels = axes[0, 0].get_legend_handles_labels()
    handles += [Line2D([], [], ls="none", marker="o", ms=4, color="0.3"),
                Line2D([], [], ls="none", marker="o", ms=4, color="0.3", mfc="none"),
                Line2D([], [], color="0.3", lw=1.2)]
    labels += ["layers in the fit window", "layers outside it", "straight-line fit"]
    left = ", ".join(f"({letters[2 * r]})" for r in range(len(sims)))
    right = ", ".join(f"({letters[2 * r + 1]})" for r in range(len(sims)))
    legend_below(fig, groups=[(f"{left}: colour = noise level", handles, labels),
                              (right, *axes[0, 1].get_legend_handles_labels())])
    return fig


@figure_function
def trainable_depth_rule_figure(keep_prob: float, *, n_layers: int = 40, multiple: float = 6.0):
    r"""Depth scale and the :math:`6\xi_c` trainable-depth rule for critical dropout ReLU networks (theory).

    Introduced in the chapter *Depth scales* (``book/depth_scales.md``), where a slider moves
    ``keep_prob``.

    Parameters
    ----------
    keep_prob : float, in (0, 1)
        Dropout keep probability (critical :math:`\sigma_w^2 = 2p`, :math:`\sigma_b = 0`).
    n_layers : int
        Depth shown in panel (b).
    multiple : float, > 0
        The multiple of :math:`\xi_c` drawn as the trainable depth (6 after Schoenholz et al.).

    Returns
    -------
    BookFigure
        Two panels: (a) :math:`\xi_c` and :math:`6\xi_c` against the keep probability, the chosen one marked;
        (b) :math:`|c^l - c^*|` of the iterated map from :math:`c^0 = 1` on a log axis, the decay
        :math:`e^{-l/\xi_c}` and the depth :math:`6\xi_c` where it has fallen by :math:`e^{-6}`.

    Notes
    -----
    After :math:`6\xi_c` layers the linearised deviation has shrunk by :math:`e^{-6} \approx 0.0025`.

    Examples
    --------
    >>> len(trainable_depth_rule_figure(0.8, n_layers=10).axes)
    2
    """
    keep = check_float("keep_prob", keep_prob, 0.0, 1.0, low_open=True, high_open=True)
    multiple = check_float("multiple", multiple, 0.0, np.inf, low_open=True)
    n_layers = check_int("n_layers", n_layers, 1, 100_000, allow_integral_float=True)
    noise = Dropout(keep_prob=keep)
    fig, axes = new_figure(1, 2, height=2.9)
    ax_xi, ax_dev = axes[0]
    grid = np.linspace(0.05, 0.99, 300)
    xi_grid = theory.depth_scale(Dropout(keep_prob=grid))
    xi = theory.depth_scale(noise)
    ax_xi.plot(grid, xi_grid, color=colour(0), label=r"$\xi_c$")
    ax_xi.plot(grid, multiple * xi_grid, color=colour(1), ls="--", label=rf"${multiple:g}\,\xi_c$")
    ax_xi.plot([keep, keep], [xi, multiple * xi], "k:", lw=0.9)
    ax_xi.plot([keep], [xi], "o", color=colour(0))
    ax_xi.plot([keep], [multiple * xi], "o", color=colour(1))
    ax_xi.set_yscale("log")
    ax_xi.set(xlabel=r"keep probability $p$", ylabel="layers", ylim=(0.2, 200))
    ax_xi.set_title(rf"(a) $p = {keep:g}$: $\xi_c = {xi:.2f}$, ${multiple:g}\xi_c = {multiple * xi:.1f}$")
    c_star = theory.correlation_fixed_point(noise)
    layers = np.arange(int(n_layers) + 1)
    dev = np.abs(theory.iterate_correlation(1.0, int(n_layers), noise) - c_star)
    ax_dev.axvspan(0, multiple * xi, color=colour(1), alpha=0.12, lw=0, label=rf"$l < {multiple:g}\,\xi_c$")
    ax_dev.plot(layers, np.where(dev > 0, dev, np.nan), "o", ms=3.5, color=colour(2),
                label=r"$|c^l - c^*|$ from $c^0 = 1$")
    ax_dev.plot(layers, (1 - c_star) * np.exp(-layers / xi), color="0.3", lw=1.1, ls="--",
                label=r"$(1 - c^*)\,e^{-l/\xi_c}$")
    ax_dev.set_yscale("log")
    ax_dev.set(xlabel=r"layer $l$", ylabel=r"$|c^l - c^*|$", ylim=(1e-8, 2), xlim=(0, n_layers))
    ax_dev.set_title("(b) forgetting the input")
    legend_below(fig, groups=[("(a)", *ax_xi.get_legend_handles_labels()),
                              ("(b)", *ax_dev.get_legend_handles_labels())])
    return fig


@figure_function
def depth_scale_map_figure(sigma_w2, sigma_b2, maps, noises, *, ridges=None, edge=None, points=None,
                           vmax: float = 30.0):
    r"""Heat maps of :math:`\xi_c` over :math:`(\sigma_w^2, \sigma_b^2)`, one panel per noise level.

    Introduced in the chapter *Beyond the paper: a noisy edge of chaos* (``book/edge_of_chaos.md``).

    Parameters
    ----------
    sigma_w2, sigma_b2 : 1-D array_like
        The grid (columns and rows of each map).
    maps : array_like, shape ``(n_noises, len(sigma_b2), len(sigma_w2))``
        :func:`nsp_helpers.theory.depth_scale_map` for each noise level.
    noises : sequence of NoiseModel
        The noise levels (panel titles).
    ridges : sequence of (DepthScaleRidge or None), optional
        The maximising :math:`\sigma_w^2` per :math:`\sigma_b^2` (white line), one entry per noise
        level (``None``: no line on that panel).
    edge : 1-D array_like, optional
        The noiseless edge of chaos, :math:`\sigma_w^2` per entry of ``sigma_b2`` (dashed line).
    points : sequence of (array_like of shape (n, 2) or None), optional
        Per noise level, initialisations :math:`(\sigma_w^2, \sigma_b^2)` checked by simulation
        (marked with crosses).
    vmax : float
        Upper end of the (logarithmic) colour scale; larger values, including :math:`\infty`, saturate.

    Returns
    -------
    BookFigure

    Notes
    -----
    The colour is :math:`\log_{10}\xi_c`; contours are drawn at 1, 2, 5, 10 and 20 layers.

    Examples
    --------
    >>> import numpy as np
    >>> from nsp_helpers.noise import MultiplicativeGaussian
    >>> sw, sb = np.array([0.5, 1.0, 2.0]), np.array([0.05, 0.2])
    >>> maps = [np.ones((2, 3)), 2 * np.ones((2, 3))]
    >>> fig = depth_scale_map_figure(sw, sb, maps, [MultiplicativeGaussian(0.3), MultiplicativeGaussian(0.6)])
    >>> len(fig.axes)  # two maps and a colour bar
    3
    """
    from matplotlib import patheffects
    from matplotlib.colors import LogNorm
    from matplotlib.lines import Line2D

    sw = check_in_range("sigma_w2", sigma_w2, 0.0, np.inf, low_open=True, max_ndim=1)
    sb = check_in_range("sigma_b2", sigma_b2, 0.0, np.inf, max_ndim=1)
    maps = check_in_range("maps", maps, 0.0, np.inf, allow_inf=True)
    noises = check_objects("noises", noises, NoiseModel, "NoiseModel objects")
    if maps.shape != (len(noises), sb.size, sw.size):
        raise InvalidParameterError(
            f"maps must have shape (n_noises, len(sigma_b2), len(sigma_w2)) = {(len(noises), sb.size, sw.size)}, "
            f"got {maps.shape}"
        )
    vmax = check_float("vmax", vmax, 1.0, np.inf, low_open=True)
    n_cols = 2 if len(noises) > 1 else 1
    n_rows = -(-len(noises) // n_cols)
    fig, axes = new_figure(n_rows, n_cols, height=2.75 * n_rows)
    for ax in axes.flat[len(noises):]:
        ax.set_visible(False)
    norm = LogNorm(vmin=0.5, vmax=vmax)
    outline = [patheffects.withStroke(linewidth=3.2, foreground="black")]  # light lines readable on any colour
    edge_style = dict(color="#56B4E9", ls=(0, (4, 2)), lw=1.6, path_effects=outline)
    ridge_style = dict(color="white", lw=1.8, path_effects=outline)
    point_style = dict(ls="none", marker="X", color=ACCENT, ms=8, mec="black", mew=0.8)
    mesh = None
    for k, (ax, noise) in enumerate(zip(axes.flat, noises)):
        data = np.clip(np.where(np.isfinite(maps[k]), maps[k], vmax), 0.5, vmax)
        mesh = ax.pcolormesh(sw, sb, data, norm=norm, cmap="magma", shading="gouraud", rasterized=True)
        levels = [lv for lv in (1, 2, 5, 10, 20) if data.min() < lv < data.max()]
        if levels:
            cs = ax.contour(sw, sb, data, levels=levels, colors="w", linewidths=0.7, alpha=0.8)
            ax.clabel(cs, fmt="%g")
        if edge is not None:
            ax.plot(np.asarray(edge, dtype=float), sb, **edge_style)
        if ridges is not None and ridges[k] is not None:
            ridge = ridges[k]
            if not isinstance(ridge, DepthScaleRidge):
                raise InvalidParameterError("ridges must be DepthScaleRidge results (nsp_helpers.theory.maximise_depth_scale)")
            ax.plot(ridge.sigma_w2, ridge.sigma_b2, **ridge_style)
        if points is not None and points[k] is not None:
            pts = np.asarray(points[k], dtype=float).reshape(-1, 2)
            ax.plot(pts[:, 0], pts[:, 1], **point_style)
        ax.set(xlim=(sw.min(), sw.max()), ylim=(sb.min(), sb.max()))
        if k >= len(noises) - n_cols:  # axis names on the outer panels only (the tick labels stay on all)
            ax.set_xlabel(r"weight variance $\sigma_w^2$")
        if k % n_cols == 0:
            ax.set_ylabel(r"bias variance $\sigma_b^2$")
        ax.set_title(f"({'abcdefghijklmnop'[k]}) " + rf"$\mu_2 = {float(noise.mu2):.3g}$: {noise.label}")
    cb = fig.colorbar(mesh, ax=[a for a in axes.flat if a.get_visible()], pad=0.02, fraction=0.04, aspect=30)
    cb.set_label(r"depth scale $\xi_c$ (layers)")
    ticks = [t for t in (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500) if t <= vmax]
    cb.set_ticks(ticks, labels=[f"{t:g}" for t in ticks])
    cb.minorticks_off()
    handles, labels = [], []
    if edge is not None:
        handles.append(Line2D([], [], **edge_style))
        labels.append(r"noiseless edge of chaos $\chi_1 = 1$")
    if ridges is not None and any(r is not None for r in ridges):
        handles.append(Line2D([], [], **ridge_style))
        labels.append(r"ridge: largest $\xi_c$ over $\sigma_w^2$")
    if points is not None and any(p is not None for p in points):
        handles.append(Line2D([], [], **point_style))
        labels.append("checked by simulation")
    handles.append(Line2D([], [], color="w", lw=0.7, path_effects=[patheffects.withStroke(linewidth=2, foreground="0.4")]))
    labels.append("contours of $\\xi_c$ (layers)")
    legend_below(fig, handles=handles, labels=labels, ncols=2)
    return fig


@figure_function
def depth_scale_ridge_figure(ridges, noises, *, relu_reference: bool = True):
    r"""Along the noisy edge of chaos: the largest :math:`\xi_c` and where it sits, per bias variance.

    Introduced in the chapter *Beyond the paper: a noisy edge of chaos* (``book/edge_of_chaos.md``).

    Parameters
    ----------
    ridges : sequence of DepthScaleRidge
        :func:`nsp_helpers.theory.maximise_depth_scale`, one per noise level.
    noises : sequence of NoiseModel
        The noise levels.
    relu_reference : bool
        Also mark :math:`\xi_c` of the critically initialised ReLU network with the same :math:`\mu_2`.

    Returns
    -------
    BookFigure
        (a) :math:`\max_{\sigma_w^2}\xi_c` against :math:`\sigma_b^2` (log axes), with the
        linear-network value :math:`1/\ln\mu_2` (dashed) and critical ReLU (dotted);
        (b) the maximising :math:`\sigma_w^2` against :math:`\sigma_b^2`, with :math:`1/\mu_2` (dotted).

    Notes
    -----
    A noisy linear network has :math:`\xi_c = 1/\ln\mu_2` (:func:`nsp_helpers.theory.linear_network_depth_scale`).

    Examples
    --------
    >>> import numpy as np
    >>> from nsp_helpers.theory import DepthScaleRidge
    >>> from nsp_helpers.noise import MultiplicativeGaussian
    >>> r = DepthScaleRidge(np.array([0.01, 0.1]), np.array([0.8, 1.5]), np.array([4.0, 2.5]), np.array([0.1, 0.5]),
    ...                     np.array([False, False]))
    >>> len(depth_scale_ridge_figure([r], [MultiplicativeGaussian(0.5)]).axes)
    2
    """
    from ..theory import linear_network_depth_scale

    ridges = check_objects("ridges", ridges, DepthScaleRidge, "DepthScaleRidge results")
    noises = check_objects("noises", noises, NoiseModel, "NoiseModel objects")
    relu_reference = check_bool("relu_reference", relu_reference)
    if len(ridges) != len(noises):
        raise InvalidParameterError(f"ridges must be one DepthScaleRidge per noise level ({len(noises)}), got {len(ridges)}")
    fig, axes = new_figure(1, 2, height=2.9)
    ax_xi, ax_sw = axes[0]
    for k, (ridge, noise) in enumerate(zip(ridges, noises)):
        col = colour(k)
        label = rf"$\mu_2 = {float(noise.mu2):.3g}$ ({noise.label})"
        ax_xi.plot(ridge.sigma_b2, ridge.depth_scale, "o-", color=col, ms=3.5, lw=1.4, label=label)
        ax_xi.axhline(linear_network_depth_scale(noise), color=col, ls="--", lw=1.0)
        if relu_reference:
            ax_xi.axhline(theory.depth_scale(noise), color=col, ls=":", lw=1.2)
        ax_sw.plot(ridge.sigma_b2, ridge.sigma_w2, "o-", color=col, ms=3.5, lw=1.4, label=label)
        ax_sw.axhline(1.0 / float(noise.mu2), color=col, ls=":", lw=1.1)
    ax_xi.plot([], [], "k--", lw=1.0, label=r"linear network $1/\ln\mu_2$ (a)")
    if relu_reference:
        ax_xi.plot([], [], "k:", lw=1.2, label="critical ReLU (a)")
    ax_xi.set_xscale("log")
    ax_xi.set_yscale("log")
    ax_xi.set(xlabel=r"bias variance $\sigma_b^2$", ylabel=r"$\max_{\sigma_w^2} \xi_c$ (layers)")
    ax_xi.set_title("(a) the largest depth scale")
    ax_sw.set_xscale("log")
    ax_sw.set(xlabel=r"bias variance $\sigma_b^2$", ylabel=r"maximising $\sigma_w^2$")
    ax_sw.plot([], [], "k:", lw=1.1, label=r"$1/\mu_2$ (b)")
    ax_sw.set_title("(b) where it sits")
    legend_below(fig, ncols=2)
    return fig


@figure_function
def depth_scale_parity_figure(simulations, labels=None):
    r"""Fitted against theoretical depth scales, one point per simulated initialisation.

    Introduced in the chapter *Beyond the paper: a noisy edge of chaos* (``book/edge_of_chaos.md``).

    Parameters
    ----------
    simulations : sequence of DepthScaleSimulation
        Each may hold one or several noise levels / initialisations.
    labels : sequence of str, optional
        Legend entry per simulation.

    Returns
    -------
    BookFigure
        :math:`\xi_c` fitted in simulated networks (dots, :math:`\pm` 1 s.e.) and on the iterated
        mean-field map (crosses) against the theoretical :math:`\xi_c`, with the identity line.

    Notes
    -----
    Points on the identity line satisfy :math:`-1/\text{slope} = -1/\ln\chi(c^*)`.

    Examples
    --------
    >>> from nsp_helpers.simulate import simulate_depth_scale
    >>> from nsp_helpers.noise import Dropout
    >>> sim = simulate_depth_scale(Dropout(0.7), n_layers=4, n_pairs=3, n_networks=2, width=50, device="cpu")
    >>> len(depth_scale_parity_figure([sim], ["ReLU"]).axes)
    1
    """
    sims = _check_simulations(simulations)
    labels = [None] * len(sims) if labels is None else list(labels)
    if len(labels) != len(sims):
        raise InvalidParameterError(f"labels needs one entry per simulation ({len(sims)}), got {len(labels)}")
    fig, axes = new_figure(1, 1, width=4.2, height=3.4)
    ax = axes[0, 0]
    top = 0.0
    for k, (sim, label) in enumerate(zip(sims, labels)):
        col = colour(k)
        ax.errorbar(sim.depth_scale_theory, sim.depth_scale_fit, yerr=sim.depth_scale_fit_stderr, fmt="o", color=col,
                    ms=5, capsize=2, label=label)
        ax.plot(sim.depth_scale_theory, sim.depth_scale_theory_fit, "x", color=col, ms=7, mew=1.5)
        top = max(top, np.nanmax(sim.depth_scale_theory), np.nanmax(sim.depth_scale_fit))
    line = np.array([0.0, 1.15 * top])
    ax.plot(line, line, color="0.5", lw=1.0, ls=":", label="fit = theory")
    ax.plot([], [], "kx", mew=1.5, label="the same fit on the iterated map")
    ax.set(xlabel=r"theory $\xi_c = -1/\ln\chi(c^*)$", ylabel=r"fitted $-1/$slope", xlim=(0, line[1]),
           ylim=(0, line[1]), aspect="equal")
    legend_below(fig, ax, ncols=1)
    return fig
