r"""Figures about correlation propagation (chapter *Correlations*, ``book/correlations.md``).

Each function returns a :class:`~nsp_helpers.plots.style.BookFigure` in the book's style
(:mod:`nsp_helpers.plots.style`), uses the object-oriented matplotlib API and changes no global
plotting state. Theory curves come from :mod:`nsp_helpers.theory`; simulation results are passed in
(from :mod:`nsp_helpers.simulate`), so that a chapter can glue their numbers.
"""

from __future__ import annotations

import numpy as np

from .. import theory
from ..errors import InvalidParameterError, check_float, check_in_range, check_int, check_objects
from ..noise import Dropout, NoiseModel
from .style import colour, figure_function, legend_below, new_figure

__all__ = ["correlation_dynamics_figure", "correlation_figure"]


def _check_noises(noises) -> list:
    noises = check_objects("noises", noises, NoiseModel, "single-level NoiseModel objects")
    if not all(n.shape == () for n in noises):
        raise InvalidParameterError(f"noises must be a non-empty list of single-level NoiseModel objects, got {noises!r}")
    return noises


def _panel_label(ax, text: str) -> None:
    ax.set_title(text, loc="left")


@figure_function
def correlation_figure(noises, map_results, dynamics_results, *, mu2_max: float = 10.0, sigma_w2=None):
    r"""Pretorius et al.'s Fig. 4: correlation map, correlation dynamics and :math:`\chi(c^*)` against :math:`\mu_2`.

    Introduced in the chapter *Correlations* (``book/correlations.md``).

    Parameters
    ----------
    noises : sequence of NoiseModel
        The noise levels (one colour each).
    map_results : sequence of CorrelationMapResult
        One :func:`nsp_helpers.simulate.simulate_correlation_map` result per noise level (panel a).
    dynamics_results : sequence of CorrelationDynamicsResult
        One :func:`nsp_helpers.simulate.simulate_correlation_dynamics` result per noise level, with a
        1-D array of ``c0`` (panel b).
    mu2_max : float, > 1
        Right end of the :math:`\mu_2` axis of panel (c).
    sigma_w2 : sequence of float, optional
        Weight variance per noise level; default: critical (ReLU, :math:`2/\mu_2`).

    Returns
    -------
    BookFigure
        Three panels: (a) :math:`c^1` against :math:`c^0`, theory curves and simulated means
        (:math:`\pm` 1 s.d. error bars); (b) :math:`c^l` against :math:`l`, theory lines and simulated
        means with :math:`\pm` 1 s.d. bands; (c) :math:`\chi(c^*)` against :math:`\mu_2` with the
        ordered regime shaded and the noise levels of (a, b) marked.

    Notes
    -----
    At criticality (ReLU, :math:`\sigma_b = 0`) the slope at the fixed point is

    .. math::

        \chi(c^*) = \frac{1}{\mu_2}\Bigl(\frac{\arcsin c^*}{\pi} + \frac12\Bigr) ,

    which equals 1 only at :math:`\mu_2 = 1` (the edge of chaos) and is below 1 for any noise.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> from nsp_helpers.simulate import simulate_correlation_map, simulate_correlation_dynamics
    >>> noise = Dropout(keep_prob=0.6)
    >>> m = simulate_correlation_map([0.0, 0.5], 1.0, noise, 1.2, n_pairs=2, n_networks=2, width=50, device="cpu")
    >>> d = simulate_correlation_dynamics([0.0, 0.9], 3, 1.0, noise, 1.2, n_pairs=2, n_networks=2, width=50,
    ...                                   device="cpu")
    >>> len(correlation_figure([noise], [m], [d]).axes)
    3
    """
    noises = _check_noises(noises)
    map_results, dynamics_results = list(map_results), list(dynamics_results)
    if len(map_results) != len(noises) or len(dynamics_results) != len(noises):
        raise InvalidParameterError(
            f"map_results and dynamics_results need one result per noise level ({len(noises)}), "
            f"got {len(map_results)} and {len(dynamics_results)}"
        )
    mu2_max = check_float("mu2_max", mu2_max, 1.0, np.inf, low_open=True)
    if sigma_w2 is None:
        sigma_w2 = [theory.critical_weight_variance(n) for n in noises]
    sigma_w2 = list(np.atleast_1d(check_in_range("sigma_w2", sigma_w2, 0.0, np.inf, low_open=True, max_ndim=1)))
    if len(sigma_w2) != len(noises):
        raise InvalidParameterError(f"sigma_w2 needs one value per noise level ({len(noises)}), got {len(sigma_w2)}")
    colours = [colour(i) for i in range(len(noises))]
    fig, axes = new_figure(1, 3, height=2.9)
    ax_map, ax_dyn, ax_chi = axes[0]

    # (a) one-layer correlation map
    grid = np.linspace(-1.0, 1.0, 201)
    ax_map.plot(grid, grid, color="0.55", lw=1.0, ls=":")
    for noise, res, sw, col in zip(noises, map_results, sigma_w2, colours):
        q = float(res.q0)
        ax_map.plot(grid, theory.correlation_map(grid, noise, sw, 0.0, q=q), color=col, label=noise.label)
        ax_map.errorbar(res.c0, res.mean, yerr=res.std, fmt="o", ms=3, color=col, mfc="white", elinewidth=0.8)
    ax_map.set(xlabel=r"input correlation $c^0$", ylabel=r"output correlation $c^1$", xlim=(-1.02, 1.02),
               ylim=(-0.1, 1.05))
    _panel_label(ax_map, "(a) one-layer map")

    # (b) dynamics over depth
    for noise, res, sw, col in zip(noises, dynamics_results, sigma_w2, colours):
        c0 = np.atleast_1d(res.c0)
        mean = np.asarray(res.mean).reshape(c0.size, -1)
        std = np.asarray(res.std).reshape(c0.size, -1)
        layers = np.asarray(res.layers)
        curves = theory.iterate_correlation(c0, layers[-1], noise, sw, 0.0)
        for j in range(c0.size):
            ax_dyn.plot(layers, curves[:, j], color=col, lw=1.2)
            ax_dyn.fill_between(layers, mean[j] - std[j], mean[j] + std[j], color=col, alpha=0.18, lw=0)
            ax_dyn.plot(layers, mean[j], "o", ms=2.5, color=col, mfc="white", mew=0.8)
        c_star = theory.correlation_fixed_point(noise, sw, 0.0)
        ax_dyn.axhline(c_star, color=col, lw=0.9, ls="--")
    ax_dyn.set(xlabel=r"layer $l$", ylabel=r"correlation $c^l$", ylim=(-0.05, 1.05))
    _panel_label(ax_dyn, "(b) dynamics")

    # (c) slope at the fixed point against mu2
    mu2 = np.linspace(1.0, mu2_max, 400)
    family = Dropout(keep_prob=1.0 / mu2)  # at criticality chi(c*) depends on the noise only through mu2
    chi = theory.correlation_slope(theory.correlation_fixed_point(family), family)
    ax_chi.axhspan(0.0, 1.0, color=colour(0), alpha=0.07, lw=0)
    ax_chi.plot(mu2, chi, color="k", label=r"$\chi(c^*)$ at criticality")
    ax_chi.plot(mu2, 1.0 / mu2, color="0.45", lw=1.1, ls="--", label=r"$1/\mu_2 = \chi(1)$")
    ax_chi.axhline(1.0, color="k", lw=0.6, ls=":")
    ax_chi.plot([1.0], [1.0], "k*", ms=10, clip_on=False, label=r"edge of chaos, $\mu_2 = 1$")
    for noise, sw, col in zip(noises, sigma_w2, colours):
        c_star = theory.correlation_fixed_point(noise, sw, 0.0)
        ax_chi.plot(noise.mu2, theory.correlation_slope(c_star, noise, sw, 0.0), "o", color=col, ms=6, mec="k",
                    mew=0.5, zorder=3)
    ax_chi.text(0.97, 0.52, "ordered\n" + r"$\chi(c^*) < 1$", transform=ax_chi.transAxes, ha="right")
    ax_chi.set(xlabel=r"noise second moment $\mu_2$", ylabel=r"slope $\chi(c^*)$", xlim=(0.8, mu2_max),
               ylim=(0.0, 1.08))
    _panel_label(ax_chi, r"(c) slope at $c^*$")

    # one legend below the panels: what the marks mean, the noise levels, and panel (c)'s lines
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="0.3"), Line2D([], [], color="0.3", ls="none", marker="o", ms=4, mfc="white"),
               Line2D([], [], color="0.55", lw=1.0, ls=":"), Line2D([], [], color="0.3", lw=0.9, ls="--")]
    labels = ["theory", r"simulation (mean $\pm$ 1 s.d.)", "identity (a)", r"fixed point $c^*$ (b)"]
    handles += [Line2D([], [], color=col, marker="o", ms=5, mec="k", mew=0.5) for col in colours]
    labels += [noise.label for noise in noises]
    chi_handles, chi_labels = ax_chi.get_legend_handles_labels()
    legend_below(fig, handles=handles + chi_handles, labels=labels + [f"{lab} (c)" for lab in chi_labels], ncols=3)
    return fig


