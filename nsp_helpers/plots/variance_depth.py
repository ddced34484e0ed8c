r"""Figures of the variance-depth experiment on real data (Pretorius et al. 2018, Fig. 6a/6d).

Used by the chapter *Variance depth on real data* (``book/variance_depth.md``). The data come from
:func:`nsp_helpers.variance_depth.run_variance_depth` (or :func:`~nsp_helpers.variance_depth.load_result`);
the theory from :func:`nsp_helpers.theory.failure_depth`. Each function returns a
:class:`~nsp_helpers.plots.style.BookFigure` in the book's style (:mod:`nsp_helpers.plots.style`), uses
the object-oriented matplotlib API and changes no global plotting state.
"""

from __future__ import annotations

import numpy as np

from .. import theory
from ..errors import InvalidParameterError, check_float
from ..variance_depth import VarianceDepthResult
from .style import LN_FLOAT32_MAX as _LN_MAX
from .style import LN_FLOAT32_TINY as _LN_TINY
from .style import _cell_edges, colour, figure_function, legend_below, new_figure, number

__all__ = ["variance_depth_figure", "variance_depth_layer_figure"]

_LIMIT_COLOUR = colour(1)  # the float32 limits


def _results(results) -> list[VarianceDepthResult]:
    if isinstance(results, VarianceDepthResult):
        results = [results]
    if not isinstance(results, (list, tuple)) or not results or not all(isinstance(r, VarianceDepthResult) for r in results):
        raise InvalidParameterError("results must be a VarianceDepthResult or a non-empty sequence of them")
    return results


def _heatmap(ax, fig, r: VarianceDepthResult, title: str):
    from matplotlib.colors import ListedColormap, TwoSlopeNorm

    order = np.argsort(r.sigma_w2)
    sw = r.sigma_w2[order]
    log_q = r.log_q[order]
    with np.errstate(invalid="ignore"):
        inside = np.isfinite(log_q) & (log_q <= _LN_MAX) & (log_q >= _LN_TINY)
        outside = ~inside & (r.layers[None, :] <= r.n_layers[order][:, None])
    x_edges = _cell_edges(sw, single=0.05)
    y_edges = np.arange(r.q.shape[1] + 1) - 0.5
    norm = TwoSlopeNorm(vmin=_LN_TINY, vcenter=0.0, vmax=_LN_MAX)
    mesh = ax.pcolormesh(x_edges, y_edges, np.ma.masked_where(~inside, log_q).T, cmap="coolwarm", norm=norm,
                         rasterized=True)
    ax.pcolormesh(x_edges, y_edges, np.ma.masked_where(~outside, np.ones_like(log_q)).T,
                  cmap=ListedColormap(["0.35"]), rasterized=True)
    fig.colorbar(mesh, ax=ax, label=r"measured $\ln q^l$", shrink=0.9)

    critical = float(theory.critical_weight_variance(r.noise))
    fine = np.linspace(max(x_edges[0], 0.01 * sw[0]), x_edges[-1], 600)
    fine = fine[~np.isclose(fine, critical, rtol=1e-3)]
    top = r.q.shape[1] - 1
    for q0, style, label in (
        (r.q0_data, "-", rf"$L^*$, data's $q^0 = 2q_{{\rm in}}$ = {r.q0_data:.3g}"),
        (1.0, "--", r"$L^*$, paper's $q^0 = 1$"),
    ):
        depth = np.asarray(theory.failure_depth(r.noise, fine, q0=q0), dtype=float)
        for k, side in enumerate((fine < critical, fine > critical)):  # two branches, not joined at criticality
            ax.plot(fine[side], np.where(depth[side] <= 1.2 * top, depth[side], np.nan), "k", ls=style, lw=1.4,
                    label=label if k == 0 else None)
    ax.plot(r.sigma_w2, r.failure_layer, "o", ms=4.5, mfc="white", mec="k", mew=0.9, label="measured failure layer")
    ax.axvline(critical, color="0.3", ls=":", lw=1, label=r"critical $\sigma_w^2$")
    ax.plot([], [], "s", color="0.35", ms=7, label="outside the float32 range")
    ax.set_xlim(x_edges[0], x_edges[-1])
    ax.set_ylim(0, top + 0.5)
    ax.set_xlabel(r"weight variance $\sigma_w^2$")
    ax.set_ylabel("layer $l$")
    ax.set_title(title)


