r"""Analysis of stored training results: which depth-scale rule bounds the trainable region.

This module sits above training (:mod:`nsp_helpers.train` writes the grids it reads) and below the
figures. The boundary :math:`L = k\,\xi_c(p)` that the book draws over every trainable-depth grid is
computed here, once (:func:`depth_scale_boundary`).

Introduced in the chapters *Trainable depth on real data* (``book/trainable_depth.md``) and
*Backpropagation through noisy networks* (``book/gradients.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import theory
from .errors import InvalidParameterError, check_float, check_in_range
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
