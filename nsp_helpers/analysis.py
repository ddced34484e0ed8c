r"""Analysis of stored training results: which depth-scale rule bounds the trainable region.

This module sits above training (:mod:`nsp_helpers.train` writes the grids it reads) and below the
figures. The boundary :math:`L = k\,\xi_c(p)` that the book draws over every trainable-depth grid is
computed here, once (:func:`depth_scale_boundary`).

Introduced in the chapters *Trainable depth on real data* (``book/trainable_depth.md``) and
*Trainable length after Huang et al.* (``book/trainable_length.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import theory
from .errors import InvalidParameterError, check_in_range
from .noise import Dropout
from .train import results_grid

__all__ = ["RuleComparison", "depth_scale_boundary", "trainable_depth_rules"]


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
    k = float(check_in_range("multiple", multiple, 0.0, np.inf, low_open=True))
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

    Introduced in the chapter *Trainable length after Huang et al.* (``book/trainable_length.md``).

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
    threshold = float(check_in_range("threshold", threshold, -np.inf, np.inf))
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


# ----------------------------------------------------------------------------------------------------
# Huang et al.'s trainable length: which multiple of which depth scale bounds the trainable region
# (grids over sigma_w2 and depth, and the critical grids of trainable_depth; issue 11)
# ----------------------------------------------------------------------------------------------------
from .errors import check_int  # noqa: E402  (this section's own import, kept beside it)

@dataclass
class MultipleFit:
    r"""The multiple :math:`k` for which the rule "trainable iff :math:`L \le k\,\xi`" agrees best with a grid.

    Attributes
    ----------
    multiple : float
        :math:`\hat k`, the geometric midpoint of the interval of multiples with the highest agreement
        (``inf`` if every cell trained, ``0`` if none did).
    stderr : float
        Standard deviation of :math:`\hat k` over bootstrap resamples of the cells.
    interval : tuple of float
        The 16th and 84th percentiles of the bootstrap :math:`\hat k` (a one-sigma band that need not be
        symmetric).
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


def _best_multiple(ratio: np.ndarray, trainable: np.ndarray) -> tuple[float, float, float, float]:
    """``(k, low, high, agreement)``: the multiples ``k`` in ``[low, high)`` maximise the agreement of
    ``ratio <= k`` with ``trainable``."""
    order = np.argsort(ratio, kind="stable")
    r, t = ratio[order], trainable[order]
    n = r.size
    # k below every ratio: all predicted untrainable; above the j-th: the first j predicted trainable
    correct = np.concatenate([[np.sum(~t)], np.sum(~t) + np.cumsum(np.where(t, 1, -1))])
    # k can only sit between distinct ratios
    valid = np.concatenate([[True], np.append(r[1:] > r[:-1], True)])
    correct = np.where(valid, correct, -1)
    j = int(np.argmax(correct))
    low = 0.0 if j == 0 else r[j - 1]
    high = np.inf if j == n else r[j]
    if j == 0:
        k = 0.0
    elif j == n or not np.isfinite(high):
        k = np.inf
    else:
        k = float(np.sqrt(low * high))
    return k, float(low), float(high), float(correct[j] / n)


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
    k, low, high, agreement = _best_multiple(ratio, t)
    rng = np.random.default_rng(check_int("seed", seed, 0))
    boots = np.array([_best_multiple(ratio[idx], t[idx])[0] for idx in rng.integers(0, L.size, (n_boot, L.size))])
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
    keep_prob = float(check_in_range("keep_prob", keep_prob, 0.0, 1.0, low_open=True))
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
    threshold = float(check_in_range("threshold", threshold, -np.inf, np.inf))
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


def critical_grid_multiple(results, metric: str = "train_loss", *, threshold=None, n_boot: int = 500,
                           seed: int = 0) -> MultipleFit:
    r"""The best multiple of :math:`\xi_c` for a critical dropout ReLU grid of *Trainable depth* (``book/trainable_depth.md``).

    A loss (``"train_loss"``, ``"val_loss"``) judges cells as :func:`trainable_depth_rules` does (below the
    midpoint of the grid's range by default); ``"val_accuracy"`` counts a cell as trained above the midpoint
    between always predicting the most frequent class and the grid's best accuracy. :math:`\xi_1 = \infty`
    for these networks, so only :math:`\xi_c` can bound the region; without dropout :math:`\xi_c = \infty`
    (every depth predicted trainable).

    Examples
    --------
    >>> res = {"cells": [{"depth": d, "keep_prob": p, "train_loss": [0.01 if d <= 10 * p else 0.1]}
    ...                  for d in (2, 6, 10) for p in (0.5, 1.0)]}
    >>> critical_grid_multiple(res, n_boot=20).agreement
    1.0
    """
    if isinstance(metric, str) and metric.endswith("accuracy"):
        depths, keeps, values = results_grid(results, metric=metric)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            raise InvalidParameterError(f"results must hold finite values of {metric!r}")
        if threshold is None:
            chance = float((results.get("baselines") or {}).get("most frequent class (accuracy)", 0.1))
            threshold = 0.5 * (chance + finite.max())
        threshold = float(check_in_range("threshold", threshold, -np.inf, np.inf))
        trainable = np.isfinite(values) & (values > threshold)
    else:
        cmp = trainable_depth_rules(results, metric, threshold=threshold)
        depths, keeps, trainable = cmp.depths, cmp.keep_probs, cmp.trainable
    xi = np.atleast_1d(theory.depth_scale(Dropout(keep_prob=keeps)))
    L = np.broadcast_to(depths[:, None], trainable.shape)
    return fit_depth_scale_multiple(L, np.broadcast_to(xi[None, :], L.shape), trainable, n_boot=n_boot, seed=seed)


__all__ += ["MultipleFit", "TrainableLengthComparison", "fit_depth_scale_multiple", "huang_depth_scales",
            "trainable_length_rules", "critical_grid_multiple"]