def _curves(ax, r: VarianceDepthResult, title: str):
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    cmap = colormaps["viridis"]
    norm = Normalize(vmin=float(r.sigma_w2.min()), vmax=float(r.sigma_w2.max()))
    measured = r.log_q
    predicted = r.theory_log_q()
    for s, sw in enumerate(r.sigma_w2):
        n = r.n_layers[s]
        layers = r.layers[: n + 1]
        ax.plot(layers, measured[s, : n + 1], color=cmap(norm(sw)), lw=1.2)
        ax.plot(layers, predicted[s, : n + 1], color="k", lw=0.7, ls=(0, (2, 2)), alpha=0.7)
    ax.plot([], [], color=cmap(0.5), lw=1.2, label="measured (colour: $\\sigma_w^2$)")
    ax.plot([], [], color="k", lw=0.7, ls=(0, (2, 2)), label=r"theory $\ln(2q_{\rm in}) + l\,\ln(\sigma_w^2\mu_2/2)$")
    _float32_limits(ax)
    ax.set_ylim(_LN_TINY - 60, _LN_MAX + 25)
    ax.set_xlim(0, r.q.shape[1] - 1)
    ax.set_xlabel("layer $l$")
    ax.set_ylabel(r"$\ln q^l$")
    ax.set_title(title)


def _float32_limits(ax):
    """The float32 range as two labelled horizontal lines."""
    for level, text in ((_LN_MAX, "float32 max"), (_LN_TINY, "smallest normal float32")):
        ax.axhline(level, color=_LIMIT_COLOUR, lw=1.1)
        ax.annotate(text, (0.99, level + 2), xycoords=("axes fraction", "data"), ha="right", va="bottom",
                    color=_LIMIT_COLOUR)


@figure_function
def variance_depth_figure(results, *, titles=None):
    r"""Measured :math:`\ln q^l` per layer against the float32 failure depth :math:`L^*` (Fig. 6a/6d).

    One row per result. Left: a map of the measured :math:`\ln q^l` over weight variance and layer
    (blue: shrinking, red: growing; grey where :math:`q^l` is outside the normal float32 range),
    with the theoretical :math:`L^*` for the data's :math:`q^0 = 2q_{\mathrm{in}}` (solid) and for the
    paper's :math:`q^0 = 1` (dashed), and the measured first layer outside the range (points). Right:
    the same :math:`\ln q^l` as one line per weight variance, with the mean-field straight lines
    :math:`\ln(2q_{\mathrm{in}}) + l\ln(\sigma_w^2\mu_2/2)` and the float32 limits.

    Introduced in the chapter *Variance depth on real data*.

    Parameters
    ----------
    results : VarianceDepthResult or sequence of VarianceDepthResult
        From :func:`nsp_helpers.variance_depth.run_variance_depth` or ``load_result``.
    titles : sequence of str, optional
        One title per result (default: the data set name, number of images and the noise).

    Returns
    -------
    BookFigure
        ``2 * len(results)`` panels (plus colour bars).

    Examples
    --------
    >>> import torch
    >>> from nsp_helpers.variance_depth import run_variance_depth
    >>> r = run_variance_depth(torch.rand(4, 10), sigma_w2=[0.4, 1.2, 2.4], width=30, max_layers=40, device="cpu")
    >>> fig = variance_depth_figure(r)
    >>> len(fig.axes)  # two panels and a colour bar
    3
    """
    results = _results(results)
    if titles is None:
        titles = [f"{r.dataset}, {r.n_images} images, {r.noise.label}" for r in results]
    titles = list(titles)
    if len(titles) != len(results):
        raise InvalidParameterError(f"titles must have one entry per result ({len(results)}), got {len(titles)}")
    fig, axes = new_figure(len(results), 2, height=3.1 * len(results), width_ratios=[1.2, 1])
    for row, (r, title) in enumerate(zip(results, titles)):
        letters = "abcdefghijklmnopqrstuvwxyz"[2 * row : 2 * row + 2]
        _heatmap(axes[row, 0], fig, r, f"({letters[0]}) {title}")
        _curves(axes[row, 1], r, f"({letters[1]}) $\\ln q^l$ per layer")
    left = ", ".join(f"({'abcdefghijklmnopqrstuvwxyz'[2 * row]})" for row in range(len(results)))
    right = ", ".join(f"({'abcdefghijklmnopqrstuvwxyz'[2 * row + 1]})" for row in range(len(results)))
    legend_below(fig, groups=[(left, *axes[0, 0].get_legend_handles_labels()),
                              (right, *axes[0, 1].get_legend_handles_labels())])
    return fig


