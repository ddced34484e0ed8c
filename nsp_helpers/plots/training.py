r"""Figures of the trainable-depth experiment (chapter *Trainable depth on real data*, ``book/trainable_depth.md``).

They read the results files of :mod:`nsp_helpers.train` (through :func:`nsp_helpers.train.results_grid`)
and overlay the theory's trainable depth :math:`k\,\xi_c` (:func:`nsp_helpers.theory.depth_scale`, with
:math:`k = 6` as in Pretorius et al. 2018). Each function returns a
:class:`~nsp_helpers.plots.style.BookFigure` in the book's style (:mod:`nsp_helpers.plots.style`), uses
the object-oriented API and changes no global plotting state.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidParameterError, check_float, check_in_range
from ..noise import Dropout
from ..theory import depth_scale
from .style import _cell_edges, figure_function, legend_below, new_figure

__all__ = ["depth_multiple_figure", "trainable_depth_heatmap_figure", "training_curves_figure"]

#: Axis and colour-bar labels of the recorded metrics.
METRIC_LABELS = {
    "train_loss": "training loss (dropout on)",
    "val_loss": "validation loss (dropout off)",
    "val_accuracy": "validation accuracy (dropout off)",
}


@figure_function
def trainable_depth_heatmap_figure(results, metrics=("train_loss", "val_loss"), *, epoch: int = -1, multiple: float = 6.0,
                                   vmin=None, vmax=None, center=None, cmap: str | None = None, title: str | None = None):
    r"""Heatmaps (depth x keep probability) of final losses, with the trainable depth :math:`k\xi_c` overlaid.

    One panel per metric. Cells are drawn at their grid positions (uneven spacing allowed); missing or
    diverged cells are grey. The white curve is :math:`k\,\xi_c(p)` for dropout with keep probability
    :math:`p` at the critical initialisation :math:`\sigma_w^2 = 2p`; it leaves the top of the axes as
    :math:`p \to 1`, where :math:`\xi_c \to \infty`. Reproduces Pretorius et al. (2018), Fig. 6b, c, e, f.

    Introduced in the chapter *Trainable depth on real data*.

    Parameters
    ----------
    results : dict
        From :func:`nsp_helpers.train.load_results`.
    metrics : sequence of str
        Keys of the per-epoch series: ``"train_loss"``, ``"val_loss"``, ``"val_accuracy"``.
    epoch : int, optional
        Which epoch (default ``-1``: the last).
    multiple : float, optional
        :math:`k` in :math:`k\,\xi_c` (default 6; ``0`` draws no curve).
    vmin, vmax : float or sequence of float, optional
        Colour limits, one value for all panels or one per panel (default: each panel's range).
    center : float or sequence of float, optional
        Value at the middle of a diverging colour map (for example the loss of predicting the mean
        image): cells below it are blue, cells above it red. Default: no centre, a sequential map.
    cmap : str, optional
        Matplotlib colour map (default ``"RdBu_r"`` with ``center``, else ``"viridis"``).
    title : str, optional
        Figure title.

    Returns
    -------
    BookFigure

    Examples
    --------
    >>> res = {"config": {}, "cells": [{"depth": d, "keep_prob": k, "val_loss": [0.1 * d * k]}
    ...                                for d in (2, 6) for k in (0.5, 1.0)]}
    >>> fig = trainable_depth_heatmap_figure(res, metrics=("val_loss",))
    >>> [ax.get_xlabel() for ax in fig.axes][:1]
    ['keep probability $p$']
    """
    from ..train import results_grid

    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    if not metrics:
        raise InvalidParameterError("metrics must name at least one recorded metric")
    multiple = check_float("multiple", multiple, 0, np.inf)
    n = len(metrics)
    vmins, vmaxs, centers = (_per_metric(name, value, n) for name, value in (("vmin", vmin), ("vmax", vmax), ("center", center)))
    cmap = cmap or ("RdBu_r" if any(c is not None for c in centers) else "viridis")

    fig, axes = new_figure(1, n, width=7.0 if n > 1 else 4.6, height=3.0)
    axes = axes[0]
    for ax, metric, lo, hi, mid in zip(axes, metrics, vmins, vmaxs, centers):
        depths, keeps, values = results_grid(results, metric, epoch)
        norm = _norm(values, lo, hi, mid)
        mesh = ax.pcolormesh(_cell_edges(keeps), _cell_edges(depths), np.ma.masked_invalid(values), cmap=_colormap(cmap),
                             norm=norm, shading="flat")
        fig.colorbar(mesh, ax=ax, label=METRIC_LABELS.get(metric, metric))
        if multiple > 0:
            p = np.linspace(keeps.min(), min(keeps.max(), 0.999), 400)
            curve = multiple * np.asarray(depth_scale(Dropout(keep_prob=p)))
            ax.plot(p, curve, color="white", lw=2.6)
            ax.plot(p, curve, color="k", lw=1.2, ls="--", label=rf"trainable depth ${multiple:g}\,\xi_c$ (theory)")
        ax.set_ylim(_cell_edges(depths)[[0, -1]])
        ax.set_xlim(_cell_edges(keeps)[[0, -1]])
        ax.set_xlabel("keep probability $p$")
        ax.set_ylabel("depth $L$ (hidden layers)")
        ax.set_title(METRIC_LABELS.get(metric, metric).split(" (")[0])
    from matplotlib.patches import Patch

    handles, labels = axes[0].get_legend_handles_labels()
    legend_below(fig, handles=handles + [Patch(color="0.75")], labels=labels + ["missing or diverged"], ncols=2)
    if title:
        fig.suptitle(title)
    return fig


def _per_metric(name: str, value, n: int) -> list:
    """One colour limit (or None) per metric, from one value or a sequence of ``n``."""
    values = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value] * n
    if len(values) != n:
        raise InvalidParameterError(f"vmin, vmax and center must be one value or {n} values (one per metric), got {name}={value!r}")
    return [None if v is None else check_float(name, v) for v in values]


def _norm(values, vmin, vmax, center):
    from matplotlib.colors import Normalize, TwoSlopeNorm

    finite = values[np.isfinite(values)]
    lo = float(vmin) if vmin is not None else (float(finite.min()) if finite.size else 0.0)
    hi = float(vmax) if vmax is not None else (float(finite.max()) if finite.size else 1.0)
    if center is None:
        return Normalize(vmin=lo, vmax=hi)
    center = float(center)
    pad = 1e-6 * max(abs(center), 1e-12)
    return TwoSlopeNorm(vcenter=center, vmin=min(lo, center - pad), vmax=max(hi, center + pad))


def _colormap(name):
    from matplotlib import colormaps

    try:
        return colormaps[name].with_extremes(bad="0.75")
    except KeyError as exc:
        raise InvalidParameterError(f"cmap must be a matplotlib colour map name, got {name!r}") from exc


@figure_function
def training_curves_figure(results, keep_probs, *, metric: str = "val_loss", baselines: dict | None = None):
    """Per-epoch curves of one metric, one line per depth, one panel per keep probability.

    Introduced in the chapter *Trainable depth on real data*.

    Parameters
    ----------
    results : dict
        From :func:`nsp_helpers.train.load_results`.
    keep_probs : sequence of float
        Keep probabilities to show (must be in the grid).
    metric : str, optional
        ``"train_loss"``, ``"val_loss"`` (default) or ``"val_accuracy"``.
    baselines : dict, optional
        ``{label: value}`` horizontal reference lines (for example the loss of predicting zeros).

    Returns
    -------
    BookFigure

    Examples
    --------
    >>> res = {"cells": [{"depth": d, "keep_prob": 1.0, "val_loss": [0.1, 0.05 * d]} for d in (2, 6)]}
    >>> fig = training_curves_figure(res, [1.0], baselines={"zeros": 0.11})
    >>> len(fig.axes[0].lines)
    3
    """
    from matplotlib import colormaps

    keep_probs = list(np.atleast_1d(check_in_range("keep_probs", keep_probs, 0.0, 1.0, low_open=True, max_ndim=1)))
    if not keep_probs:
        raise InvalidParameterError("keep_probs must hold at least one keep probability of the grid")
    if not isinstance(metric, str):
        raise InvalidParameterError(f"metric must be the name of a recorded per-epoch series, got {metric!r}")
    if not isinstance(results, dict) or not isinstance(results.get("cells"), list):
        raise InvalidParameterError(f"results must be a grid of results (a dict with 'cells'), got {results!r:.100}")
    cells = results["cells"]
    if not cells or metric not in cells[0]:
        raise InvalidParameterError(f"metric must be a recorded per-epoch series, got {metric!r}")
    depths = sorted({c["depth"] for c in cells})
    fig, axes = new_figure(1, len(keep_probs), width=7.0 if len(keep_probs) > 1 else 4.6, height=2.8)
    axes = axes[0]
    colours = colormaps["viridis"](np.linspace(0, 0.9, len(depths)))  # sequential: the order of the depths
    for ax, keep in zip(axes, keep_probs):
        chosen = [c for c in cells if np.isclose(c["keep_prob"], keep)]
        if not chosen:
            raise InvalidParameterError(f"keep_probs must be values of the grid, got {keep!r}")
        for c in sorted(chosen, key=lambda c: c["depth"]):
            series = np.array([np.nan if v is None else v for v in c[metric]], dtype=float)
            ax.plot(np.arange(1, series.size + 1), series, color=colours[depths.index(c["depth"])], label=f"L = {c['depth']}")
        for k, (label, value) in enumerate((baselines or {}).items()):
            ax.axhline(value, color="0.3", ls=(0, (4, 2 + 2 * k)), lw=1, label=label)
        ax.set_xlabel("epoch")
        ax.set_title(f"keep probability p = {keep:g}")
    axes[0].set_ylabel(METRIC_LABELS.get(metric, metric))
    low = min(ax.get_ylim()[0] for ax in axes)
    high = max(ax.get_ylim()[1] for ax in axes)
    for ax in axes:  # one scale for all panels (not shared: each keeps its tick labels when stacked)
        ax.set_ylim(low, high)
    legend_below(fig, axes[-1], ncols=4)
    return fig


@figure_function
def depth_multiple_figure(grids, fits, *, titles=None):
    r"""Every cell of trainable-depth grids against :math:`L/\xi_c`, one dot per seed, with the fitted multiple :math:`k`.

    One panel per grid. The horizontal axis is :math:`L/\xi_c(p)` (logarithmic; cells without dropout,
    :math:`\xi_c = \infty`, are drawn at the left edge), the vertical axis the metric; filled dots are the
    cells counted as trainable (:func:`nsp_helpers.analysis.trainable_cells`), open dots the others, and the
    dots of one cell (its seeds) are joined by a vertical line, so its length is the spread over seeds. The
    horizontal line is the trainability threshold, the shaded band the range of :math:`k` with the fewest
    misclassified cells, the hatched band its bootstrap interval, and the dashed line :math:`k = 6`.

    Introduced in the chapter *Trainable depth on real data*.

    Parameters
    ----------
    grids : dict of str to SeedGrid
        Panel title -> grid (:func:`nsp_helpers.analysis.seed_grid`).
    fits : dict of str to DepthMultipleFit
        The fit of each grid (:func:`nsp_helpers.analysis.fit_depth_multiple`), same keys.
    titles : dict, optional
        Panel titles (default: the keys).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from nsp_helpers import analysis
    >>> depths, keeps = np.array([2, 10, 40]), np.array([0.5, 0.9, 1.0])
    >>> grid = analysis.SeedGrid(depths, keeps, np.array([[[0.01, 0.01, 0.01], [0.05, 0.02, 0.01], [0.05, 0.05, 0.02]]]),
    ...                          [0], "val_loss", "reconstruct", 0.05, False)
    >>> fig = depth_multiple_figure({"demo": grid}, {"demo": analysis.fit_depth_multiple(grid, n_boot=50)})
    >>> fig.axes[0].get_xscale()
    'log'
    """
    if not isinstance(grids, dict) or not isinstance(fits, dict) or not grids or set(grids) != set(fits):
        raise InvalidParameterError("grids and fits must be dicts with the same, non-empty keys")
    fig, axes = new_figure(1, len(grids), width=7.0 if len(grids) > 1 else 4.6, height=3.0)
    axes = axes[0]
    for ax, (name, grid) in zip(axes, grids.items()):
        fit = fits[name]
        x = grid.depth_over_xi
        finite = x[x > 0]
        left = float(finite.min()) / 2.5 if finite.size else 0.1
        shown = np.where(x > 0, x, left)
        trainable = fit.trainable.reshape(grid.values.shape)
        for d in range(x.shape[0]):
            for k in range(x.shape[1]):
                v = grid.values[:, d, k]
                ax.plot([shown[d, k]] * 2, [np.nanmin(v), np.nanmax(v)], color="0.6", lw=0.8, zorder=1)
        xs = np.broadcast_to(shown, grid.values.shape)
        ax.plot(xs[trainable], grid.values[trainable], "o", ms=3.5, color="C0", label="trainable", zorder=2)
        ax.plot(xs[~trainable], grid.values[~trainable], "o", ms=3.5, mfc="white", color="C3",
                label="not trainable", zorder=2)
        ax.axhline(fit.threshold, color="0.3", lw=0.8, ls=":", label="threshold")
        ax.axhline(grid.baseline, color="0.5", lw=0.8, ls="-.", label="trivial predictor")
        high = fit.k_high if np.isfinite(fit.k_high) else float(finite.max()) * 2
        ax.axvspan(max(fit.k_low, left), high, color="C2", alpha=0.25, lw=0,
                   label=f"best $k$: [{fit.k_low:.3g}, {fit.k_high:.3g})")
        if np.all(np.isfinite(fit.interval)):
            ax.axvspan(*fit.interval, facecolor="none", edgecolor="C2", hatch="///", lw=0,
                       label=f"{100 * fit.level:.0f} % bootstrap interval")
        ax.axvline(6.0, color="k", ls="--", lw=1, label="$k = 6$")
        ax.set_xscale("log")
        ax.set_xlabel(r"$L/\xi_c$ (left edge: no dropout, $\xi_c = \infty$)")
        ax.set_ylabel(METRIC_LABELS.get(grid.metric, grid.metric))
        ax.set_title((titles or {}).get(name, name), fontsize="medium")
    legend_below(fig, axes[0], ncols=3)
    return fig
