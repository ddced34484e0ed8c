r"""Mean-field gradient propagation: the per-layer factors :math:`\chi_1` (one input) and :math:`\chi(c^*)` (pairs)
by which backpropagated gradient moments shrink or grow, their depth scales, and Huang et al.'s closed forms
for noisy linear networks (under the gradient independence assumption).

Introduced in the chapter *Backpropagation through noisy networks* (``book/gradients.md``); the Monte Carlo
measurement of the same statistics is :mod:`nsp_helpers.simulate.gradients`.

References
----------
.. [1] W. Huang, R. Y. D. Xu, W. Du, Y. Zeng, Y. Zhao. *Mean field theory for deep dropout networks:
   digging up gradient backpropagation deeply.* ECAI 2020 (Frontiers in Artificial Intelligence and
   Applications 325), pp. 1215-1222, arXiv:1912.09132.
.. [2] S. S. Schoenholz, J. Gilmer, S. Ganguli, J. Sohl-Dickstein. *Deep information propagation.*
   ICLR 2017.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..activations import get_activation
from ..errors import InvalidParameterError, check_float, check_in_range
from ..network import NoisyNetwork
from ._common import _Q_TINY, _out, _snap_one
from .correlation import _fixed_q, _infinite_q_error, _setup_corr, correlation_fixed_point, correlation_slope
from .critical import _parameters
from .variance import variance_fixed_point

__all__ = [
    "GradientSlopes",
    "LinearClosedForms",
    "gradient_slope",
    "gradient_depth_scale",
    "gradient_slopes",
    "linear_network_closed_forms",
    "linear_tied_excess",
]


def _single(noise, sigma_w2, sigma_b2, activation):
    """:func:`~nsp_helpers.theory.critical._parameters` for one network (not a family): floats."""
    noise, sw, sb, activation = _parameters(noise, sigma_w2, sigma_b2, activation)
    if np.broadcast_shapes(noise.shape, sw.shape, sb.shape) != ():
        raise InvalidParameterError(
            f"noise, sigma_w2 and sigma_b2 must describe a single network (loop over a family), got noise {noise!r}, "
            f"sigma_w2 {sw}, sigma_b2 {sb}"
        )
    return noise, float(sw), float(sb), activation


def gradient_slope(noise, sigma_w2=None, sigma_b2=None, activation="relu"):
    r"""The per-layer growth factor :math:`\chi_1` of backpropagated gradient variance.

    Used in the chapter *Beyond the paper: a noisy edge of chaos* (``book/edge_of_chaos.md``);
    the gradient analysis is Huang et al. (2020).

    Parameters
    ----------
    noise : NoiseModel or NoisyNetwork
        Noise model (or family), or a whole network description (then leave out ``sigma_w2``,
        ``sigma_b2`` and ``activation``).
    sigma_w2 : float, array_like or None, optional
        Weight variance (default ``None``: critical, see :func:`critical_parameters`).
    sigma_b2 : float, array_like or None, optional
        Bias variance (``None``: 0, or the critical one).
    activation : optional
        Default ``"relu"``.

    Returns
    -------
    float or numpy.ndarray
        :math:`\chi_1`: gradients grow (:math:`\chi_1 > 1`) or shrink (:math:`< 1`) by this factor
        per layer, going back from the output.

    Notes
    -----
    At the variance fixed point :math:`q^*`,

    .. math::

       \chi_1 = \sigma_w^2\, \mu_2\, \mathbb{E}\!\left[\phi'(\sqrt{q^*}z)^2\right],

    which for ReLU is :math:`\sigma_w^2\mu_2/2`: exactly 1 at criticality (values within
    :math:`10^{-12}` of 1 are returned as 1). For dropout :math:`\mu_2 = 1/\rho` (Huang et al.'s
    :math:`\rho` is the keep probability).

    References
    ----------
    .. [1] W. Huang et al. *Mean field theory for deep dropout networks: digging up gradient
       backpropagation deeply.* ECAI 2020.
    .. [2] S. S. Schoenholz et al. *Deep information propagation.* ICLR 2017.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> gradient_slope(Dropout(keep_prob=0.6))
    1.0
    >>> round(gradient_slope(Dropout(keep_prob=0.9), sigma_w2=1.4, sigma_b2=0.1, activation="tanh"), 4)
    0.8937
    """
    shape, _, sw, sb, mu2, av, kern = _setup_corr(noise, sigma_w2, sigma_b2, activation)
    if kern.homogeneous:
        chi = _snap_one(sw * mu2 * kern.dm)
    else:
        q = _fixed_q(None, sw, sb, mu2, av, kern)
        if np.any(np.isinf(q)):
            raise _infinite_q_error(sw[np.isinf(q)], sb[np.isinf(q)], mu2[np.isinf(q)])
        chi = _snap_one(sw * mu2 * kern.grad2(np.where(q == 0, _Q_TINY, q)))
    return _out(chi.reshape(shape))


def gradient_depth_scale(noise, sigma_w2=None, sigma_b2=None, activation="relu"):
    r"""The gradient depth scale :math:`\xi_1 = 1/|\ln \chi_1|`.

    The gradient analysis of Huang et al. (2020), used in the chapter *Backpropagation through noisy networks*
    (``book/gradients.md``) as :attr:`GradientSlopes.depth_scale_single`.

    Parameters
    ----------
    noise : NoiseModel or NoisyNetwork
        Noise model (or family), or a whole network description (then leave out ``sigma_w2``,
        ``sigma_b2`` and ``activation``).
    sigma_w2 : float, array_like or None, optional
        Weight variance (default ``None``: critical, see :func:`critical_parameters`).
    sigma_b2 : float, array_like or None, optional
        Bias variance (``None``: 0, or the critical one).
    activation : optional
        Default ``"relu"``.

    Returns
    -------
    float or numpy.ndarray
        :math:`\xi_1 > 0`; ``np.inf`` where :math:`\chi_1 = 1`.

    Notes
    -----
    .. math::

       \xi_1 = \frac{1}{|\ln \chi_1|},

    as Huang et al. define it: the absolute value makes :math:`\xi_1` positive both when gradients
    vanish (:math:`\chi_1 < 1`) and when they explode (:math:`\chi_1 > 1`); use
    :func:`gradient_slope` to tell which.

    References
    ----------
    .. [1] W. Huang et al. *Mean field theory for deep dropout networks: digging up gradient
       backpropagation deeply.* ECAI 2020.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> gradient_depth_scale(Dropout(keep_prob=0.6))
    inf
    >>> round(gradient_depth_scale(Dropout(keep_prob=0.6), sigma_w2=1.0), 3)  # 1 / ln(1.2)
    5.485
    """
    chi = np.asarray(gradient_slope(noise, sigma_w2, sigma_b2, activation), dtype=float)
    with np.errstate(divide="ignore"):
        xi = np.where(chi == 1.0, np.inf, 1.0 / np.abs(np.log(chi)))
    return _out(xi)


@dataclass
class GradientSlopes:
    r"""Mean-field quantities of gradient propagation (:func:`gradient_slopes`; chapter ``book/gradients.md``).

    Attributes
    ----------
    chi_single : float
        :math:`\chi_1 = \sigma_w^2\mu_2\,\mathbb{E}[\phi'(\sqrt{q^*}z)^2]`.
    chi_pair : float
        :math:`\chi(c^*) = \sigma_w^2\,\mathbb{E}[\phi'(u_a)\phi'(u_b)]` at :math:`(q^*, c^*)`.
    q_star, c_star : float
        The variance and correlation fixed points. ReLU without biases or additive noise keeps every
        :math:`q` (scale-free); ``q_star`` is then reported as 1 (``nan`` for the linear network).
    """

    chi_single: float
    chi_pair: float
    q_star: float
    c_star: float

    @property
    def depth_scale_single(self) -> float:
        """:math:`\\xi_1 = 1/|\\ln\\chi_1|` (``inf`` at :math:`\\chi_1 = 1`)."""
        return math.inf if self.chi_single == 1.0 else 1.0 / abs(math.log(self.chi_single))

    @property
    def depth_scale_pair(self) -> float:
        """:math:`\\xi_2 = 1/|\\ln\\chi(c^*)|`."""
        return math.inf if self.chi_pair == 1.0 else 1.0 / abs(math.log(self.chi_pair))


@dataclass
class LinearClosedForms:
    r"""Huang et al.'s closed forms for a noisy *linear* network (:func:`linear_network_closed_forms`; chapter
    ``book/gradients.md``)."""

    q_star: float
    q_ab_star: float
    chi_single: float
    chi_pair: float


def gradient_slopes(noise, sigma_w2=None, sigma_b2=None, activation="relu") -> GradientSlopes:
    r"""Mean-field (GIA) factors by which gradient moments shrink per layer, for one input and for pairs.

    Introduced in the chapter *Backpropagation through noisy networks* (``book/gradients.md``).

    Parameters
    ----------
    noise : NoiseModel or NoisyNetwork
        One noise level, or one network description (then leave out ``sigma_w2``, ``sigma_b2`` and
        ``activation``).
    sigma_w2 : float or None, optional
        Weight variance (default ``None``: critical, see :func:`critical_parameters`).
    sigma_b2 : float or None, optional
        Bias variance (``None``: 0, or the critical one).
    activation : optional
        Default ``"relu"``.

    Returns
    -------
    GradientSlopes

    Notes
    -----
    .. math::

        \chi_1 = \sigma_w^2\,\mu_2\,\mathbb{E}\bigl[\phi'(\sqrt{q^*}z)^2\bigr], \qquad
        \chi(c^*) = \sigma_w^2\,\mathbb{E}\bigl[\phi'(u_a)\phi'(u_b)\bigr],

    with :math:`u_a, u_b` of variance :math:`q^*` and correlation :math:`c^*`. The second equals the
    slope of the correlation map at its fixed point (:func:`correlation_slope`),
    so :math:`\xi_2` is the correlation depth scale :math:`\xi_c`.

    References
    ----------
    .. [1] W. Huang et al. ECAI 2020, Eqs. 9-14. .. [2] S. S. Schoenholz et al. ICLR 2017.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> s = gradient_slopes(Dropout(keep_prob=0.6))      # critical ReLU
    >>> s.chi_single, round(s.chi_pair, 4)
    (1.0, 0.355)
    >>> round(gradient_slopes(Dropout(keep_prob=0.9), 1.4, 0.1, "tanh").chi_single, 4)
    0.8937
    """
    noise, sw, sb, activation = _single(noise, sigma_w2, sigma_b2, activation)
    chi_single = float(gradient_slope(noise, sw, sb, activation))
    c_star = float(correlation_fixed_point(noise, sw, sb, activation))
    chi_pair = float(correlation_slope(c_star, noise, sw, sb, activation))
    name = getattr(get_activation(activation), "name", "")
    if name in ("relu", "linear") and sb == 0 and noise.additive_variance == 0:
        q_star = 1.0 if name == "relu" else float("nan")  # any q is a fixed point (scale-free)
    else:
        q_star = float(variance_fixed_point(noise, sw, sb, activation))
    return GradientSlopes(chi_single=chi_single, chi_pair=chi_pair, q_star=q_star, c_star=c_star)


def linear_network_closed_forms(noise, sigma_w2=None, sigma_b2=None) -> LinearClosedForms:
    r"""Fixed points and gradient factors of a noisy linear network (Huang et al.'s closed forms).

    Introduced in the chapter *Backpropagation through noisy networks* (``book/gradients.md``).

    Parameters
    ----------
    noise : NoiseModel or NoisyNetwork
        Multiplicative noise (dropout: :math:`\mu_2 = 1/\rho`), or a linear network description (then
        leave out ``sigma_w2`` and ``sigma_b2``).
    sigma_w2 : float, in (0, 1/mu2)
        Below :math:`1/\mu_2`, so that the variance has a finite fixed point (required with a noise model:
        the critical :math:`1/\mu_2` has none).
    sigma_b2 : float, > 0
        Required with a noise model.

    Returns
    -------
    LinearClosedForms

    Notes
    -----
    With :math:`\phi(h) = h` the variance and covariance maps are linear,
    :math:`q' = \sigma_w^2\mu_2 q + \sigma_b^2` and :math:`q_{ab}' = \sigma_w^2 q_{ab} + \sigma_b^2`, so

    .. math::

        q^* = \frac{\sigma_b^2}{1 - \sigma_w^2\mu_2} = \frac{\sigma_b^2}{1 - \sigma_w^2/\rho},\qquad
        q_{ab}^* = \frac{\sigma_b^2}{1 - \sigma_w^2},\qquad
        \chi_1 = \sigma_w^2\mu_2 = \frac{\sigma_w^2}{\rho},\qquad \chi(c^*) = \sigma_w^2 .

    References
    ----------
    .. [1] W. Huang et al. ECAI 2020, Sec. 3 (linear dropout networks).

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> cf = linear_network_closed_forms(Dropout(keep_prob=0.9), 0.8, 0.1)
    >>> round(cf.q_star, 6), round(cf.q_ab_star, 6), round(cf.chi_single, 6)
    (0.9, 0.5, 0.888889)
    >>> linear_network_closed_forms(Dropout(keep_prob=0.5), 0.8, 0.1)
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: sigma_w2 must be in (0, 0.5), got 0.8 (below 1/mu2, or the variance has no fixed point)
    """
    if isinstance(noise, NoisyNetwork):
        if noise.activation.name != "linear":
            raise InvalidParameterError(f"the network must be linear for these closed forms, got activation {noise.activation.name!r}")
        noise, sigma_w2, sigma_b2, _ = _single(noise, sigma_w2, sigma_b2, "linear")
    elif sigma_w2 is None or sigma_b2 is None:
        raise InvalidParameterError(
            "sigma_w2 and sigma_b2 must be given (the critical sigma_w2 = 1/mu2 of a linear network has no finite "
            "variance fixed point)"
        )
    noise = _single(noise, 1.0, 0.0, "linear")[0]
    if noise.additive_variance != 0:
        raise InvalidParameterError(f"noise must be multiplicative for these closed forms, got {noise!r}")
    mu2 = float(noise.mu2)
    sw = check_float("sigma_w2", sigma_w2, 0.0, 1.0 / mu2, low_open=True, high_open=True,
                     hint="below 1/mu2, or the variance has no fixed point")
    sb = check_float("sigma_b2", sigma_b2, 0.0, np.inf, low_open=True)
    return LinearClosedForms(q_star=sb / (1.0 - sw * mu2), q_ab_star=sb / (1.0 - sw), chi_single=sw * mu2, chi_pair=sw)


def linear_tied_excess(noise, sigma_w2, n_back: int) -> np.ndarray:
    r"""Huang et al.'s tied-weight prediction for :math:`g_{aa}` of a noisy linear network, relative to the GIA.

    Introduced in the chapter *Gradients with tied weights at full size* (``book/tied_gradients.md``).

    Parameters
    ----------
    noise : NoiseModel
        Dropout (multiplicative noise, :math:`\mu_2 = 1/\rho`).
    sigma_w2 : float, in (0, 1/mu2)
        Weight variance (a finite variance fixed point).
    n_back : int, >= 0
        Layers back from the output.

    Returns
    -------
    numpy.ndarray, shape ``(n_back + 1,)``
        :math:`E_n` for :math:`n = 0, \dots, n_{\text{back}}`: the predicted ratio of :math:`g^{L-n}_{aa}`
        with tied weights to its value under the gradient independence assumption.

    Notes
    -----
    With :math:`\chi = \sigma_w^2/\rho` (:math:`\chi_1` of the linear network), Huang et al.'s
    tied-weight calculation (the curves of their Fig. 2a, as their figure code computes them) is

    .. math::

        g^{L-n}_{aa} \propto \Bigl(\frac{q^*}{\rho}\Bigr)^2 \chi^n\Bigl(\rho + \sum_{k=1}^{n}\chi^k\Bigr),
        \qquad\text{so}\qquad
        E_n = 1 + \frac{1}{\rho}\sum_{k=1}^{n}\chi^k \;\to\; 1 + \frac{\chi}{\rho(1-\chi)},

    while the GIA gives :math:`\rho\chi^n` in the bracket. The first step, :math:`E_1 = 1 + \chi/\rho`, is
    the aligned term :math:`(W^L)^\top W^L x^{L-1} \approx \sigma_w^2 x^{L-1}` of ordinary backpropagation:
    it adds :math:`\sigma_w^4\,\mathbb{E}[\epsilon^4]\,q^* = \chi^2 q^*/\rho` to the GIA's
    :math:`\chi q^*`. The excess saturates: it changes the prefactor, not the asymptotic rate :math:`\chi`.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> linear_tied_excess(Dropout(keep_prob=0.5), 0.25, 3).round(4)  # chi = 0.5: 1, 1 + 1, 1 + 1.5, 1 + 1.75
    array([1.  , 2.  , 2.5 , 2.75])
    """
    from ..errors import check_int, check_memory

    noise = _single(noise, 1.0, 0.0, "linear")[0]
    if noise.additive_variance != 0:
        raise InvalidParameterError(f"noise must be multiplicative (dropout), got {noise!r}")
    mu2 = float(noise.mu2)
    sw = float(check_in_range("sigma_w2", sigma_w2, 0.0, 1.0 / mu2, low_open=True, high_open=True, max_ndim=0,
                              hint="below 1/mu2, or the variance has no fixed point"))
    n_back = check_int("n_back", n_back, 0)
    check_memory(3 * 8.0 * (n_back + 1), "the predicted excess", {"n_back": n_back})  # three float64 arrays
    chi, rho = sw * mu2, 1.0 / mu2
    return 1.0 + np.concatenate([[0.0], np.cumsum(chi ** np.arange(1, n_back + 1))]) / rho