@figure_function
def correlation_dynamics_figure(keep_prob: float, c0: float, *, n_layers: int = 20):
    r"""Cobweb of the critical ReLU correlation map under dropout, and the resulting :math:`c^l` (theory).

    Introduced in the chapter *Correlations* (``book/correlations.md``), where a slider moves
    ``keep_prob`` and ``c0``.

    Parameters
    ----------
    keep_prob : float, in (0, 1]
        Dropout keep probability (critical :math:`\sigma_w^2 = 2p`, :math:`\sigma_b = 0`).
    c0 : float, in [-1, 1]
        Input correlation.
    n_layers : int, >= 1
        Depth shown.

    Returns
    -------
    BookFigure
        Two panels: (a) the map :math:`c \mapsto c'` with the staircase :math:`c^0 \to c^1 \to \dots`;
        (b) :math:`c^l` against :math:`l` with the fixed point :math:`c^*` and the envelope
        :math:`c^* + (c^0 - c^*)\chi(c^*)^l`.

    Notes
    -----
    The envelope is the linearisation :math:`c^l - c^* \approx (c^0 - c^*)\,e^{-l/\xi_c}`.

    Examples
    --------
    >>> len(correlation_dynamics_figure(0.8, 0.9, n_layers=5).axes)
    2
    """
    noise = Dropout(keep_prob=check_float("keep_prob", keep_prob, 0.0, 1.0, low_open=True))
    c0 = check_float("c0", c0, -1.0, 1.0)
    n_layers = check_int("n_layers", n_layers, 1, 100_000, allow_integral_float=True)
    fig, axes = new_figure(1, 2, height=3.0)
    ax_web, ax_dyn = axes[0]
    grid = np.linspace(-1.0, 1.0, 201)
    c_star = theory.correlation_fixed_point(noise)
    chi = theory.correlation_slope(c_star, noise)
    path = theory.iterate_correlation(c0, n_layers, noise)
    ax_web.plot(grid, grid, color="0.55", lw=1.0, ls=":", label="identity")
    ax_web.plot(grid, theory.correlation_map(grid, noise, q=1.0), color=colour(0),
                label=r"map $c' = \mathcal{C}(c)$")
    xs = np.repeat(path, 2)[:-1]
    ys = np.concatenate([[path[0]], np.repeat(path[1:], 2)])
    ax_web.plot(xs, ys, color=colour(1), lw=1.0, label="iterates")
    ax_web.plot([c_star], [c_star], "ko", ms=5, label=r"fixed point $c^*$")
    ax_web.set(xlabel=r"$c$", ylabel=r"$c'$", xlim=(-1, 1), ylim=(-1, 1), aspect="equal")
    _panel_label(ax_web, f"(a) cobweb, keep p = {float(noise.keep_prob):g}")
    layers = np.arange(n_layers + 1)
    ax_dyn.plot(layers, path, "o-", color=colour(1), ms=3, lw=1.0, label=r"$c^l$ (theory)")
    ax_dyn.plot(layers, c_star + (c0 - c_star) * chi**layers, color="0.35", lw=1.1, ls="--",
                label=r"$c^* + (c^0 - c^*)\,\chi(c^*)^l$")
    ax_dyn.axhline(c_star, color="k", lw=0.6, ls=":")
    xi = theory.depth_scale(noise)
    ax_dyn.set(xlabel=r"layer $l$", ylabel=r"$c^l$", ylim=(-1.02, 1.02))
    if np.isfinite(xi):
        _panel_label(ax_dyn, rf"(b) $c^* = {c_star:.3f}$, $\chi(c^*) = {chi:.3f}$, $\xi_c = {xi:.2f}$")
    else:
        _panel_label(ax_dyn, r"(b) no noise: $c^* = 1$, $\chi(1) = 1$, $\xi_c = \infty$")
    legend_below(fig, ncols=3)
    return fig
