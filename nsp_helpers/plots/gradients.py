r"""Figures about backpropagation through noisy networks (chapter *Backpropagation through noisy
networks*, ``book/gradients.md``).

Each function returns a :class:`~nsp_helpers.plots.style.BookFigure` in the book's style
(:mod:`nsp_helpers.plots.style`), uses the object-oriented matplotlib API and changes no global
plotting state. Simulations come from :mod:`nsp_helpers.simulate.gradients` and are passed
in; theory lines come from :func:`nsp_helpers.theory.gradient_slopes` (also passed in), so a
chapter can glue the numbers it shows.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidParameterError, as_float_array, check_float, check_in_range
from ..theory import GradientSlopes, LinearClosedForms
from .style import colour, figure_function, legend_below, new_figure

__all__ = [
    "gradient_depth_figure",
    "gradient_decay_rate_figure",
    "pair_correlation_figure",
    "universality_figure",
    "linear_network_figure",
    "signal_propagation_figure",
]

_LABELS = {
    "g_aa": r"$g_{aa}$ (one input)",
    "g_ab": r"rms $g_{ab}$ (pairs)",
    "abs_ab": r"mean $|\partial_W\mathcal{L}_a\,\partial_W\mathcal{L}_b|$",
}
_MARKERS = {"g_aa": "o", "g_ab": "s", "abs_ab": "^"}


def _figure(n_panels: int, *, width: float = 5.0, height: float = 3.0):
    fig, axes = new_figure(1, n_panels, width=width, height=height)
    return fig, axes[0]


def _check_stats(stats):
    from ..simulate.gradients import GradientStatistics  # a simulation result: torch is loaded already

    if not isinstance(stats, GradientStatistics):
        raise InvalidParameterError(
            f"stats must be a GradientStatistics (nsp_helpers.simulate.gradient_statistics), got {type(stats).__name__}"
        )
    return stats


def _check_slopes(slopes) -> GradientSlopes:
    if not isinstance(slopes, GradientSlopes):
        raise InvalidParameterError(
            f"slopes must be a GradientSlopes (nsp_helpers.theory.gradient_slopes), got {type(slopes).__name__}"
        )
    return slopes


def _ylim(ylim) -> tuple:
    """(low, high) limits of a log axis, 0 < low < high."""
    limits = check_in_range("ylim", ylim, 0.0, np.inf, low_open=True)
    if limits.shape != (2,) or not limits[0] < limits[1]:
        raise InvalidParameterError(f"ylim must be (low, high) with 0 < low < high, got {ylim!r}")
    return float(limits[0]), float(limits[1])


@figure_function
def gradient_depth_figure(stats, slopes, *, title: str | None = None, ylim=None):
    r"""The three gradient statistics against the layer, with the mean-field decay lines.

    Introduced in the chapter *Backpropagation through noisy networks* (``book/gradients.md``); the
    chapter's slider moves the keep probability.

    Parameters
    ----------
    stats : GradientStatistics
        One simulation (:func:`nsp_helpers.simulate.gradient_statistics`).
    slopes : GradientSlopes
        Its mean-field factors (:func:`nsp_helpers.theory.gradient_slopes`).
    title : str, optional
    ylim : (float, float), optional
        Fixed y-limits (useful for the frames of a slider).

    Returns
    -------
    BookFigure
        Simulated statistics (markers) on a log axis against the layer :math:`l`, and the lines
        :math:`g^L \chi_1^{L-l}` (solid) and :math:`g^L_{ab}\chi(c^*)^{L-l}` (dashed), both drawn
        from the output layer.

    Examples
    --------
    >>> from nsp_helpers.simulate import gradient_statistics
    >>> from nsp_helpers.theory import gradient_slopes
    >>> from nsp_helpers.noise import Dropout
    >>> noise = Dropout(keep_prob=0.9)
    >>> stats = gradient_statistics(noise, 1.4, 0.1, "tanh", n_layers=5, width=30, device="cpu")
    >>> len(gradient_depth_figure(stats, gradient_slopes(noise, 1.4, 0.1, "tanh")).axes)
    1
    """
    stats, slopes = _check_stats(stats), _check_slopes(slopes)
    fig, (ax,) = _figure(1, width=7.0, height=3.0)
    layers = stats.layers
    n_back = stats.n_layers - layers
    every = max(1, stats.n_layers // 50)
    for i, name in enumerate(("g_aa", "g_ab", "abs_ab")):
        values = stats.magnitude(name)
        ax.plot(layers[::every], values[::every], _MARKERS[name], ms=4, color=colour(i), alpha=0.85,
                label=_LABELS[name] + " (simulation)")
    top = stats.magnitude("g_aa")[-1]
    ax.plot(layers, top * slopes.chi_single**n_back, "-", color="k", lw=1.2,
            label=rf"$\chi_1^{{L-l}}$, $\chi_1 = {slopes.chi_single:.3f}$")
    top_ab = stats.magnitude("g_ab")[-1]
    with np.errstate(under="ignore"):
        pair_line = top_ab * slopes.chi_pair**n_back
    ax.plot(layers, np.where(pair_line > 1e-300, pair_line, np.nan), "--", color=colour(1), lw=1.2,
            label=rf"$\chi(c^*)^{{L-l}}$ (GIA pairs), $\chi(c^*) = {slopes.chi_pair:.3f}$")
    ax.set_yscale("log")
    finite = np.concatenate([stats.magnitude(n) for n in ("g_aa", "g_ab", "abs_ab")])
    finite = finite[np.isfinite(finite) & (finite > 0)]
    if ylim is None and finite.size:
        ylim = (finite.min() / 10, finite.max() * 10)
    if ylim is not None:
        ax.set_ylim(*_ylim(ylim))
    ax.set(xlabel=r"layer $l$ (output at $l = L$)", ylabel="gradient statistic", xlim=(0, stats.n_layers + 1))
    ax.set_title(title or f"{stats.noise.label}, {stats.activation}, width {stats.width}")
    legend_below(fig, ax, ncols=2)
    return fig


@figure_function
def gradient_decay_rate_figure(keep_probs, fitted: dict, chi_single, chi_pair, *, keep_grid=None,
                               chi_single_grid=None, chi_pair_grid=None):
    r"""Fitted decay rates per layer of the gradient statistics against :math:`-\ln\chi_1` and :math:`-\ln\chi(c^*)`.

    Introduced in the chapter *Backpropagation through noisy networks* (``book/gradients.md``).

    Parameters
    ----------
    keep_probs : 1-D array_like
        The simulated keep probabilities.
    fitted : dict
        Statistic name (``"g_aa"``, ``"g_ab"``, ``"abs_ab"``) -> fitted slopes of :math:`\ln g` per
        layer, one per keep probability.
    chi_single, chi_pair : 1-D array_like
        Mean-field factors at ``keep_probs`` (markers).
    keep_grid, chi_single_grid, chi_pair_grid : 1-D array_like, optional
        A finer grid for the theory lines.

    Returns
    -------
    BookFigure

    Examples
    --------
    >>> fig = gradient_decay_rate_figure([0.8, 0.9], {"g_aa": [0.2, 0.1]}, [0.8, 0.9], [0.5, 0.7])
    >>> len(fig.axes)
    1
    """
    keep = check_in_range("keep_probs", keep_probs, 0.0, 1.0, low_open=True)
    chi1 = check_in_range("chi_single", chi_single, 0.0, np.inf, low_open=True)
    chi2 = check_in_range("chi_pair", chi_pair, 0.0, np.inf, low_open=True)
    if not (keep.ndim == 1 and keep.shape == chi1.shape == chi2.shape):
        raise InvalidParameterError("keep_probs, chi_single and chi_pair must be 1-D arrays of one length")
    unknown = set(fitted) - set(_LABELS)
    if unknown:
        raise InvalidParameterError(f"fitted must map statistic names {sorted(_LABELS)} to slopes, got {sorted(unknown)}")
    fig, (ax,) = _figure(1, width=5.0, height=3.0)
    if keep_grid is not None:
        keep_grid = check_in_range("keep_grid", keep_grid, 0.0, 1.0, low_open=True)
        chi_single_grid = check_in_range("chi_single_grid", chi_single_grid, 0.0, np.inf, low_open=True)
        chi_pair_grid = check_in_range("chi_pair_grid", chi_pair_grid, 0.0, np.inf, low_open=True)
        ax.plot(keep_grid, -np.log(chi_single_grid), "-", color="k", lw=1.3, label=r"$-\ln\chi_1$ (theory)")
        ax.plot(keep_grid, -np.log(chi_pair_grid), "--", color="0.4", lw=1.3, label=r"$-\ln\chi(c^*)$ (GIA pairs)")
    else:
        ax.plot(keep, -np.log(chi1), "-", color="k", lw=1.3, label=r"$-\ln\chi_1$ (theory)")
        ax.plot(keep, -np.log(chi2), "--", color="0.4", lw=1.3, label=r"$-\ln\chi(c^*)$ (GIA pairs)")
    offsets = np.linspace(-0.008, 0.008, max(1, len(fitted)))
    for (name, values), off in zip(fitted.items(), offsets):
        values = as_float_array(f"fitted[{name!r}]", values)
        if values.shape != keep.shape:
            raise InvalidParameterError(f"fitted[{name!r}] must have one slope per keep probability")
        i = list(_LABELS).index(name)
        ax.plot(keep + off, values, _MARKERS[name], ms=6, color=colour(i), label=_LABELS[name] + ", fitted")
    ax.axhline(0.0, color="0.6", lw=0.7)
    ax.set(xlabel=r"keep probability $\rho$", ylabel=r"decay rate of $\ln g$ per layer")
    legend_below(fig, ax, ncols=2)
    return fig


@figure_function
def pair_correlation_figure(panels: dict):
    r"""Cosine similarity of two inputs' backward signals against the number of layers back from the output.

    Introduced in the chapter *Backpropagation through noisy networks* (``book/gradients.md``).

    Parameters
    ----------
    panels : dict
        Panel title -> ``(runs, slopes)``, where ``runs`` maps a curve label (e.g. ``"tied"``,
        ``"independent (GIA)"``) to a :class:`~nsp_helpers.simulate.GradientStatistics` and
        ``slopes`` is the :class:`~nsp_helpers.theory.GradientSlopes` of that setting.

    Returns
    -------
    BookFigure
        One panel per entry: the mean :math:`r` over networks and pairs with a band of two standard
        errors (simulation), the GIA prediction :math:`r_0\,(\chi(c^*)/\chi_1)^n` (line) and the
        finite-width scale :math:`\pm 1/\sqrt{N}` (grey band).

    Examples
    --------
    >>> from nsp_helpers.simulate import gradient_statistics
    >>> from nsp_helpers.theory import gradient_slopes
    >>> from nsp_helpers.noise import Dropout
    >>> noise = Dropout(keep_prob=0.9)
    >>> run = gradient_statistics(noise, 1.4, 0.1, "tanh", n_layers=5, width=30, n_networks=2, device="cpu")
    >>> fig = pair_correlation_figure({"tanh": ({"tied": run}, gradient_slopes(noise, 1.4, 0.1, "tanh"))})
    >>> len(fig.axes)
    1
    """
    if not isinstance(panels, dict) or not panels:
        raise InvalidParameterError("panels must be a non-empty dict: title -> (runs, slopes)")
    fig, axes = _figure(len(panels), width=7.0 if len(panels) > 1 else 5.0, height=2.9)
    for ax, (title, (runs, slopes)) in zip(axes, panels.items()):
        slopes = _check_slopes(slopes)
        n_max = 0
        width = None
        r0 = None
        for i, (label, stats) in enumerate(runs.items()):
            stats = _check_stats(stats)
            r = stats.pair_correlation()[::-1]  # index n = layers back from the output
            flat = r.reshape(stats.n_layers, -1)
            mean = flat.mean(axis=1)
            se = flat.std(axis=1, ddof=1) / np.sqrt(flat.shape[1]) if flat.shape[1] > 1 else np.zeros_like(mean)
            n = np.arange(stats.n_layers)
            ax.fill_between(n, mean - 2 * se, mean + 2 * se, color=colour(i), alpha=0.2, lw=0)
            ax.plot(n, mean, "o-", ms=3, lw=1.0, color=colour(i), label=label)
            n_max = max(n_max, stats.n_layers - 1)
            width = stats.width
            r0 = mean[0] if r0 is None else r0
        n = np.arange(n_max + 1)
        ax.plot(n, r0 * (slopes.chi_pair / slopes.chi_single) ** n, "k--", lw=1.2,
                label=r"GIA: $r_0(\chi(c^*)/\chi_1)^n$")
        ax.axhspan(-1 / np.sqrt(width), 1 / np.sqrt(width), color="0.85", zorder=0, label=r"$\pm 1/\sqrt{N}$")
        ax.axhline(0, color="0.5", lw=0.6)
        ax.set(xlabel=r"layers back from the output $n = L - l$", ylabel=r"$r^l$ = cos($\delta_a^l$, $\delta_b^l$)",
               xlim=(0, n_max), ylim=(-0.25, 1))
        ax.set_title(title)
    legend_below(fig, ncols=2)
    return fig


@figure_function
def universality_figure(fits: dict, *, statistic_label: str = r"$g_{aa}$"):
    r"""Variance against mean of a gradient statistic over initialisations, on log-log axes.

    Introduced in the chapter *Backpropagation through noisy networks* (``book/gradients.md``).

    Parameters
    ----------
    fits : dict
        Label -> :class:`~nsp_helpers.simulate.gradients.UniversalityFit` (one point per layer).
    statistic_label : str

    Returns
    -------
    BookFigure
        The points, each set's fitted power law and a reference line :math:`V \propto m^2`.

    Examples
    --------
    >>> import numpy as np
    >>> from nsp_helpers.simulate.gradients import UniversalityFit
    >>> m = np.array([1.0, 0.1, 0.01])
    >>> len(universality_figure({"a": UniversalityFit(m, 0.1 * m**2, 2.0, 0.1)}).axes)
    1
    """
    from ..simulate.gradients import UniversalityFit  # a simulation result: torch is loaded already

    if not isinstance(fits, dict) or not fits or not all(isinstance(f, UniversalityFit) for f in fits.values()):
        raise InvalidParameterError("fits must be a non-empty dict of label -> UniversalityFit")
    fig, (ax,) = _figure(1, width=5.0, height=3.0)
    all_m = []
    for i, (label, fit) in enumerate(fits.items()):
        ok = (fit.mean > 0) & (fit.variance > 0)
        ax.plot(fit.mean[ok], fit.variance[ok], "os^vD"[i % 5], ms=3.5, color=colour(i), alpha=0.75,
                label=f"{label}: $V \\propto m^{{{fit.exponent:.2f}}}$")
        all_m.append(fit.mean[ok])
    m = np.concatenate(all_m)
    grid = np.geomspace(m.min(), m.max(), 50)
    ref = np.median(np.concatenate([f.variance[(f.mean > 0) & (f.variance > 0)] / f.mean[(f.mean > 0) & (f.variance > 0)] ** 2
                                    for f in fits.values()]))
    ax.plot(grid, ref * grid**2, "k--", lw=1.2, label=r"$V \propto m^2$")
    ax.set(xscale="log", yscale="log", xlabel=f"mean of {statistic_label} over initialisations",
           ylabel=f"variance of {statistic_label}")
    legend_below(fig, ax, ncols=2)
    return fig


@figure_function
def linear_network_figure(stats, closed, *, gia=None):
    r"""A noisy linear network against Huang et al.'s closed forms.

    Introduced in the chapter *Backpropagation through noisy networks* (``book/gradients.md``).

    Parameters
    ----------
    stats : GradientStatistics
        A linear network (tied weights).
    closed : LinearClosedForms
        :func:`nsp_helpers.theory.linear_network_closed_forms` of its settings.
    gia : GradientStatistics, optional
        The same networks with independent backward weights.

    Returns
    -------
    BookFigure
        (a) :math:`q^l_{aa}` and :math:`q^l_{ab}` against the layer with :math:`q^*`, :math:`q^*_{ab}`;
        (b) :math:`g^l_{aa}` with the line :math:`g^L_{aa}\chi_1^{L-l}`, :math:`\chi_1 = \sigma_w^2/\rho`.

    Examples
    --------
    >>> from nsp_helpers.simulate import gradient_statistics
    >>> from nsp_helpers.theory import linear_network_closed_forms
    >>> from nsp_helpers.noise import Dropout
    >>> noise = Dropout(keep_prob=0.9)
    >>> stats = gradient_statistics(noise, 0.8, 0.1, "linear", n_layers=5, width=30, device="cpu")
    >>> len(linear_network_figure(stats, linear_network_closed_forms(noise, 0.8, 0.1)).axes)
    2
    """
    stats = _check_stats(stats)
    if not isinstance(closed, LinearClosedForms):
        raise InvalidParameterError("closed must be a LinearClosedForms (nsp_helpers.theory.linear_network_closed_forms)")
    fig, (ax_q, ax_g) = _figure(2, width=7.0, height=2.9)
    layers = stats.layers
    ax_q.plot(layers, stats.q_aa.reshape(stats.n_layers, -1).mean(1), "o", ms=3.5, color=colour(0),
              label=r"$q^l_{aa}$ (simulation)")
    ax_q.plot(layers, stats.q_ab.reshape(stats.n_layers, -1).mean(1), "s", ms=3.5, color=colour(1),
              label=r"$q^l_{ab}$ (simulation)")
    ax_q.axhline(closed.q_star, color=colour(0), lw=1.2, label=rf"$q^* = \sigma_b^2/(1-\sigma_w^2/\rho) = {closed.q_star:.3f}$")
    ax_q.axhline(closed.q_ab_star, color=colour(1), lw=1.2, ls="--",
                 label=rf"$q^*_{{ab}} = \sigma_b^2/(1-\sigma_w^2) = {closed.q_ab_star:.3f}$")
    ax_q.set(xlabel=r"layer $l$", ylabel="forward second moments", ylim=(0, 1.6 * closed.q_star))
    ax_q.set_title("(a) forward fixed points")
    g = stats.mean("g_aa")
    ax_g.plot(layers, g, "o", ms=3.5, color=colour(0), label=r"$g_{aa}$, tied weights")
    if gia is not None:
        ax_g.plot(layers, _check_stats(gia).mean("g_aa"), "x", ms=4, mew=1.2, color=colour(2),
                  label=r"$g_{aa}$, independent (GIA)")
    n_back = stats.n_layers - layers
    ax_g.plot(layers, g[-1] * closed.chi_single**n_back, "k-", lw=1.2,
              label=rf"$(\sigma_w^2/\rho)^{{L-l}}$, $\sigma_w^2/\rho = {closed.chi_single:.3f}$")
    ax_g.set(yscale="log", xlabel=r"layer $l$", ylabel=r"$g^l_{aa}$")
    ax_g.set_title("(b) single-input gradients")
    legend_below(fig, groups=[("(a)", *ax_q.get_legend_handles_labels()), ("(b)", *ax_g.get_legend_handles_labels())])
    return fig


@figure_function
def signal_propagation_figure(second_moments: dict, growth: dict):
    r"""Pre-activation second moments :math:`q^l` through a torch model for several initialisations.

    Introduced in the chapter *Backpropagation through noisy networks* (``book/gradients.md``),
    section "Using it in your own model".

    Parameters
    ----------
    second_moments : dict
        Label -> array of shape ``(n_seeds, n_layers)`` (from
        :func:`nsp_helpers.simulate.preactivation_second_moments`, one row per seed).
    growth : dict
        Label -> the mean-field growth factor per layer (:math:`\sigma_w^2\mu_2/2` for ReLU); drawn
        as :math:`q^1 \cdot \text{growth}^{l-1}`.

    Returns
    -------
    BookFigure

    Examples
    --------
    >>> import numpy as np
    >>> fig = signal_propagation_figure({"a": np.ones((2, 5))}, {"a": 1.0})
    >>> len(fig.axes)
    1
    """
    if not isinstance(second_moments, dict) or not second_moments or not isinstance(growth, dict) or (
            set(growth) != set(second_moments)):
        raise InvalidParameterError("second_moments and growth must be dicts with the same labels")
    second_moments = {k: check_in_range(f"second_moments[{k!r}]", v, 0.0, np.inf, low_open=True) for k, v in second_moments.items()}
    if any(np.size(v) == 0 or np.ndim(v) > 2 for v in second_moments.values()):
        raise InvalidParameterError("second_moments must map each label to a non-empty (seeds, layers) array")
    growth = {k: check_float(f"growth[{k!r}]", v, 0.0, np.inf, low_open=True) for k, v in growth.items()}
    fig, (ax,) = _figure(1, width=5.0, height=3.0)
    for i, (label, q) in enumerate(second_moments.items()):
        q = np.atleast_2d(q)
        layers = np.arange(1, q.shape[1] + 1)
        for k, row in enumerate(q):
            ax.plot(layers, row, "o", ms=3, color=colour(i), alpha=0.6, label=f"{label} (seeds)" if k == 0 else None)
        start = float(np.exp(np.log(q[:, 0]).mean()))
        ax.plot(layers, start * float(growth[label]) ** (layers - 1), "-", color=colour(i), lw=1.3,
                label=f"{label}: theory, $\\times{float(growth[label]):.3g}$ per layer")
    ax.set(yscale="log", xlabel=r"layer $l$", ylabel=r"$q^l$ (mean square)")
    legend_below(fig, ax, ncols=2)
    return fig
