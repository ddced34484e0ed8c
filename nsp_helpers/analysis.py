r"""Analysis of simulations and stored training results: agreement with theory, and which depth-scale rule
bounds the trainable region.

This module sits above training (:mod:`nsp_helpers.train` writes the grids it reads) and below the
figures. The boundary :math:`L = k\,\xi_c(p)` that the book draws over every trainable-depth grid is
computed here, once (:func:`depth_scale_boundary`); so are the spread of a grid over seeds
(:func:`seed_grid`), the multiple :math:`k` that separates trainable from untrainable cells best
(:func:`fit_depth_multiple`), the numbers the chapter states about a grid (:func:`boundary_summary`), and the
test of simulated means against a mean-field prediction (:func:`agreement_test`).
:func:`finite_width_spread` and :func:`spread_at_rule_departures` ask whether the finite-width spread of the
signal (the book's own material, :mod:`nsp_helpers.theory.finite_width`) explains the cells where a grid
departs from the rule; :func:`stored_grids` loads every stored grid of a profile (one per configuration).

Introduced in the chapters *Trainable depth on real data* (``book/trainable_depth.md``) and
*Backpropagation through noisy networks* (``book/gradients.md``); :func:`agreement_test` in *The
variance map* (``book/variance_map.md``); the finite-width part in *Beyond both papers: how wide is wide
enough?* (``book/finite_width.md``); :func:`fit_depth_scale_multiple` and :func:`trainable_length_rules` in *Trainable length after Huang et al.*
(``book/trainable_length.md``).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from . import theory
from .errors import InvalidParameterError, _real_array, check_bool, check_float, check_in_range, check_int, check_ints, describe
from .noise import Dropout
from .theory import finite_width as fw
from .train import load_results, results_dir, results_grid

__all__ = [
    "AgreementTest",
    "BoundarySummary",
    "DepthMultipleFit",
    "FiniteWidthSpread",
    "RuleComparison",
    "SeedGrid",
    "SpreadAtDepartures",
    "agreement_test",
    "boundary_summary",
    "classification_sentence",
    "depth_scale_boundary",
    "finite_width_spread",
    "fit_depth_multiple",
    "mean_results",
    "seed_grid",
    "spread_at_rule_departures",
    "spread_sentence",
    "stored_grids",
    "trainable_cells",
    "trainable_depth_rules",
]


def _check_grid(name: str, grid) -> "SeedGrid":
    """``grid`` if it is a :class:`SeedGrid` (from :func:`seed_grid`)."""
    if not isinstance(grid, SeedGrid):
        raise InvalidParameterError(f"{name} must be a SeedGrid (nsp_helpers.analysis.seed_grid), got {describe(grid)}")
    return grid


def _check_results_list(results_list) -> list:
    """A non-empty list of results dicts (one per seed)."""
    if not isinstance(results_list, (list, tuple)) or not results_list or not all(isinstance(r, dict) for r in results_list):
        raise InvalidParameterError(
            f"results_list must be a non-empty list of results dicts (nsp_helpers.train.stored_seed_results), got {describe(results_list)}")
    return list(results_list)


def depth_scale_boundary(keep_prob, multiple: float = 6.0):
    r"""The depth :math:`k\,\xi_c(p)` above which critical dropout ReLU networks stop training.

    Parameters
    ----------
    keep_prob : float or array_like, in (0, 1]
        Dropout keep probabilities :math:`p`.
    multiple : float, > 0
        :math:`k` (Schoenholz et al.'s 6 by default).

    Returns
    -------
    float or numpy.ndarray
        :math:`k\,\xi_c` with :math:`\xi_c = -1/\ln\chi(c^*)` of the critical network
        (:func:`nsp_helpers.theory.depth_scale`); ``inf`` without dropout.

    Examples
    --------
    >>> depth_scale_boundary([0.5, 1.0]).round(2)
    array([4.78,  inf])
    """
    k = check_float("multiple", multiple, 0.0, np.inf, low_open=True)
    return k * theory.depth_scale(Dropout(keep_prob=keep_prob))


@dataclass
class RuleComparison:
    """How well rules of the form "trainable iff depth <= rule(keep_prob)" match a trainable-depth grid.

    Attributes
    ----------
    depths, keep_probs : numpy.ndarray
        The grid.
    trainable : numpy.ndarray of bool, shape ``(n_depths, n_keep)``
        Observed: the final loss is below ``threshold``.
    threshold : float
    rules : dict
        Rule name -> the rule's depth for every keep probability (``inf`` for no limit).
    agreement : dict
        Rule name -> fraction of cells where the rule predicts the observed outcome.
    """

    depths: np.ndarray
    keep_probs: np.ndarray
    trainable: np.ndarray
    threshold: float
    rules: dict
    agreement: dict

    @property
    def best(self) -> str:
        """The rule with the highest agreement (the first one on ties)."""
        return max(self.agreement, key=lambda k: self.agreement[k])


def trainable_depth_rules(results, metric: str = "train_loss", *, threshold=None, multiples=(6.0, 12.0)) -> RuleComparison:
    r"""Compare depth-scale rules with a trainable-depth grid of critical dropout ReLU networks.

    Introduced in the chapter *Backpropagation through noisy networks* (``book/gradients.md``).

    Parameters
    ----------
    results : dict
        A grid from :func:`nsp_helpers.train.load_results` (critically initialised ReLU networks,
        one cell per depth and keep probability).
    metric : str
        Which per-epoch series to judge (last epoch), e.g. ``"train_loss"`` or ``"val_loss"``.
    threshold : float, optional
        A cell is *trainable* if its final ``metric`` is below this. Default: halfway between the
        smallest and the largest finite value of the grid (diverged cells, ``nan``, count as not
        trainable).
    multiples : sequence of float
        Multiples :math:`k` of the correlation depth scale tested as rules :math:`L \le k\,\xi_c`
        (Schoenholz et al.: 6; Huang et al.'s figure code: 12).

    Returns
    -------
    RuleComparison
        Rules ``"{k}·xi_c"`` for each multiple, and ``"xi_1"`` (:math:`\chi_1 = 1` at criticality, so
        the single-input gradient depth scale sets no limit: every depth is predicted trainable).

    Notes
    -----
    For critical dropout ReLU, :math:`\xi_c = -1/\ln\chi(c^*)` (:func:`nsp_helpers.theory.depth_scale`)
    and :math:`\xi_1 = 1/|\ln\chi_1| = \infty`. The agreement of a rule is

    .. math::

        \frac{1}{|\text{grid}|}\sum_{(L, p)} \mathbb{1}\bigl[(L \le k\,\xi_c(p)) = \text{trainable}(L, p)\bigr].

    Examples
    --------
    >>> res = {"cells": [{"depth": d, "keep_prob": p, "train_loss": [0.01 if d < 10 * p else 0.1]}
    ...                  for d in (2, 6, 10) for p in (0.5, 1.0)]}
    >>> cmp = trainable_depth_rules(res)
    >>> cmp.trainable.astype(int).tolist()
    [[1, 1], [0, 1], [0, 0]]
    >>> sorted(cmp.agreement)
    ['12·xi_c', '6·xi_c', 'xi_1']
    """
    depths, keeps, values = results_grid(results, metric=metric)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise InvalidParameterError(f"results must hold finite values of {metric!r}")
    if threshold is None:
        threshold = 0.5 * (finite.min() + finite.max())
    threshold = check_float("threshold", threshold, -np.inf, np.inf)
    multiples = check_in_range("multiples", multiples, 0.0, np.inf, low_open=True, max_ndim=1).ravel().tolist()
    if not multiples:
        raise InvalidParameterError("multiples must hold at least one multiple of the depth scale")
    trainable = np.isfinite(values) & (values < threshold)
    noise = Dropout(keep_prob=keeps)
    rules = {f"{k:g}·xi_c": np.atleast_1d(depth_scale_boundary(keeps, k)) for k in multiples}
    chi_1 = np.atleast_1d(theory.gradient_slope(noise))
    with np.errstate(divide="ignore"):
        rules["xi_1"] = np.where(chi_1 == 1.0, np.inf, 1.0 / np.abs(np.log(chi_1)))
    agreement = {}
    for name, limit in rules.items():
        predicted = depths[:, None] <= limit[None, :]
        agreement[name] = float((predicted == trainable).mean())
    return RuleComparison(depths=depths, keep_probs=keeps, trainable=trainable, threshold=threshold, rules=rules,
                          agreement=agreement)


# ------------------------------------------------------------------------------------------------
# simulated means against a mean-field prediction
# ------------------------------------------------------------------------------------------------
@dataclass
class AgreementTest:
    """Result of :func:`agreement_test`.

    Attributes
    ----------
    difference : numpy.ndarray, shape ``(n_quantities,)``
        Mean over networks minus the prediction.
    std_error : numpy.ndarray
        Standard error of each mean, from the spread of the per-network values.
    z : numpy.ndarray
        ``difference / std_error``.
    statistic : float
        Hotelling's :math:`T^2` of all the quantities together.
    p_value : float
        Probability of a :math:`T^2` at least this large if the prediction were exact (:math:`F` test).
    n_networks, n_quantities : int
    """

    difference: np.ndarray
    std_error: np.ndarray
    z: np.ndarray
    statistic: float
    p_value: float
    n_networks: int
    n_quantities: int

    def consistent(self, level: float = 0.05) -> bool:
        """Whether the differences are within sampling noise at significance ``level`` (``p_value >= level``)."""
        return bool(self.p_value >= check_float("level", level, 0.0, 1.0, low_open=True, high_open=True))


def agreement_test(per_network, expected) -> AgreementTest:
    r"""Test whether simulated means agree with a prediction, with networks as the independent replicates.

    Introduced in the chapter *The variance map* (``book/variance_map.md``).

    Parameters
    ----------
    per_network : array_like, shape ``(n_quantities, n_networks)`` or ``(n_networks,)``
        One value per quantity and network (e.g. a network's mean :math:`q^1` over its inputs). Networks
        must be independent and identically distributed; quantities measured in the same network may be
        correlated (the test accounts for it).
    expected : float or array_like, shape ``(n_quantities,)``
        The predicted expectation of each quantity.

    Returns
    -------
    AgreementTest

    Notes
    -----
    With :math:`d_g` the vector of differences of network :math:`g`, :math:`\bar d` their mean and
    :math:`S` their sample covariance over :math:`n` networks, Hotelling's statistic
    :math:`T^2 = n\,\bar d^\top S^{-1} \bar d` gives
    :math:`F = \frac{n - k}{k (n - 1)} T^2 \sim F(k, n - k)` for :math:`k` quantities if the prediction is
    exact and the per-network values are Gaussian (a good approximation for means over many units). For one
    quantity it is the two-sided :math:`t` test.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> samples = 1.0 + 0.1 * rng.standard_normal((2, 50))
    >>> test = agreement_test(samples, [1.0, 1.0])
    >>> test.consistent(), agreement_test(samples, [1.1, 1.0]).consistent()
    (True, False)
    """
    from scipy.stats import f as f_distribution

    values = _real_array("per_network", per_network)
    if values.ndim == 1:
        values = values[None, :]
    if values.ndim != 2 or not np.all(np.isfinite(values)):
        raise InvalidParameterError(f"per_network must be a finite 2-D array (n_quantities, n_networks), got shape {values.shape}")
    k, n = values.shape
    if n <= k:
        raise InvalidParameterError(f"per_network needs more networks than quantities, got {n} networks for {k}")
    expected = check_in_range("expected", expected, max_ndim=1)
    try:
        expected = np.broadcast_to(expected, (k,))
    except ValueError:
        raise InvalidParameterError(
            f"expected must be one number or one per quantity of per_network, got shape {expected.shape} for per_network "
            f"of shape {np.shape(per_network)}: {k} quantit{'y' if k == 1 else 'ies'} of {n} networks (a 1-D per_network is "
            "one quantity; pass shape (n_quantities, n_networks) for several)") from None
    with np.errstate(over="ignore", invalid="ignore"):
        d = values - expected[:, None]
        spread = np.cov(d, ddof=1)
    if not (np.all(np.isfinite(d)) and np.all(np.isfinite(spread))):
        raise InvalidParameterError("expected and per_network must differ by amounts whose squares are finite in float64, got "
                                    f"differences up to {np.max(np.abs(d)):.3g}")
    mean = d.mean(axis=1)
    cov = np.atleast_2d(np.cov(d, ddof=1))
    se = np.sqrt(np.diag(cov) / n)
    try:
        t2 = float(n * mean @ np.linalg.solve(cov, mean))
    except np.linalg.LinAlgError:
        raise InvalidParameterError("per_network must vary over networks in every quantity (their covariance is singular, "
                                    "also when expected is so far off that float64 loses the spread)") from None
    f_stat = (n - k) / (k * (n - 1)) * t2
    return AgreementTest(difference=mean, std_error=se, z=mean / se, statistic=t2,
                         p_value=float(f_distribution.sf(f_stat, k, n - k)), n_networks=n, n_quantities=k)


# ------------------------------------------------------------------------------------------------
# trainable depth over several seeds
# ------------------------------------------------------------------------------------------------
_BASELINE = {"reconstruct": "predict the mean image", "classify": "most frequent class (accuracy)"}


@dataclass
class SeedGrid:
    """One metric of a trainable-depth grid, for every stored seed (:func:`seed_grid`).

    Attributes
    ----------
    depths, keep_probs : numpy.ndarray
        The grid.
    values : numpy.ndarray, shape ``(n_seeds, n_depths, n_keep)``
        The metric after the last epoch (``nan`` where a run diverged).
    seeds : list of int
    metric, task : str
    baseline : float
        The trivial predictor the metric has to beat: the mean image (reconstruction losses) or the most
        frequent class (accuracy).
    higher_is_better : bool
        True for accuracy.
    """

    depths: np.ndarray
    keep_probs: np.ndarray
    values: np.ndarray
    seeds: list
    metric: str
    task: str
    baseline: float
    higher_is_better: bool

    @property
    def mean(self) -> np.ndarray:
        """Mean over seeds, per cell."""
        with np.errstate(invalid="ignore"):
            return np.nanmean(self.values, axis=0) if np.isfinite(self.values).any() else self.values[0]

    @property
    def spread(self) -> np.ndarray:
        """Largest minus smallest value over seeds, per cell (0 for one seed)."""
        return np.nanmax(self.values, axis=0) - np.nanmin(self.values, axis=0)

    @property
    def depth_over_xi(self) -> np.ndarray:
        r""":math:`L/\xi_c(p)` of every cell, shape ``(n_depths, n_keep)`` (0 without dropout, where :math:`\xi_c = \infty`)."""
        xi = np.atleast_1d(theory.depth_scale(Dropout(keep_prob=self.keep_probs)))
        return self.depths[:, None] / xi[None, :]


def seed_grid(results_list, metric: str = "val_loss", epoch: int = -1) -> SeedGrid:
    """Stack one metric of the grids of several seeds (e.g. :func:`nsp_helpers.train.stored_seed_results`).

    Introduced in the chapter *Trainable depth on real data* (``book/trainable_depth.md``).

    Parameters
    ----------
    results_list : sequence of dict
        Results of the same grid, task and data (one per seed).
    metric : {"train_loss", "val_loss", "val_accuracy"}
    epoch : int
        See :func:`nsp_helpers.train.results_grid`.

    Returns
    -------
    SeedGrid

    Examples
    --------
    >>> def run(seed):
    ...     cells = [{"depth": d, "keep_prob": p, "val_loss": [0.01 * d + seed]} for d in (2, 6) for p in (0.5, 1.0)]
    ...     return {"cells": cells, "config": {"task": "reconstruct", "seed": seed},
    ...             "baselines": {"predict the mean image": 0.05}}
    >>> grid = seed_grid([run(0), run(1)])
    >>> grid.values.shape, grid.seeds, grid.spread.tolist()
    ((2, 2, 2), [0, 1], [[1.0, 1.0], [1.0, 1.0]])
    """
    results_list = _check_results_list(results_list)
    grids = [results_grid(r, metric, epoch) for r in results_list]
    depths, keeps = grids[0][0], grids[0][1]
    for d, k, _ in grids[1:]:
        if not (np.array_equal(d, depths) and np.array_equal(k, keeps)):
            raise InvalidParameterError("results_list must hold grids of the same depths and keep probabilities")
    tasks = {r.get("config", {}).get("task", "reconstruct") for r in results_list}
    if len(tasks) != 1:
        raise InvalidParameterError(f"results_list must hold one task, got {sorted(tasks)}")
    task = tasks.pop()
    higher = metric == "val_accuracy"
    key = _BASELINE[task] if task == "reconstruct" or higher else "uniform logits (loss)"
    baselines = [float(r["baselines"][key]) for r in results_list]
    if max(baselines) - min(baselines) > 1e-6 * max(1.0, abs(baselines[0])):
        raise InvalidParameterError(f"results_list must share one validation split (baselines {baselines})")
    seeds = [int(r.get("config", {}).get("seed", i)) for i, r in enumerate(results_list)]
    return SeedGrid(depths=depths, keep_probs=keeps, values=np.stack([g[2] for g in grids]), seeds=seeds,
                    metric=metric, task=task, baseline=baselines[0], higher_is_better=higher)


def mean_results(results_list) -> dict:
    """A results dict whose per-epoch series are the means over the given seeds (for the figure functions).

    ``config``, ``baselines`` and the sizes are those of the first; ``seeds`` lists the seeds and
    ``seed_provenance`` every run's provenance. A single run is returned as it is.

    Examples
    --------
    >>> runs = [{"cells": [{"depth": 2, "keep_prob": 1.0, "val_loss": [v, v / 2]}], "config": {"seed": s}}
    ...         for s, v in [(0, 0.2), (1, 0.4)]]
    >>> m = mean_results(runs)
    >>> m["cells"][0]["val_loss"], m["seeds"]
    ([0.3, 0.15], [0, 1])
    """
    results_list = _check_results_list(results_list)
    if len(results_list) == 1:
        return results_list[0]
    first = results_list[0]
    key = lambda c: (c["depth"], c["keep_prob"])  # noqa: E731
    by_cell = [{key(c): c for c in r["cells"]} for r in results_list]
    if any(set(b) != set(by_cell[0]) for b in by_cell[1:]):
        raise InvalidParameterError("results_list must hold grids of the same cells")
    cells = []
    for c in first["cells"]:
        merged = dict(c)
        for name, series in c.items():
            if isinstance(series, list):
                stacked = np.array([[np.nan if v is None else v for v in b[key(c)][name]] for b in by_cell], dtype=float)
                with np.errstate(invalid="ignore"):
                    mean = np.nanmean(stacked, axis=0) if np.isfinite(stacked).any() else stacked[0]
                merged[name] = [None if not np.isfinite(v) else float(v) for v in mean]
        cells.append(merged)
    out = {k: v for k, v in first.items() if k != "cells"}
    out["cells"] = cells
    out["seeds"] = [int(r.get("config", {}).get("seed", i)) for i, r in enumerate(results_list)]
    out["seed_provenance"] = [r.get("provenance") for r in results_list]
    return out


def trainable_cells(grid: SeedGrid, fraction: float = 0.5):
    """Which cells trained: better than the trivial baseline by ``fraction`` of the way to the grid's best cell.

    Parameters
    ----------
    grid : SeedGrid
    fraction : float, in (0, 1)
        The threshold is ``baseline + fraction * (best - baseline)``, where ``best`` is the best cell of the
        mean over seeds (the lowest loss, the highest accuracy): 0.5 is "closer to the best network of
        the grid than to a network that ignores its input".

    Returns
    -------
    trainable : numpy.ndarray of bool, shape ``(n_seeds, n_depths, n_keep)``
        Per seed and cell (diverged cells are not trainable).
    threshold : float

    Examples
    --------
    >>> g = SeedGrid(np.array([2, 6]), np.array([1.0]), np.array([[[0.01], [0.05]]]), [0], "val_loss",
    ...              "reconstruct", 0.05, False)
    >>> trainable, threshold = trainable_cells(g)
    >>> trainable[0, :, 0].tolist(), threshold
    ([True, False], 0.03)
    """
    grid = _check_grid("grid", grid)
    fraction = check_float("fraction", fraction, 0.0, 1.0, low_open=True, high_open=True)
    mean = grid.mean
    best = np.nanmax(mean) if grid.higher_is_better else np.nanmin(mean)
    threshold = float(grid.baseline + fraction * (best - grid.baseline))
    with np.errstate(invalid="ignore"):
        trainable = grid.values > threshold if grid.higher_is_better else grid.values < threshold
    return trainable & np.isfinite(grid.values), threshold


@dataclass
class DepthMultipleFit:
    r"""Which multiple :math:`k` in :math:`L \le k\,\xi_c` separates trainable from untrainable cells best.

    Attributes
    ----------
    k_low, k_high : float
        Every :math:`k` in ``[k_low, k_high)`` misclassifies the fewest cells (``errors``); where several
        separate ranges tie, the span from the lowest to the highest. ``k_high`` may be ``inf``.
    k : float
        Geometric midpoint of ``[k_low, k_high)`` (``nan`` if the range is unbounded or starts at 0).
    errors, n_cells : int
        Misclassified cells at the best :math:`k`, and all cells (seeds times grid cells).
    errors_at_6 : int
        Misclassified cells with :math:`k = 6`.
    interval : (float, float)
        Bootstrap confidence interval of ``k`` (cells and seeds resampled with replacement).
    level : float
        Its confidence level.
    per_seed : list of (float, float)
        ``(k_low, k_high)`` of each seed's grid alone.
    threshold, fraction : float
        The trainability threshold of :func:`trainable_cells`.
    depth_over_xi, trainable : numpy.ndarray
        :math:`L/\xi_c` of every cell and whether it trained, flattened over seeds and cells.
    """

    k_low: float
    k_high: float
    k: float
    errors: int
    n_cells: int
    errors_at_6: int
    interval: tuple
    level: float
    per_seed: list
    threshold: float
    fraction: float
    depth_over_xi: np.ndarray = field(repr=False)
    trainable: np.ndarray = field(repr=False)

    def errors_at(self, k) -> np.ndarray:
        """Misclassified cells of the rule :math:`L \\le k\\,\\xi_c`, for each ``k``."""
        k = np.atleast_1d(np.asarray(k, dtype=float))
        predicted = self.depth_over_xi[None, :] <= k[:, None]
        return (predicted != self.trainable[None, :]).sum(axis=1)


def _rule_errors(x: np.ndarray, y: np.ndarray):
    """Misclassified cells of the rule "trainable iff x <= k" for every k > 0, as a step function of k.

    Returns ``(lefts, rights, errors)``: every k in ``[lefts[i], rights[i])`` misclassifies ``errors[i]`` cells
    (``y`` says which trained). The first step is ``(0, smallest positive x)``, where only the cells with
    ``x == 0`` (an infinite depth scale) are predicted trainable; the last ends at ``inf``.
    """
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    edges = np.unique(x[x > 0])
    # k in [edges[i], edges[i+1]) predicts trainable exactly the cells with x <= edges[i]; k in (0, edges[0]): x == 0
    counts_le = np.searchsorted(x, np.concatenate([[0.0], edges]), side="right")
    trainable_le = np.concatenate([[0], np.cumsum(y)])[counts_le]
    untrainable_le = counts_le - trainable_le
    errors = untrainable_le + (y.sum() - trainable_le)
    return np.concatenate([[0.0], edges]), np.concatenate([edges, [np.inf]]), errors


def _best_multiple(x: np.ndarray, y: np.ndarray):
    """The span of thresholds k (rule: trainable iff x <= k, k > 0) with the fewest errors, and that count.

    Where several separate ranges tie, the span runs from the lowest to the highest of them.
    """
    lefts, rights, errors = _rule_errors(x, y)
    best = errors.min()
    tied = np.flatnonzero(errors == best)
    return float(lefts[tied[0]]), float(rights[tied[-1]]), int(best)


def _midpoint(low: float, high: float) -> float:
    return math.sqrt(low * high) if 0 < low and math.isfinite(high) else float("nan")


def fit_depth_multiple(grid: SeedGrid, *, fraction: float = 0.5, n_boot: int = 2000, level: float = 0.95,
                       seed: int = 0) -> DepthMultipleFit:
    r"""Fit the multiple :math:`k` of the rule "trainable iff :math:`L \le k\,\xi_c(p)`" to a grid of several seeds.

    Introduced in the chapter *Trainable depth on real data* (``book/trainable_depth.md``).

    Parameters
    ----------
    grid : SeedGrid
        Critically initialised dropout ReLU networks, one cell per depth and keep probability, per seed.
    fraction : float
        Trainability threshold (:func:`trainable_cells`).
    n_boot : int
        Bootstrap resamples of the cells (all seeds' cells pooled, drawn with replacement).
    level : float
        Confidence level of the bootstrap interval (percentiles of the resampled midpoints ``k``).
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    DepthMultipleFit

    Notes
    -----
    The rule predicts a cell trainable when :math:`x = L/\xi_c(p) \le k` (always without dropout, where
    :math:`\xi_c = \infty` and :math:`x = 0`). The number of misclassified cells is a step function of
    :math:`k` that changes only at the cells' values of :math:`x`, so the best :math:`k` is a range between
    two cells, found exactly; its width is one measure of the uncertainty (all :math:`k` in it fit equally
    well), the bootstrap interval of its midpoint another.

    Examples
    --------
    >>> depths, keeps = np.array([2, 6, 10, 14, 18]), np.array([0.5, 0.8, 0.9, 1.0])
    >>> xi = theory.depth_scale(Dropout(keep_prob=keeps))
    >>> loss = np.where(depths[:, None] <= 8 * xi[None, :], 0.01, 0.05)[None]  # trainable below 8 xi_c
    >>> g = SeedGrid(depths, keeps, loss, [0], "val_loss", "reconstruct", 0.05, False)
    >>> fit = fit_depth_multiple(g, n_boot=200)
    >>> fit.errors, fit.k_low <= 8 < fit.k_high
    (0, True)
    """
    grid = _check_grid("grid", grid)
    fraction = check_float("fraction", fraction, 0.0, 1.0, low_open=True, high_open=True)
    n_boot = check_int("n_boot", n_boot, 1)
    level = check_float("level", level, 0.0, 1.0, low_open=True, high_open=True)
    seed = check_int("seed", seed, 0)
    trainable, threshold = trainable_cells(grid, fraction)
    x_cell = grid.depth_over_xi
    x = np.broadcast_to(x_cell, trainable.shape).ravel()
    y = trainable.ravel()
    low, high, errors = _best_multiple(x, y)
    per_seed = [_best_multiple(x_cell.ravel(), t.ravel())[:2] for t in trainable]
    rng = np.random.default_rng(seed)
    boot = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, x.size, x.size)
        boot[b] = _midpoint(*_best_multiple(x[idx], y[idx])[:2])
    tail = 100 * (1 - level) / 2
    finite = boot[np.isfinite(boot)]
    interval = ((float(np.percentile(finite, tail)), float(np.percentile(finite, 100 - tail))) if finite.size
                else (float("nan"), float("nan")))
    fit = DepthMultipleFit(k_low=low, k_high=high, k=_midpoint(low, high), errors=errors, n_cells=int(y.size),
                           errors_at_6=0, interval=interval, level=level, per_seed=per_seed, threshold=threshold,
                           fraction=float(fraction), depth_over_xi=x.copy(), trainable=y.copy())
    fit.errors_at_6 = int(fit.errors_at(6.0)[0])
    return fit


# ------------------------------------------------------------------------------------------------
# what a chapter says about a grid
# ------------------------------------------------------------------------------------------------
@dataclass
class BoundarySummary:
    r"""Numbers about a grid and the curve :math:`L = k\,\xi_c` (:func:`boundary_summary`).

    Attributes
    ----------
    depths, keep_probs, values : numpy.ndarray
        The grid (``values``: one metric, e.g. the mean over seeds).
    baseline : float
    higher_is_better : bool
    multiple : float
    inside : numpy.ndarray of bool
        Cells on or below the curve.
    """

    depths: np.ndarray
    keep_probs: np.ndarray
    values: np.ndarray
    baseline: float
    higher_is_better: bool
    multiple: float
    inside: np.ndarray

    @property
    def n_inside(self) -> int:
        return int(self.inside.sum())

    @property
    def n_outside(self) -> int:
        return int((~self.inside).sum())

    @property
    def median_inside(self) -> float:
        return float(np.nanmedian(self.values[self.inside]))

    @property
    def median_outside(self) -> float:
        return float(np.nanmedian(self.values[~self.inside])) if self.n_outside else float("nan")

    def n_outside_better_than(self, level: float) -> int:
        """Cells above the curve whose value is better than ``level`` (above it for accuracy, below for losses)."""
        v = self.values[~self.inside]
        with np.errstate(invalid="ignore"):
            return int(np.sum(v > level) if self.higher_is_better else np.sum(v < level))

    def _best(self, mask):
        v = np.where(mask & np.isfinite(self.values), self.values, -np.inf if self.higher_is_better else np.inf)
        i = np.unravel_index(np.argmax(v) if self.higher_is_better else np.argmin(v), v.shape)
        return float(self.values[i]), int(self.depths[i[0]]), float(self.keep_probs[i[1]])

    @property
    def best(self):
        """``(value, depth, keep_prob)`` of the best cell."""
        return self._best(np.ones_like(self.inside))

    @property
    def best_outside(self):
        """``(value, depth, keep_prob)`` of the best cell above the curve."""
        return self._best(~self.inside)

    def gain(self, value: float) -> float:
        """How far ``value`` beats the baseline: the fraction of the baseline loss removed (losses), or the
        accuracy above the baseline's (accuracy)."""
        return float(value - self.baseline) if self.higher_is_better else float(1.0 - value / self.baseline)


def boundary_summary(depths, keep_probs, values, baseline: float, *, multiple: float = 6.0,
                     higher_is_better: bool = False) -> BoundarySummary:
    r"""Summarise a grid against the curve :math:`L = k\,\xi_c(p)` (:func:`depth_scale_boundary`).

    Introduced in the chapter *Trainable depth on real data* (``book/trainable_depth.md``).

    Examples
    --------
    >>> s = boundary_summary([2, 40], [0.5, 1.0], [[0.02, 0.01], [0.05, 0.02]], 0.05)
    >>> s.n_inside, s.n_outside, s.best, s.best_outside
    (3, 1, (0.01, 2, 1.0), (0.05, 40, 0.5))
    """
    depths = np.asarray(check_ints("depths", depths, 1))
    keeps = np.atleast_1d(check_in_range("keep_probs", keep_probs, 0.0, 1.0, low_open=True, max_ndim=1))
    values = _real_array("values", values)  # NaN: a diverged cell
    if values.shape != (depths.size, keeps.size):
        raise InvalidParameterError(f"values must have shape (len(depths), len(keep_probs)) = {(depths.size, keeps.size)}, "
                                    f"got {values.shape}")
    baseline = check_float("baseline", baseline)
    higher_is_better = check_bool("higher_is_better", higher_is_better)
    multiple = check_float("multiple", multiple, 0.0, np.inf, low_open=True)
    limit = np.atleast_1d(depth_scale_boundary(keeps, multiple))
    inside = depths[:, None] <= limit[None, :]
    return BoundarySummary(depths=depths, keep_probs=keeps, values=values, baseline=baseline,
                           higher_is_better=higher_is_better, multiple=multiple, inside=inside)


def classification_sentence(summary: BoundarySummary, profile: str, n_epochs: int, n_seeds: int = 1,
                            levels=(0.2, 0.5)) -> str:
    r"""The chapter's paragraph about a classification grid (Markdown), every number from ``summary``.

    Introduced in the chapter *Trainable depth on real data* (``book/trainable_depth.md``).

    Examples
    --------
    >>> s = boundary_summary([2, 40], [0.5, 1.0], [[0.9, 0.95], [0.6, 0.93]], 0.1, higher_is_better=True)
    >>> print(classification_sentence(s, "medium", 20))  # doctest: +NORMALIZE_WHITESPACE
    Stored MNIST classification results (`medium` profile, 20 epochs, 1 seed) are shown below. The median
    validation accuracy is 93.0 % for the cells on or below $6\xi_c$ and 60.0 % above it; always answering
    the most frequent class would give 10.0 %. Of the 1 cells above the curve, 1 exceed 20 % and 1 exceed
    50 % (the best: 60.0 % at *L* = 40, *p* = 0.5). Without dropout the worst depth still reaches 93.0 %.
    """
    if not isinstance(summary, BoundarySummary):
        raise InvalidParameterError(f"summary must be a BoundarySummary (boundary_summary), got {describe(summary)}")
    if not summary.higher_is_better:
        raise InvalidParameterError("summary must be of an accuracy grid (higher_is_better=True)")
    if not isinstance(profile, str):
        raise InvalidParameterError(f"profile must be a profile name, got {describe(profile)}")
    n_epochs, n_seeds = check_int("n_epochs", n_epochs, 1), check_int("n_seeds", n_seeds, 1)
    levels = np.atleast_1d(check_in_range("levels", levels, 0.0, 1.0, max_ndim=1)).tolist()
    pct = lambda v: f"{100 * v:.1f} %"  # noqa: E731
    seeds = f"{n_seeds} seed" + ("" if n_seeds == 1 else "s, averaged")
    text = (f"Stored MNIST classification results (`{profile}` profile, {n_epochs} epochs, {seeds}) are shown "
            f"below. The median validation accuracy is {pct(summary.median_inside)} for the cells on or below "
            f"${summary.multiple:g}\\xi_c$ and {pct(summary.median_outside)} above it; always answering the most "
            f"frequent class would give {pct(summary.baseline)}.")
    if summary.n_outside:
        counts = " and ".join(f"{summary.n_outside_better_than(level)} exceed {100 * level:g} %" for level in levels)
        value, depth, keep = summary.best_outside
        text += (f" Of the {summary.n_outside} cells above the curve, {counts} (the best: {pct(value)} at "
                 f"*L* = {depth}, *p* = {keep:g}).")
    no_dropout = summary.keep_probs == 1.0
    if no_dropout.any():
        text += f" Without dropout the worst depth still reaches {pct(np.nanmin(summary.values[:, no_dropout]))}."
    return text


def spread_sentence(reconstruction: SeedGrid, classification: SeedGrid) -> str:
    """The chapter's sentence about the spread of the two grids over seeds (Markdown).

    Introduced in the chapter *Trainable depth on real data* (``book/trainable_depth.md``).

    Examples
    --------
    >>> rec = SeedGrid(np.array([2, 6]), np.array([1.0]), np.array([[[0.01], [0.05]], [[0.02], [0.05]]]), [0, 1],
    ...                "val_loss", "reconstruct", 0.05, False)
    >>> cls = SeedGrid(rec.depths, rec.keep_probs, np.array([[[0.9], [0.1]], [[0.8], [0.1]]]), [0, 1],
    ...                "val_accuracy", "classify", 0.1, True)
    >>> print(spread_sentence(rec, cls))  # doctest: +NORMALIZE_WHITESPACE
    Across the 2 seeds, the validation loss of a cell varies by a median of 10.0 % of the mean-image loss
    (at most 20.0 %, at *L* = 2, *p* = 1), its accuracy by a median of 5.0 percentage points (at most 10.0,
    at *L* = 2, *p* = 1).
    """
    reconstruction = _check_grid("reconstruction", reconstruction)
    classification = _check_grid("classification", classification)
    n = len(reconstruction.seeds)
    if n < 2 or len(classification.seeds) < 2:
        return "With one seed per cell there is no spread across seeds to show yet."

    def worst(grid, scale):
        spread = grid.spread / scale
        d, k = np.unravel_index(np.nanargmax(spread), spread.shape)
        return (float(np.nanmedian(spread)), float(spread[d, k]), int(grid.depths[d]), float(grid.keep_probs[k]))

    r_med, r_max, r_depth, r_keep = worst(reconstruction, reconstruction.baseline)
    c_med, c_max, c_depth, c_keep = worst(classification, 1.0)
    return (f"Across the {n} seeds, the validation loss of a cell varies by a median of {100 * r_med:.1f} % of the "
            f"mean-image loss (at most {100 * r_max:.1f} %, at *L* = {r_depth}, *p* = {r_keep:g}), its accuracy by a "
            f"median of {100 * c_med:.1f} percentage points (at most {100 * c_max:.1f}, at *L* = {c_depth}, "
            f"*p* = {c_keep:g}).")

# --- the finite-width spread over the trainable-depth grid -------------------------------------------------
@dataclass
class FiniteWidthSpread:
    r"""The spread of the signal over the hidden layers of the trainable-depth networks, at one width.

    Attributes
    ----------
    width : int
        :math:`N`.
    depths, keep_probs : numpy.ndarray
        The grid (depth :math:`L` = number of hidden layers).
    std : numpy.ndarray, shape ``(n_depths, n_keep)``
        Standard deviation over networks of :math:`\ln(\hat q^{\,L}/v^1)` (exact theory, given survival;
        ``nan`` where no network survives: ``dead`` is 1 in float64, e.g. ``keep_prob = 1e-300``).
    median : numpy.ndarray, shape ``(n_depths, n_keep)``
        Median of :math:`\ln(\hat q^{\,L}/v^1)`: the typical network's loss of signal (``nan`` as ``std``).
    dead : numpy.ndarray, shape ``(n_depths, n_keep)``
        Probability that one of the :math:`L` hidden layers silences every unit (the forward pass then
        carries no signal to the read-out).
    boundary : numpy.ndarray, shape ``(n_keep,)``
        :math:`k\,\xi_c(p)`.
    multiple : float
        :math:`k`.
    """

    width: int
    depths: np.ndarray
    keep_probs: np.ndarray
    std: np.ndarray
    median: np.ndarray
    dead: np.ndarray
    boundary: np.ndarray
    multiple: float


def finite_width_spread(depths, keep_probs, width, *, multiple: float = 6.0) -> FiniteWidthSpread:
    r"""How far one network of a trainable-depth grid strays from the mean field at initialisation.

    Introduced in the chapter *Beyond both papers: how wide is wide enough?* (``book/finite_width.md``).

    Parameters
    ----------
    depths : int or sequence of int, in [1, 2**63 - 1]
        Numbers of hidden layers :math:`L`.
    keep_probs : sequence of float, in (0, 1]
        Dropout keep probabilities :math:`p`.
    width : int, >= 1
        Hidden width :math:`N` (the ``medium`` profile: 128; the paper: 1000).
    multiple : float, > 0
        :math:`k` of the rule :math:`L \le k\,\xi_c` drawn alongside.

    Returns
    -------
    FiniteWidthSpread

    Notes
    -----
    The grid's networks (:func:`nsp_helpers.train.cell_network`) take data without a ReLU, with dropout, into
    the first hidden layer, then :math:`L - 1` hidden layers of width :math:`N`, critically initialised
    (:math:`\sigma_w^2 = 2p`, no bias). Given the first layer's conditional variance :math:`v^1`, its
    pre-activations are i.i.d. :math:`\mathcal{N}(0, v^1)`, so from there on the exact random walk of the
    finite-width chapter applies: :math:`\ln(\hat q^{\,L}/v^1)` is the sum of :math:`L - 1` steps and the last
    layer's :math:`\ln(\chi^2_N/N)`, i.e. :func:`nsp_helpers.theory.finite_width.log_q_cumulants` with
    ``n_layers = L - 1`` and ``inputs="gaussian"``. What the input layer's dropout adds depends on the image
    and is left out. The death probability is :math:`1 - (1 - (1 - p/2)^N)^L`.

    Examples
    --------
    >>> s = finite_width_spread([2, 40], [0.1, 1.0], 128)
    >>> s.std.round(2)                          # leading order at p = 0.1: sqrt(59/128) = 0.68 per layer
    array([[0.92, 0.24],
           [5.69, 1.26]])
    >>> round(float(s.dead[1, 0]), 3)           # 40 layers at p = 0.1: 1 - (1 - 0.95^128)^40
    0.055
    """
    if isinstance(depths, np.ndarray) and depths.ndim == 0:
        depths = depths.item()
    if isinstance(depths, numbers.Integral) and not isinstance(depths, (bool, np.bool_)):
        depths = [depths]  # one depth
    depths = np.asarray(check_ints("depths", depths, 1), dtype=np.int64)  # integers in [1, 2**63 - 1], 1-D
    keeps = np.atleast_1d(check_in_range("keep_probs", keep_probs, 0.0, 1.0, low_open=True, max_ndim=1))
    width = check_int("width", width, 1, allow_integral_float=True)
    multiple = check_float("multiple", multiple, 0.0, np.inf, low_open=True)
    noise = Dropout(keep_prob=keeps)
    steps = (depths - 1)[:, None]
    cum = fw.log_q_cumulants(steps, width, noise, inputs="gaussian")
    median = fw.log_q_quantiles(0.5, steps, width, noise, inputs="gaussian")
    per_layer = np.asarray(fw.layer_death_probability(width, noise))
    dead = -np.expm1(depths[:, None] * np.log1p(-per_layer))  # 1 - (1 - P0)^L, accurate for tiny P0
    return FiniteWidthSpread(width=int(width), depths=depths, keep_probs=keeps, std=np.sqrt(np.asarray(cum.variance)),
                             median=np.asarray(median), dead=dead,
                             boundary=np.atleast_1d(depth_scale_boundary(keeps, multiple)), multiple=multiple)


@dataclass
class SpreadAtDepartures:
    r"""The cells of a trainable-depth grid that depart from :math:`L \le k\,\xi_c`, with their finite-width spread.

    Attributes
    ----------
    results : dict
        The grid (its ``config`` says task, width, seed).
    metric : str
    comparison : RuleComparison
        The observed trainable cells (:func:`trainable_depth_rules`).
    spread : FiniteWidthSpread
        At the grid's width.
    predicted : numpy.ndarray of bool, shape ``(n_depths, n_keep)``
        :math:`L \le k\,\xi_c(p)`.
    agreement : float
        Fraction of cells the rule gets right.
    best_max_std : float
        The spread limit :math:`s` that makes the rule ":math:`L \le k\,\xi_c` *and* sd :math:`\le s`" agree
        best with the grid (``inf``: no limit helps; the largest such :math:`s` on ties).
    agreement_with_spread : float
        Its agreement (never below ``agreement``).
    """

    results: dict
    metric: str
    comparison: RuleComparison
    spread: FiniteWidthSpread
    predicted: np.ndarray
    agreement: float
    best_max_std: float
    agreement_with_spread: float

    @property
    def departures(self) -> np.ndarray:
        """Cells where the rule and the grid disagree."""
        return self.predicted != self.comparison.trainable

    @property
    def n_fixed(self) -> int:
        """How many more cells the best spread limit gets right than the rule alone."""
        return int(round((self.agreement_with_spread - self.agreement) * self.predicted.size))

    @property
    def max_std_trainable(self) -> float:
        """The largest spread among the cells that trained (``nan`` if none did)."""
        t = self.comparison.trainable
        return float(self.spread.std[t].max()) if t.any() else float("nan")

    def departure_rows(self) -> list[dict]:
        """One dict per departing cell: depth, keep_prob, trained, predicted, std, median, dead."""
        rows = []
        for i, j in zip(*np.nonzero(self.departures)):
            rows.append({"depth": int(self.spread.depths[i]), "keep_prob": float(self.spread.keep_probs[j]),
                         "trained": bool(self.comparison.trainable[i, j]), "predicted": bool(self.predicted[i, j]),
                         "std": float(self.spread.std[i, j]), "median": float(self.spread.median[i, j]),
                         "dead": float(self.spread.dead[i, j])})
        return rows


def spread_at_rule_departures(results, metric: str = "val_loss", *, multiple: float = 6.0, threshold=None
                              ) -> SpreadAtDepartures:
    r"""Does the finite-width spread of the signal explain where a grid departs from :math:`L \le k\,\xi_c`?

    Introduced in the chapter *Beyond both papers: how wide is wide enough?* (``book/finite_width.md``).

    Parameters
    ----------
    results : dict
        A trainable-depth grid (:func:`nsp_helpers.train.load_results`); its width is read from its config.
    metric, threshold : optional
        Which final loss decides "trainable", and below what (see :func:`trainable_depth_rules`).
    multiple : float
        :math:`k`.

    Returns
    -------
    SpreadAtDepartures

    Notes
    -----
    The test: if a large spread of :math:`\ln\hat q^{\,L}` over networks (or a dead forward pass) were what
    stops some cells below the curve from training, a rule that also asks for a spread below some limit
    :math:`s`, :math:`L \le k\,\xi_c(p)` and :math:`\mathrm{sd}(L, p, N) \le s`, would agree with the grid
    better than the rule alone. The best :math:`s` is found by trying every spread of the grid.

    Examples
    --------
    >>> cells = [{"depth": d, "keep_prob": p, "val_loss": [0.01 if d <= 6 and p > 0.3 else 0.1]}
    ...          for d in (2, 6, 10) for p in (0.2, 0.5, 1.0)]
    >>> out = spread_at_rule_departures({"cells": cells, "config": {"width": 128}})
    >>> [(r["depth"], r["keep_prob"], r["trained"]) for r in out.departure_rows()]
    [(2, 0.2, False), (6, 0.5, True), (10, 1.0, False)]
    >>> out.agreement, out.agreement_with_spread, out.n_fixed, round(out.best_max_std, 3)
    (0.6666666666666666, 0.8888888888888888, 2, 0.466)
    """
    if not isinstance(results, dict) or not isinstance(results.get("config"), dict) or "width" not in results["config"]:
        raise InvalidParameterError("results must be a trainable-depth results dict with a config that gives the width")
    comparison = trainable_depth_rules(results, metric, threshold=threshold, multiples=(multiple,))
    spread = finite_width_spread(comparison.depths, comparison.keep_probs, results["config"]["width"], multiple=multiple)
    predicted = comparison.depths[:, None] <= spread.boundary[None, :]
    observed = comparison.trainable
    agreement = float((predicted == observed).mean())
    best, best_s = agreement, np.inf
    for s in np.unique(spread.std)[::-1]:  # largest first: ties keep the loosest limit
        score = float(((predicted & (spread.std <= s)) == observed).mean())
        if score > best + 1e-12:
            best, best_s = score, float(s)
    return SpreadAtDepartures(results=results, metric=metric, comparison=comparison, spread=spread,
                              predicted=predicted, agreement=agreement, best_max_std=best_s,
                              agreement_with_spread=best)


def stored_grids(dataset: str = "mnist", task: str = "reconstruct", profile: str = "medium", *, root=None) -> list[dict]:
    """Every stored grid of one data set, task and profile, one per configuration (e.g. one per seed).

    Introduced in the chapter *Beyond both papers: how wide is wide enough?* (``book/finite_width.md``).

    Files are those :func:`nsp_helpers.train.stored_results` would consider
    (``{dataset}_{task}_{profile}[_{hash}].json``); of several files with the same configuration the
    most recently finished is kept. Sorted by seed.

    Returns
    -------
    list of dict
        Each with ``"path"`` added; empty if none is stored.

    Examples
    --------
    >>> stored_grids("mnist", "reconstruct", "quick", root="no/such/folder")
    []
    """
    import re

    from .errors import check_choice, check_path
    from .train import DATASETS, TASKS, _check_name_token

    dataset, task = check_choice("dataset", dataset, DATASETS), check_choice("task", task, TASKS)
    profile = _check_name_token("profile", profile)
    root = results_dir() if root is None else check_path("root", root)
    if not root.is_dir():
        return []
    pattern = re.compile(rf"{re.escape(dataset)}_{re.escape(task)}_{re.escape(profile)}(_[0-9a-f]{{10}})?\.json")
    grids = [load_results(p) | {"path": str(p)} for p in sorted(root.iterdir()) if pattern.fullmatch(p.name)]
    grids.sort(key=lambda r: str(r.get("provenance", {}).get("finished", "")), reverse=True)
    unique = []
    for grid in grids:
        if not any(grid["config"] == kept["config"] for kept in unique):
            unique.append(grid)
    return sorted(unique, key=lambda r: (r["config"].get("seed", 0), r["path"]))


# ----------------------------------------------------------------------------------------------------
# Huang et al.'s trainable length: which multiple of which depth scale bounds the trainable region
# (grids over sigma_w2 and depth, and the critical grids of trainable_depth; issue 11)
# ----------------------------------------------------------------------------------------------------

@dataclass
class MultipleFit:
    r"""The multiple :math:`k` for which the rule "trainable iff :math:`L \le k\,\xi`" agrees best with a grid.

    Attributes
    ----------
    multiple : float
        :math:`\hat k`, the geometric midpoint of the interval of multiples with the highest agreement
        (``inf`` if the best rule predicts every cell trainable, ``0`` if it predicts only the cells with
        :math:`\xi = \infty` trainable, e.g. when none trained).
    stderr : float
        Standard deviation of the finite :math:`\hat k` over bootstrap resamples of the cells (``nan`` when
        fewer than two are finite: every cell, or every resample's cells, on one side of the threshold).
    interval : tuple of float
        The 16th and 84th percentiles of the bootstrap :math:`\hat k` (a one-sigma band that need not be
        symmetric; ``nan`` without resamples).
    best_range : tuple of float
        All multiples in this range reach the highest agreement on the grid itself.
    agreement : float
        The fraction of cells the best rule classifies correctly.
    n_cells : int
    """

    multiple: float
    stderr: float
    interval: tuple
    best_range: tuple
    agreement: float
    n_cells: int


def _best_ratio_multiple(ratio: np.ndarray, trainable: np.ndarray) -> tuple[float, float, float, float]:
    """``(k, low, high, agreement)``: the multiples ``k`` in ``[low, high)`` maximise the agreement of
    ``ratio <= k`` with ``trainable`` (the first such range on ties; the step function of :func:`_rule_errors`).
    ``k`` is the geometric midpoint, ``0`` for the first range (only cells with ratio 0 predicted trainable) and
    ``inf`` for the last (every cell predicted trainable)."""
    lefts, rights, errors = _rule_errors(ratio, trainable)
    j = int(np.argmin(errors))
    low, high = float(lefts[j]), float(rights[j])
    k = 0.0 if low == 0 else (np.inf if not np.isfinite(high) else math.sqrt(low * high))
    return k, low, high, float(1.0 - errors[j] / ratio.size)


def fit_depth_scale_multiple(depths, depth_scale, trainable, *, n_boot: int = 500, seed: int = 0) -> MultipleFit:
    r"""Fit :math:`k` in the rule "a network of depth :math:`L` trains iff :math:`L \le k\,\xi`" to observed cells.

    Introduced in the chapter *Trainable length after Huang et al.* (``book/trainable_length.md``).

    Parameters
    ----------
    depths : array_like, > 0
        Depth :math:`L` of every cell.
    depth_scale : array_like, > 0
        The depth scale :math:`\xi` of every cell (``inf`` where it diverges), same shape.
    trainable : array_like of bool
        Whether each cell trained, same shape.
    n_boot : int
        Bootstrap resamples of the cells for the uncertainty.
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    MultipleFit

    Notes
    -----
    The agreement :math:`A(k) = \frac1n\sum_i \mathbb{1}[(L_i \le k\,\xi_i) = \text{trainable}_i]` is a step
    function of :math:`k` that changes only at the ratios :math:`L_i/\xi_i`; :math:`\hat k` is the
    geometric midpoint of the interval where it is highest (the first such interval on ties). The
    bootstrap resamples cells with replacement and repeats the fit.

    Examples
    --------
    >>> L = np.array([10, 20, 40, 80, 10, 20, 40, 80])
    >>> xi = np.array([5.0] * 4 + [10.0] * 4)
    >>> fit = fit_depth_scale_multiple(L, xi, L <= 6 * xi, n_boot=50)
    >>> fit.best_range, fit.agreement, round(fit.multiple, 3)
    ((4.0, 8.0), 1.0, 5.657)
    """
    L = check_in_range("depths", depths, 0.0, np.inf, low_open=True).ravel()
    try:
        raw = np.asarray(depth_scale)
        xi = raw.astype(float).ravel()
    except (TypeError, ValueError):
        raise InvalidParameterError(f"depth_scale must be an array of positive numbers (inf allowed), got {depth_scale!r}") from None
    if raw.dtype.kind not in "iuf" or np.any(np.isnan(xi)) or np.any(xi <= 0):
        raise InvalidParameterError(f"depth_scale must be an array of positive numbers (inf allowed), got {depth_scale!r}")
    t = np.asarray(trainable)
    if t.dtype != bool:
        raise InvalidParameterError(f"trainable must be an array of booleans, got dtype {t.dtype}")
    t = t.ravel()
    if not (L.size == xi.size == t.size) or L.size == 0:
        raise InvalidParameterError(f"depths, depth_scale and trainable must have the same non-zero size, got {L.size}, {xi.size}, {t.size}")
    n_boot = check_int("n_boot", n_boot, 2)
    ratio = L / xi  # 0 where xi is infinite: predicted trainable for every k > 0
    k, low, high, agreement = _best_ratio_multiple(ratio, t)
    rng = np.random.default_rng(check_int("seed", seed, 0))
    boots = np.array([_best_ratio_multiple(ratio[idx], t[idx])[0] for idx in rng.integers(0, L.size, (n_boot, L.size))])
    finite = boots[np.isfinite(boots)]
    stderr = float(finite.std(ddof=1)) if finite.size > 1 else float("nan")
    interval = tuple(float(v) for v in np.percentile(boots, [16, 84], method="nearest")) if boots.size else (float("nan"),) * 2
    return MultipleFit(multiple=k, stderr=stderr, interval=interval, best_range=(low, high), agreement=agreement,
                       n_cells=int(L.size))


@dataclass
class TrainableLengthComparison:
    r"""Depth-scale rules against one :math:`(\sigma_w^2, L)` map (:func:`trainable_length_rules`).

    Attributes
    ----------
    depths, sigma_w2s : numpy.ndarray
        The grid.
    keep_prob : float
    values : numpy.ndarray, shape ``(n_depths, n_sigma)``
        The metric judged (e.g. validation accuracy).
    trainable : numpy.ndarray of bool, same shape
    threshold : float
    scales : dict
        ``"xi_1"`` and ``"xi_2"`` (:math:`\xi_2 = \xi_c`): the depth scale for every :math:`\sigma_w^2`.
    agreement : dict
        Rule name (``"12·xi_1"``, ``"6·xi_2"``, ``"12·xi_2"``) -> fraction of cells classified correctly.
    fits : dict
        ``"xi_1"``, ``"xi_2"`` -> :class:`MultipleFit`, the best multiple of each scale.
    """

    depths: np.ndarray
    sigma_w2s: np.ndarray
    keep_prob: float
    values: np.ndarray
    trainable: np.ndarray
    threshold: float
    scales: dict
    agreement: dict
    fits: dict

    @property
    def best_scale(self) -> str:
        """The depth scale whose best multiple agrees with the grid best (``"xi_1"`` on ties)."""
        return max(self.fits, key=lambda k: self.fits[k].agreement)


def huang_depth_scales(sigma_w2s, keep_prob: float, sigma_b2: float = 0.05, activation: str = "tanh") -> dict:
    r"""Huang et al.'s depth scales :math:`\xi_1 = 1/|\ln\chi_1|` and :math:`\xi_2 = 1/|\ln\chi(c^*)|` for each
    :math:`\sigma_w^2` (:func:`nsp_helpers.theory.gradient_slopes`).

    Examples
    --------
    >>> s = huang_depth_scales([1.0, 3.0], 1.0)
    >>> [round(float(v), 2) for v in s["xi_1"]], [round(float(v), 2) for v in s["xi_2"]]
    ([3.63, 5.27], [3.63, 9.05])
    """
    keep_prob = check_float("keep_prob", keep_prob, 0.0, 1.0, low_open=True)
    sigma_b2 = check_float("sigma_b2", sigma_b2, 0.0)
    sws = np.atleast_1d(check_in_range("sigma_w2s", sigma_w2s, 0.0, np.inf, low_open=True, max_ndim=1))
    slopes = [theory.gradient_slopes(Dropout(keep_prob=keep_prob), float(s), sigma_b2, activation) for s in sws]
    return {"xi_1": np.array([s.depth_scale_single for s in slopes]), "xi_2": np.array([s.depth_scale_pair for s in slopes])}


def trainable_length_rules(results, keep_prob: float | None = None, metric: str = "val_accuracy", *, threshold=None,
                           n_boot: int = 500, seed: int = 0) -> TrainableLengthComparison:
    r"""Compare :math:`12\xi_1`, :math:`6\xi_2`, :math:`12\xi_2` and the best multiples of :math:`\xi_1` and :math:`\xi_2`
    with a :math:`(\sigma_w^2, L)` map of Huang et al.'s trainable-length experiment.

    Introduced in the chapter *Trainable length after Huang et al.* (``book/trainable_length.md``).

    Parameters
    ----------
    results : dict
        A grid over ``sigma_w2s`` from :func:`nsp_helpers.train.load_results` (tanh networks).
    keep_prob : float, optional
        Which keep probability (required if the grid has several).
    metric : str
        ``"val_accuracy"`` (default; trainable: above ``threshold``) or a loss (trainable: below it).
    threshold : float, optional
        Default: halfway between the accuracy of always predicting the most frequent class (the
        results' baseline) and the best accuracy of the map; for a loss, halfway between the smallest
        and the largest finite value.
    n_boot, seed : int
        Bootstrap of :func:`fit_depth_scale_multiple`.

    Returns
    -------
    TrainableLengthComparison

    Examples
    --------
    >>> cfg = {"sigma_w2s": [1.0, 3.0], "sigma_b2": 0.05, "activation": "tanh"}
    >>> cells = [{"depth": d, "keep_prob": 1.0, "sigma_w2": s, "val_accuracy": [0.9 if d < 40 else 0.1]}
    ...          for d in (10, 20, 40, 80) for s in (1.0, 3.0)]
    >>> cmp = trainable_length_rules({"config": cfg, "cells": cells}, n_boot=20)
    >>> int(cmp.trainable.sum()), sorted(cmp.agreement)
    (4, ['12·xi_1', '12·xi_2', '6·xi_2'])
    """
    from .train import results_sigma_grid

    if not isinstance(results, dict) or not isinstance(results.get("config"), dict):
        raise InvalidParameterError("results must be a results dict with its config (a grid over sigma_w2)")
    cfg = results["config"]
    depths, sws, values = results_sigma_grid(results, metric, keep_prob=keep_prob)
    keep = float(results["cells"][0]["keep_prob"] if keep_prob is None else keep_prob)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise InvalidParameterError(f"results must hold finite values of {metric!r}")
    accuracy = metric.endswith("accuracy")
    if threshold is None:
        if accuracy:
            chance = float((results.get("baselines") or {}).get("most frequent class (accuracy)", 0.1))
            threshold = 0.5 * (chance + finite.max())
        else:
            threshold = 0.5 * (finite.min() + finite.max())
    threshold = check_float("threshold", threshold)
    trainable = np.isfinite(values) & ((values > threshold) if accuracy else (values < threshold))
    scales = huang_depth_scales(sws, keep, float(cfg.get("sigma_b2", 0.05)), str(cfg.get("activation", "tanh")))
    L = np.broadcast_to(depths[:, None], values.shape)
    agreement = {}
    for name, k, scale in (("12·xi_1", 12, "xi_1"), ("6·xi_2", 6, "xi_2"), ("12·xi_2", 12, "xi_2")):
        agreement[name] = float(((L <= k * scales[scale][None, :]) == trainable).mean())
    fits = {name: fit_depth_scale_multiple(L, np.broadcast_to(xi[None, :], values.shape), trainable, n_boot=n_boot, seed=seed)
            for name, xi in scales.items()}
    return TrainableLengthComparison(depths=depths, sigma_w2s=sws, keep_prob=keep, values=values, trainable=trainable,
                                     threshold=threshold, scales=scales, agreement=agreement, fits=fits)


__all__ += ["MultipleFit", "TrainableLengthComparison", "fit_depth_scale_multiple", "huang_depth_scales",
            "trainable_length_rules"]
