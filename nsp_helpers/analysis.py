r"""Analysis of stored training results: which depth-scale rule bounds the trainable region.

This module sits above training (:mod:`nsp_helpers.train` writes the grids it reads) and below the
figures. The boundary :math:`L = k\,\xi_c(p)` that the book draws over every trainable-depth grid is
computed here, once (:func:`depth_scale_boundary`). :func:`finite_width_spread` and
:func:`spread_at_rule_departures` ask whether the finite-width spread of the signal (the book's own
material, :mod:`nsp_helpers.theory.finite_width`) explains the cells where a grid departs from the rule;
:func:`stored_grids` loads every stored grid of a profile (one per seed).

Introduced in the chapters *Trainable depth on real data* (``book/trainable_depth.md``) and
*Backpropagation through noisy networks* (``book/gradients.md``); the finite-width part in *Beyond both
papers: how wide is wide enough?* (``book/finite_width.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import theory
from .errors import InvalidParameterError, check_in_range, check_int
from .noise import Dropout
from .theory import finite_width as fw
from .train import load_results, results_dir, results_grid

__all__ = [
    "RuleComparison",
    "depth_scale_boundary",
    "trainable_depth_rules",
    "FiniteWidthSpread",
    "finite_width_spread",
    "SpreadAtDepartures",
    "spread_at_rule_departures",
    "stored_grids",
]


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
        Standard deviation over networks of :math:`\ln(\hat q^{\,L}/v^1)` (exact theory, given survival).
    median : numpy.ndarray, shape ``(n_depths, n_keep)``
        Median of :math:`\ln(\hat q^{\,L}/v^1)`: the typical network's loss of signal.
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
    depths : sequence of int, >= 1
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
    depths = np.atleast_1d(np.asarray(depths))
    if depths.size == 0 or not np.issubdtype(depths.dtype, np.integer) or depths.min() < 1 or depths.ndim != 1:
        raise InvalidParameterError(f"depths must be a 1-D sequence of integers >= 1, got {depths!r}")
    keeps = np.atleast_1d(check_in_range("keep_probs", keep_probs, 0.0, 1.0, low_open=True, max_ndim=1))
    width = check_int("width", width, 1, allow_integral_float=True)
    multiple = float(check_in_range("multiple", multiple, 0.0, np.inf, low_open=True))
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
    from pathlib import Path

    for name, value in (("dataset", dataset), ("task", task), ("profile", profile)):
        if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9._-]+", value):
            raise InvalidParameterError(f"{name} must be a short name of letters, digits, '.', '_' or '-', got {value!r}")
    root = results_dir() if root is None else Path(root)
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
