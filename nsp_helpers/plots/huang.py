r"""Figures of Huang et al.'s experiments at full size: stored gradient runs and trainable-length maps.

Chapters *Gradients with tied weights at full size* (``book/tied_gradients.md``) and *Trainable length
after Huang et al.* (``book/trainable_length.md``). The gradient figures read
:class:`nsp_helpers.gradient_runs.GradientRun` objects (:func:`nsp_helpers.gradient_runs.stored_runs`), the
maps the results of :mod:`nsp_helpers.trainable_length`. Each function returns a
:class:`~nsp_helpers.plots.style.BookFigure` in the book's style (:mod:`nsp_helpers.plots.style`), uses the
object-oriented API and changes no global plotting state.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidParameterError, check_in_range, check_objects, describe
from .style import ACCENT, COLOURS, TEXT_WIDTH, _cell_edges, figure_function, legend_below, new_figure

__all__ = [
    "tied_rates_figure",
    "tied_curves_figure",
    "tied_pairs_figure",
    "linear_excess_figure",
    "tied_universality_figure",
    "trainable_length_maps_figure",
]

_CURVE_STYLE = {
    "g_aa": ("o", "C0", r"$g_{aa}$"),
    "g_ab": ("s", "C1", r"$|$mean $g_{ab}|$"),
    "abs_ab": ("^", "C2", r"mean $|\partial_W\mathcal{L}_a\,\partial_W\mathcal{L}_b|$"),
    "g_ab_rms": ("D", "C3", r"rms $g_{ab}$"),
}
_ACTIVATION_NAMES = {"relu": "ReLU", "tanh": "tanh", "hard_tanh": "hard tanh", "linear": "linear"}


def _figure(n_rows: int, n_cols: int, *, width: float = 4.2, height: float = 3.4):
    """A book figure of ``n_rows x n_cols`` panels about ``width`` inches wide each, at most the column."""
    return new_figure(n_rows, n_cols, width=min(TEXT_WIDTH, width * n_cols), height=0.8 * height * n_rows)


def _check_runs(runs, name: str = "runs") -> list:
    from ..gradient_runs import GradientRun

    return check_objects(name, runs, GradientRun, "GradientRun objects (nsp_helpers.gradient_runs.stored_runs)", single=True)


@figure_function
def tied_rates_figure(panels: dict, theory_lines: dict):
    r"""Fitted decay rates (with standard errors) against the keep probability, one panel per activation.

    Parameters
    ----------
    panels : dict
        Panel title -> ``{curve name: (keep_probs, rates, stderrs)}`` (curves of
        :meth:`~nsp_helpers.gradient_runs.GradientRun.curve`).
    theory_lines : dict
        Panel title -> ``(keep_grid, -ln chi_1, -ln chi(c*))`` on a fine grid.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = tied_rates_figure({"tanh": {"g_aa": ([0.8, 0.9], [0.2, 0.1], [0.01, 0.01])}},
    ...                         {"tanh": ([0.8, 0.9], [0.2, 0.1], [0.5, 0.3])})
    >>> len(fig.axes)
    1
    """
    if not isinstance(theory_lines, dict):
        raise InvalidParameterError(f"theory_lines must be a dict of title -> (keep_probs, rate_1, rate_2), got {describe(theory_lines)}")
    if not isinstance(panels, dict) or not panels or set(panels) - set(theory_lines):
        raise InvalidParameterError("panels must be a non-empty dict whose titles all have theory_lines")
    fig, axes = _figure(1, len(panels), width=4.0, height=3.5)
    for ax, (title, curves) in zip(axes[0], panels.items()):
        grid, rate1, rate2 = (np.asarray(v, dtype=float) for v in theory_lines[title])
        ax.plot(grid, rate1, "-", color="k", lw=1.3, label=r"$-\ln\chi_1$")
        ax.plot(grid, rate2, "--", color="0.45", lw=1.3, label=r"$-\ln\chi(c^*)$ (GIA pairs)")
        offsets = np.linspace(-0.009, 0.009, max(1, len(curves)))
        for (name, (keeps, rates, errs)), off in zip(curves.items(), offsets):
            if name not in _CURVE_STYLE:
                raise InvalidParameterError(f"curve names must be among {sorted(_CURVE_STYLE)}, got {name!r}")
            marker, color, label = _CURVE_STYLE[name]
            ax.errorbar(np.asarray(keeps, dtype=float) + off, rates, yerr=2 * np.asarray(errs, dtype=float), fmt=marker,
                        ms=4.5, color=color, capsize=2, lw=1, label=label)
        ax.axhline(0.0, color="0.7", lw=0.7)
        ax.set(xlabel=r"keep probability $\rho$", title=title)
        ax.title.set_fontsize("medium")
    axes[0][0].set_ylabel(r"decay rate of $\ln g$ per layer")
    legend_below(fig, ncols=3)
    return fig


@figure_function
def tied_curves_figure(run, *, ylim=None):
    r"""The paper's three statistics (and the rms of :math:`g_{ab}`) of one stored run against the layer.

    Markers: means over the run's networks (``|mean g_ab|``; open where the mean is negative);
    band: :math:`\pm 2` standard errors of the mean of :math:`g_{ab}`; lines :math:`\chi_1^{L-l}` and
    :math:`\chi(c^*)^{L-l}` from the output layer.

    Examples
    --------
    >>> from nsp_helpers.gradient_runs import GradientRunConfig, GradientRun, compute_run
    >>> run = GradientRun(compute_run(GradientRunConfig("tanh", 1.4, 0.1, 0.9, n_layers=6, width=20, n_networks=2,
    ...                                                 block=1, stride=2)))
    >>> len(tied_curves_figure(run).axes)
    1
    """
    runs = _check_runs(run, "run")
    if len(runs) != 1:
        raise InvalidParameterError(f"run must be one GradientRun, got {len(runs)}")
    run = runs[0]
    th = run.theory()
    fig, axes = _figure(1, 1, width=5.8, height=3.9)
    ax = axes[0][0]
    layers = run.layers
    n_back = run.config.n_layers - layers
    every = max(1, run.config.n_layers // 67)
    se = run.standard_error("g_ab")
    mean_ab = run.curve("g_ab")
    ax.fill_between(layers, np.maximum(np.abs(mean_ab) - 2 * se, 1e-300), np.abs(mean_ab) + 2 * se, color="C1", alpha=0.15, lw=0)
    for name, (marker, color, label) in _CURVE_STYLE.items():
        values = run.curve(name)
        v, sel = np.abs(values), slice(None, None, every)
        if name == "g_ab":
            neg = values < 0
            ax.plot(layers[sel][~neg[sel]], v[sel][~neg[sel]], marker, ms=3.2, color=color, label=label)
            ax.plot(layers[sel][neg[sel]], v[sel][neg[sel]], marker, ms=3.2, mfc="none", color=color, label="(mean < 0)")
        else:
            ax.plot(layers[sel], v[sel], marker, ms=3.2, color=color, alpha=0.85, label=label)
    top = run.curve("g_aa")[-1]
    with np.errstate(under="ignore"):
        ax.plot(layers, top * th.chi_single**n_back, "k-", lw=1.1, label=rf"$\chi_1^{{L-l}}$, $\chi_1 = {th.chi_single:.3f}$")
        pair = run.curve("g_ab")[-1] * th.chi_pair**n_back
    ax.plot(layers, np.where(pair > 1e-300, pair, np.nan), "--", color="C1", lw=1.1,
            label=rf"$\chi(c^*)^{{L-l}}$, $\chi(c^*) = {th.chi_pair:.3f}$")
    ax.set_yscale("log")
    if ylim is None:
        finite = np.concatenate([np.abs(run.curve(n)) for n in _CURVE_STYLE])
        finite = finite[np.isfinite(finite) & (finite > 0)]
        ylim = (finite.min() / 10, finite.max() * 10)
    else:
        limits = check_in_range("ylim", ylim, 0.0, np.inf, low_open=True)
        if limits.shape != (2,) or not limits[0] < limits[1]:
            raise InvalidParameterError(f"ylim must be (low, high) with 0 < low < high, got {ylim!r}")
        ylim = (float(limits[0]), float(limits[1]))
    ax.set_ylim(*ylim)
    c = run.config
    ax.set(xlabel=r"layer $l$ (output at $l = L$)", ylabel="gradient statistic", xlim=(0, c.n_layers + 1))
    ax.set_title(f"{_ACTIVATION_NAMES[c.activation]}, $\\rho = {c.keep_prob:g}$, $\\sigma_w^2 = {c.sigma_w2:g}$, "
                 f"{c.n_networks} networks of width {c.width}", loc="left", fontsize="medium")
    legend_below(fig, ax, ncols=3)
    return fig


@figure_function
def tied_pairs_figure(pair_panels: dict, width_panel: dict | None = None):
    r"""Cosine :math:`r` of the two inputs' backward signals against the layers back from the output.

    Parameters
    ----------
    pair_panels : dict
        Panel title -> ``{label: GradientRun}`` (e.g. tied and independent weights of one setting); the
        mean :math:`r` with :math:`\pm 2` standard errors over networks, the GIA prediction
        :math:`r_0(\chi(c^*)/\chi_1)^n` and the band :math:`\pm 1/\sqrt{N}`.
    width_panel : dict, optional
        Label -> ``(widths, values, stderrs, exponent)``: a finite-width panel on log-log axes (e.g.
        the rms of :math:`r` deep in the network against the width), with the line :math:`\propto
        N^{\text{exponent}}`.

    Examples
    --------
    >>> from nsp_helpers.gradient_runs import GradientRunConfig, GradientRun, compute_run
    >>> run = GradientRun(compute_run(GradientRunConfig("tanh", 1.4, 0.1, 0.9, n_layers=6, width=20, n_networks=2,
    ...                                                 block=1, stride=2)))
    >>> len(tied_pairs_figure({"tanh": {"tied": run}}).axes)
    1
    """
    if not isinstance(pair_panels, dict) or not pair_panels:
        raise InvalidParameterError("pair_panels must be a non-empty dict: title -> {label: GradientRun}")
    n_cols = len(pair_panels) + (width_panel is not None)
    fig, axes = _figure(1, n_cols, width=4.2, height=3.5)
    for ax, (title, runs) in zip(axes[0], pair_panels.items()):
        n_max, width, r0, th = 0, None, None, None
        for i, (label, run) in enumerate(runs.items()):
            (run,) = _check_runs(run, "pair_panels values")
            mean = run.summary["r"]["mean"][::-1]
            rms = run.summary["r"]["rms"][::-1]
            se = np.sqrt(np.maximum(rms**2 - mean**2, 0) * run.n_networks / (run.n_networks - 1) / run.n_networks)
            n = np.arange(mean.size)
            ax.fill_between(n, mean - 2 * se, mean + 2 * se, color=f"C{i}", alpha=0.2, lw=0)
            ax.plot(n, mean, "-", lw=1.0, color=f"C{i}", label=label)
            n_max, width = max(n_max, mean.size - 1), run.config.width
            if r0 is None:
                r0, th = mean[0], run.theory()
        n = np.arange(n_max + 1)
        with np.errstate(under="ignore"):
            ax.plot(n, r0 * (th.chi_pair / th.chi_single) ** n, "k--", lw=1.1, label=r"GIA: $r_0(\chi(c^*)/\chi_1)^n$")
        ax.axhspan(-1 / np.sqrt(width), 1 / np.sqrt(width), color="0.85", zorder=0, label=r"$\pm 1/\sqrt{N}$")
        ax.axhline(0, color="0.5", lw=0.6)
        ax.set(xlabel=r"layers back from the output $n = L - l$", ylabel=r"mean $r^l$ = cos($\delta_a^l$, $\delta_b^l$)",
               xlim=(0, n_max), ylim=(-0.2, 1))
        ax.set_title(title, loc="left", fontsize="medium")
    if width_panel is not None:
        ax = axes[0][-1]
        for i, (label, (widths, values, errs, exponent)) in enumerate(width_panel.items()):
            widths, values = np.asarray(widths, dtype=float), np.asarray(values, dtype=float)
            ax.errorbar(widths, values, yerr=2 * np.asarray(errs, dtype=float), fmt="o", color=f"C{i + 2}", capsize=2,
                        label=f"{label}: $\\propto N^{{{exponent:.2f}}}$")
            grid = np.geomspace(widths.min() * 0.9, widths.max() * 1.1, 20)
            ref = np.exp(np.mean(np.log(values) + 0.5 * np.log(widths)))
            ax.plot(grid, ref * grid**-0.5, "--", color=f"C{i + 2}", lw=0.9)
        ax.set(xscale="log", yscale="log", xlabel="width $N$", ylabel="value")
        ax.set_title(r"finite-width floor (dashed: $N^{-1/2}$)", loc="left", fontsize="medium")
    legend_below(fig, ncols=3)
    return fig


@figure_function
def linear_excess_figure(pairs: dict, predicted: dict, *, closed=None, forward_run=None):
    r"""The excess of :math:`g_{aa}` with tied weights over independent ones in linear networks, and
    Huang et al.'s tied-weight prediction.

    Parameters
    ----------
    pairs : dict
        Label -> ``(tied GradientRun, independent GradientRun)`` of one linear setting.
    predicted : dict
        Label -> the predicted ratio for :math:`n = 0, 1, \dots` layers back from the output.
    closed : LinearClosedForms, optional
        With ``forward_run``: a first panel of forward second moments against the closed forms.
    forward_run : GradientRun, optional

    Examples
    --------
    >>> from nsp_helpers.gradient_runs import GradientRunConfig, GradientRun, compute_run
    >>> mk = lambda b: GradientRun(compute_run(GradientRunConfig("linear", 0.5, 0.1, 0.9, n_layers=6, width=20,
    ...                                                          n_networks=2, block=1, stride=2, backward=b)))
    >>> len(linear_excess_figure({"0.9": (mk("tied"), mk("independent"))}, {"0.9": np.ones(6)}).axes)
    1
    """
    if not isinstance(pairs, dict) or not pairs:
        raise InvalidParameterError("pairs must be a non-empty dict: label -> (tied run, independent run)")
    n_cols = 1 + (closed is not None and forward_run is not None)
    fig, axes = _figure(1, n_cols, width=4.6, height=3.6)
    if n_cols == 2:
        ax = axes[0][0]
        (run,) = _check_runs(forward_run, "forward_run")
        ax.plot(run.layers, run.summary["q_aa"]["mean"], "o", ms=2.5, color="C0", label=r"$q^l_{aa}$ (simulation)")
        ax.plot(run.layers, run.summary["q_ab"]["mean"], "s", ms=2.5, color="C1", label=r"$q^l_{ab}$ (simulation)")
        ax.axhline(closed.q_star, color="C0", lw=1.2, label=rf"$q^* = {closed.q_star:.3f}$")
        ax.axhline(closed.q_ab_star, color="C1", lw=1.2, ls="--", label=rf"$q^*_{{ab}} = {closed.q_ab_star:.3f}$")
        ax.set(xlabel=r"layer $l$", ylabel="forward second moments", ylim=(0, 1.5 * max(closed.q_star, 1.0)))
        ax.set_title(rf"(a) closed forms, $\rho = {run.config.keep_prob:g}$", loc="left", fontsize="medium")
    ax = axes[0][-1]
    for i, (label, (tied, gia)) in enumerate(pairs.items()):
        tied, gia = _check_runs(tied)[0], _check_runs(gia)[0]
        ratio = (tied.curve("g_aa") / gia.curve("g_aa"))[::-1]
        n = np.arange(ratio.size)
        ax.plot(n, ratio, "o", ms=2.2, color=f"C{i}", alpha=0.8, label=label)
        pred = np.asarray(predicted[label], dtype=float)
        ax.plot(np.arange(pred.size), pred, "-", color=f"C{i}", lw=1.2)
    ax.axhline(1.0, color="0.5", lw=0.7)
    ax.set(xlabel=r"layers back from the output $n = L - l$", ylabel=r"$g_{aa}$ tied / $g_{aa}$ independent", xlim=(0, 60))
    ax.set_title(("(b) " if n_cols == 2 else "") + "excess of tied weights (lines: Huang et al.)", loc="left", fontsize="medium")
    legend_below(fig, ncols=3)
    return fig


@figure_function
def tied_universality_figure(panels: dict):
    r"""Variance against mean over initialisations, one panel per entry, one point per stored layer.

    Parameters
    ----------
    panels : dict
        Panel title -> ``{label: PowerLawFit or list of PowerLawFit}``
        (:meth:`nsp_helpers.gradient_runs.GradientRun.universality`); a list (e.g. the keep probabilities
        of one activation) is drawn in one colour and labelled with the range of its exponents.

    Examples
    --------
    >>> from nsp_helpers.gradient_runs import PowerLawFit
    >>> m = np.array([1.0, 0.1, 0.01])
    >>> len(tied_universality_figure({"g": {"a": PowerLawFit(2.0, 0.01, 0.1, m, 0.1 * m**2)}}).axes)
    1
    """
    if not isinstance(panels, dict) or not panels:
        raise InvalidParameterError("panels must be a non-empty dict: title -> {label: PowerLawFit or list}")
    fig, axes = _figure(1, len(panels), width=3.9, height=3.6)
    for ax, (title, groups) in zip(axes[0], panels.items()):
        ratios, means = [], []
        for i, (label, fits) in enumerate(groups.items()):
            fits = fits if isinstance(fits, (list, tuple)) else [fits]
            ks = [f.exponent for f in fits]
            for j, fit in enumerate(fits):
                ok = (fit.mean > 0) & (fit.variance > 0)
                if len(fits) == 1:
                    text = f"{label}: $k = {fit.exponent:.3f} \\pm {fit.stderr:.3f}$"
                else:
                    text = f"{label}: $k$ = {min(ks):.2f} to {max(ks):.2f}"
                ax.plot(fit.mean[ok], fit.variance[ok], "o", ms=2.0, color=f"C{i % 10}", alpha=0.55,
                        label=text if j == 0 else None)
                ratios.append(fit.variance[ok] / fit.mean[ok] ** 2)
                means.append(fit.mean[ok])
        m = np.concatenate(means)
        grid = np.geomspace(m.min(), m.max(), 50)
        ax.plot(grid, np.median(np.concatenate(ratios)) * grid**2, "k--", lw=1.1, label=r"$V \propto m^2$")
        ax.set(xscale="log", yscale="log", xlabel="mean over initialisations $m$", ylabel="variance $V$")
        ax.set_title(title, loc="left", fontsize="medium")
    legend_below(fig, ncols=2)
    return fig


@figure_function
def trainable_length_maps_figure(comparisons: dict):
    r"""Accuracy maps over :math:`(\sigma_w^2, L)` with :math:`12\xi_1`, :math:`6\xi_2`, :math:`12\xi_2` and the
    best-fitting :math:`\hat k\,\xi`.

    Parameters
    ----------
    comparisons : dict
        Panel title -> :class:`nsp_helpers.analysis.TrainableLengthComparison`.

    Examples
    --------
    >>> from nsp_helpers.analysis import trainable_length_rules
    >>> cfg = {"sigma_w2s": [1.0, 3.0], "sigma_b2": 0.05, "activation": "tanh"}
    >>> cells = [{"depth": d, "keep_prob": 1.0, "sigma_w2": s, "val_accuracy": [0.9 if d < 40 else 0.1]}
    ...          for d in (10, 20, 40, 80) for s in (1.0, 3.0)]
    >>> cmp = trainable_length_rules({"config": cfg, "cells": cells}, n_boot=10)
    >>> len(trainable_length_maps_figure({"rho = 1": cmp}).axes)
    2
    """
    from ..analysis import huang_depth_scales

    if not isinstance(comparisons, dict) or not comparisons:
        raise InvalidParameterError("comparisons must be a non-empty dict: title -> TrainableLengthComparison")
    fig, axes = _figure(1, len(comparisons), width=4.4, height=3.7)
    for ax, (title, cmp) in zip(axes[0], comparisons.items()):
        mesh = ax.pcolormesh(_cell_edges(cmp.sigma_w2s), _cell_edges(cmp.depths), np.ma.masked_invalid(cmp.values), cmap="viridis",
                             vmin=0.0, vmax=1.0, shading="flat")
        ax.contour(cmp.sigma_w2s, cmp.depths, cmp.trainable.astype(float), levels=[0.5], colors="w", linewidths=0.6,
                   linestyles=":")
        grid = np.linspace(cmp.sigma_w2s.min(), cmp.sigma_w2s.max(), 121)
        scales = huang_depth_scales(grid, cmp.keep_prob)
        ax.plot(grid, 12 * scales["xi_1"], "-", color="w", lw=1.6, label=r"$12\xi_1$")
        ax.plot(grid, 6 * scales["xi_2"], "--", color=ACCENT, lw=1.4, label=r"$6\xi_2$")
        ax.plot(grid, 12 * scales["xi_2"], "--", color="w", lw=1.4, label=r"$12\xi_2$")
        best = cmp.best_scale
        k = cmp.fits[best].multiple
        if np.isfinite(k) and k > 0:
            ax.plot(grid, k * scales[best], "-", color=COLOURS[1], lw=1.4,
                    label=rf"best: ${k:.1f}\,\xi_{best[-1]}$")
        ax.set_ylim(_cell_edges(cmp.depths)[[0, -1]])
        ax.set_xlim(_cell_edges(cmp.sigma_w2s)[[0, -1]])
        ax.set(xlabel=r"$\sigma_w^2$", ylabel="depth $L$ (hidden layers)")
        ax.set_title(title, loc="left", fontsize="medium")
        fig.colorbar(mesh, ax=ax, label="validation accuracy")
    legend_below(fig, ncols=4)
    return fig