@figure_function
def variance_depth_layer_figure(result, sigma_w2: float):
    r"""Measured :math:`\ln q^l` against layer for one weight variance, with the theory line and :math:`L^*`.

    One weight variance of a finished experiment, nothing is rerun: the measured :math:`\ln q^l`
    (solid), the mean-field line :math:`\ln(2q_{\mathrm{in}}) + l\ln(\sigma_w^2\mu_2/2)` (dashed), the
    float32 limits (red), the failure depth :math:`L^*` for the data's :math:`q^0 = 2q_{\mathrm{in}}`
    (vertical line, when it lies within the layers shown) and the measured first layer outside the
    float32 range (open circle). The axes are the same for every weight variance of ``result``.

    Introduced in the chapter *Variance depth on real data* (``book/variance_depth.md``), where a slider
    moves ``sigma_w2`` over the simulated weight variances.

    Parameters
    ----------
    result : VarianceDepthResult
        From :func:`nsp_helpers.variance_depth.run_variance_depth` or ``load_result``.
    sigma_w2 : float
        One of ``result.sigma_w2`` (matched to a relative tolerance of :math:`10^{-6}`).

    Returns
    -------
    BookFigure
        One panel.

    Notes
    -----
    The failure depth is :func:`nsp_helpers.theory.failure_depth`,

    .. math::

        L^* = \frac{\ln(K/q^0)}{\ln(\sigma_w^2\mu_2/2)} .

    Examples
    --------
    >>> import torch
    >>> from nsp_helpers.variance_depth import run_variance_depth
    >>> r = run_variance_depth(torch.rand(4, 10), sigma_w2=[0.4, 2.4], width=30, max_layers=40, device="cpu")
    >>> fig = variance_depth_layer_figure(r, 0.4)
    >>> [float(v) for v in fig.axes[0].get_xlim()]
    [0.0, 40.0]
    """
    r = _results(result)
    if len(r) != 1:
        raise InvalidParameterError("result must be a single VarianceDepthResult")
    r = r[0]
    matches = np.flatnonzero(np.isclose(r.sigma_w2, check_float("sigma_w2", sigma_w2, 0.0, low_open=True), rtol=1e-6, atol=0.0))
    if matches.size == 0:
        raise InvalidParameterError(
            f"sigma_w2 must be one of the simulated values {r.sigma_w2.tolist()}, got {sigma_w2!r}"
        )
    s = int(matches[0])
    fig, axes = new_figure(1, 1, width=5.6, height=3.0)
    ax = axes[0, 0]
    top = r.q.shape[1] - 1
    n = int(r.n_layers[s])
    layers = r.layers[: n + 1]
    with np.errstate(invalid="ignore"):
        measured = np.where(np.isfinite(r.log_q[s, : n + 1]), r.log_q[s, : n + 1], np.nan)
    ax.plot(layers, r.theory_log_q()[s, : n + 1], color="k", lw=1.0, ls="--",
            label=r"theory $\ln(2q_{\rm in}) + l\,\ln(\sigma_w^2\mu_2/2)$")
    ax.plot(layers, measured, color=colour(0), lw=1.8, label="measured")
    _float32_limits(ax)
    l_star = float(r.theory_failure_depth()[s])
    # the same legend entries in every frame of a slider (the page must not jump): absent ones are drawn empty
    if np.isfinite(l_star) and l_star <= top:
        ax.axvline(l_star, color="0.3", lw=1.2, label="failure depth $L^*$ (theory)")
        star_text = number(l_star, ".1f")
    else:
        ax.plot([], [], color="0.3", lw=1.2, label="failure depth $L^*$ (theory)")
        star_text = "∞" if not np.isfinite(l_star) else f"{l_star:.0f} (beyond the plot)"
    failed = float(r.failure_layer[s])
    marker = dict(ls="none", marker="o", ms=7, mfc="white", mec="k", mew=1.0, label="measured failure layer")
    if np.isfinite(failed):
        level = _LN_MAX if r.failure_kind[s] == "overflow" else _LN_TINY
        ax.plot([failed], [level], **marker)
    else:
        ax.plot([], [], **marker)
    factor = r.config.get("depth_factor")
    not_run = f"not run (beyond {factor:g} $L^*$)" if factor is not None else "not run"
    if n < top:
        ax.axvspan(n, top, color="0.9", lw=0, label=not_run)
    else:
        ax.axvspan(top, top, color="0.9", lw=0, label=not_run)  # empty: only its legend entry
    a = float(r.sigma_w2[s]) * float(r.noise.mu2) / 2
    ax.set_xlim(0, top)
    ax.set_ylim(_LN_TINY - 60, _LN_MAX + 25)
    ax.set_xlabel("layer $l$")
    ax.set_ylabel(r"$\ln q^l$")
    ax.set_title(rf"$\sigma_w^2$ = {r.sigma_w2[s]:g}: $a = \sigma_w^2\mu_2/2$ = {a:.3f}, $L^*$ = {star_text}")
    legend_below(fig, ax, ncols=2)
    return fig
