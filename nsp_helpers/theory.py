r"""Mean-field theory of signal propagation in wide noisy networks (numpy/scipy only).

A noisy layer computes

.. math::

   h^{l} = W^{l}\,(\epsilon^{l-1} \odot \phi(h^{l-1})) + b^{l} \quad\text{(multiplicative)},\qquad
   h^{l} = W^{l}\,(\phi(h^{l-1}) + \epsilon^{l-1}) + b^{l} \quad\text{(additive)},

with :math:`W_{ij} \sim \mathcal{N}(0, \sigma_w^2/N)`, :math:`b_i \sim \mathcal{N}(0, \sigma_b^2)`,
:math:`\mathbb{E}[\epsilon] = 1,\ \mathbb{E}[\epsilon^2] = \mu_2` (multiplicative) or
:math:`\mathbb{E}[\epsilon] = 0,\ \mathbb{E}[\epsilon^2] = \sigma_\epsilon^2` (additive).
In the infinite-width limit the pre-activations are Gaussian and two numbers per layer describe the
signal: the variance :math:`q^l` of one input's pre-activations and the correlation (cosine
similarity) :math:`c^l` between two inputs. This module gives their maps, fixed points, slopes and
depth scales (Poole et al. 2016; Schoenholz et al. 2017; Pretorius et al. 2018; Huang et al. 2020).

Conventions
-----------
* ``noise`` is a :class:`nsp_helpers.noise.NoiseModel`; only ``noise.mu2`` (1 for additive noise)
  and ``noise.additive_variance`` (0 for multiplicative noise) are read.
* Every argument broadcasts with numpy rules, including the parameters of a *family* of noise levels
  (``Dropout(keep_prob=np.linspace(0.1, 1, 10))``). Scalar input gives a Python ``float``.
* ``sigma_w2=None`` (where allowed) means the critical weight variance
  (:func:`critical_weight_variance`).
* ``activation`` is ``"relu"`` or ``"linear"`` (closed forms), ``"hard_tanh"`` (closed forms in one
  dimension; Gauss-Legendre panels split at the kinks in two), ``"tanh"``, an
  :class:`~nsp_helpers.activations.Activation` or a callable (trapezoidal rule, see
  :func:`gaussian_expectation`; accurate to about :math:`10^{-14}` for ``tanh``, but only to about
  :math:`10^{-3}` for callables with kinks, such as a hand-written ReLU).
* Bad input raises :class:`~nsp_helpers.errors.InvalidParameterError` naming the parameter.

Introduced in the chapters *The variance map* (``book/variance_map.md``), *Critical
initialisation* (``book/critical_init.md``), *Correlations* (``book/correlations.md``) and
*Depth scales and trainable depth* (``book/depth_scales.md``); the gradient slopes follow Huang et
al. (2020).

References
----------
.. [1] B. Poole, S. Lahiri, M. Raghu, J. Sohl-Dickstein, S. Ganguli. *Exponential expressivity in deep
   neural networks through transient chaos.* NeurIPS 2016.
.. [2] S. S. Schoenholz, J. Gilmer, S. Ganguli, J. Sohl-Dickstein. *Deep information propagation.*
   ICLR 2017.
.. [3] A. Pretorius, E. van Biljon, S. Kroon, H. Kamper. *Critical initialisation for deep signal
   propagation in noisy rectifier neural networks.* NeurIPS 2018, arXiv:1811.00293.
.. [4] W. Huang, R. Y. Da Xu, W. Du, Y. Zeng, Y. Zhao. *Mean field theory for deep dropout networks:
   digging up gradient backpropagation deeply.* ECAI 2020, arXiv:1912.09132.
.. [5] Y. Cho, L. K. Saul. *Kernel methods for deep learning.* NIPS 2009.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .activations import ACTIVATIONS, get_activation
from .errors import InvalidParameterError, NoCriticalPointError, check_in_range, check_int
from .noise import NoiseModel

__all__ = [
    "NoCriticalPointError",
    "gaussian_expectation",
    "bivariate_gaussian_expectation",
    "critical_weight_variance",
    "critical_parameters",
    "DEFAULT_SIGMA_B2",
    "variance_map",
    "variance_slope",
    "variance_fixed_point",
    "iterate_variance",
    "failure_depth",
    "correlation_map",
    "correlation_slope",
    "correlation_fixed_point",
    "iterate_correlation",
    "depth_scale",
    "gradient_slope",
    "gradient_depth_scale",
]

#: float32 limits used by :func:`failure_depth` (largest finite and smallest normal number)
FLOAT32_MAX = float(np.finfo(np.float32).max)
FLOAT32_TINY = float(np.finfo(np.float32).tiny)

# slopes within this relative distance of 1 are snapped to exactly 1 (criticality), so that
# 2/mu2 * mu2/2 = 0.9999999999999999 does not turn an infinite depth scale into 1e16
_SNAP = 1e-12
# the maps at q = 0 are evaluated at this tiny q (their q -> 0+ limit, to O(q))
_Q_TINY = 1e-16

# trapezoidal rule on [-_Z_MAX, _Z_MAX]: spacing min(_H_MAX, _H_POLE / sqrt(q_max)); integrands known
# to be analytic (tanh) may use the coarser _H_MAX_ANALYTIC, where only the poles limit the spacing
_Z_MAX = 10.0
_H_MAX = 0.1
_H_MAX_ANALYTIC = 0.4
_H_POLE = math.pi**2 / 48.0
_N_MAX = 4001
_CHUNK = 2**21  # floats per temporary array


# ------------------------------------------------------------------------------------------------
# small helpers
# ------------------------------------------------------------------------------------------------
def _out(x):
    x = np.asarray(x, dtype=float)
    return float(x) if x.ndim == 0 else x


def _noise_moments(noise):
    if not isinstance(noise, NoiseModel):
        raise InvalidParameterError(
            "noise must be a nsp_helpers.noise.NoiseModel such as NoNoise(), Dropout(keep_prob=0.6) or "
            f"AdditiveGaussian(std=1.0), got {noise!r}"
        )
    return np.asarray(noise.mu2, dtype=float), np.asarray(noise.additive_variance, dtype=float)


def _broadcast(**arrays):
    """Broadcast named arrays together, with an error that names their shapes."""
    try:
        shape = np.broadcast_shapes(*(np.shape(a) for a in arrays.values()))
    except ValueError:
        desc = ", ".join(f"{k} {np.shape(v)}" for k, v in arrays.items())
        raise InvalidParameterError(
            f"the arguments' shapes do not broadcast together: {desc} "
            "(for a family of noise levels against a grid of values, add an axis, e.g. c[:, None])"
        ) from None
    return shape, [np.broadcast_to(np.asarray(a, dtype=float), shape).ravel() for a in arrays.values()]


def _check_sigma_w2(sigma_w2):
    return check_in_range("sigma_w2", sigma_w2, 0.0, np.inf, low_open=True)


def _check_sigma_b2(sigma_b2):
    return check_in_range("sigma_b2", sigma_b2, 0.0, np.inf)


def _check_c(c):
    return check_in_range("c", c, -1.0, 1.0, hint="a correlation (cosine similarity)")


def _check_n_nodes(n_nodes):
    if n_nodes is None:
        return None
    if isinstance(n_nodes, (bool, np.bool_)) or not isinstance(n_nodes, numbers.Integral) or n_nodes < 3:
        raise InvalidParameterError(f"n_nodes must be None (automatic) or an integer >= 3, got {n_nodes!r}")
    return int(n_nodes)


def _snap_one(x):
    x = np.asarray(x, dtype=float)
    return np.where(np.abs(x - 1.0) <= _SNAP, 1.0, x)


# ------------------------------------------------------------------------------------------------
# Gaussian quadrature
# ------------------------------------------------------------------------------------------------
def _grid(q_max: float, n_nodes: int | None, h_max: float = _H_MAX):
    """Nodes and weights of the trapezoidal rule for E[f(z)], z ~ N(0, 1), on [-10, 10]."""
    if n_nodes is None:
        h = h_max if q_max <= 0 else min(h_max, _H_POLE / math.sqrt(q_max))
        half = min(int(math.ceil(_Z_MAX / h)), (_N_MAX - 1) // 2)
        n_nodes = 2 * half + 1
    z = np.linspace(-_Z_MAX, _Z_MAX, n_nodes)
    w = (z[1] - z[0]) * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return z, w


def _apply(f, x):
    return np.broadcast_to(np.asarray(f(x), dtype=float), x.shape)


def _expect1(f, q, n_nodes=None, h_max=_H_MAX):
    """E[f(sqrt(q) z)] for a 1-D float array q >= 0 (unique values evaluated once)."""
    q = np.asarray(q, dtype=float)
    if q.size == 0:
        return np.empty_like(q)
    uq, inv = np.unique(q, return_inverse=True)
    z, w = _grid(float(uq[-1]), n_nodes, h_max)
    out = np.empty(uq.size)
    step = max(1, _CHUNK // z.size)
    for s in range(0, uq.size, step):
        sq = np.sqrt(uq[s : s + step])[:, None]
        out[s : s + step] = _apply(f, sq * z) @ w
    return out[inv.ravel()].reshape(q.shape)


def _expect2_many(outer, inner, q, c, n_nodes=None, h_max=_H_MAX):
    """[E[f(u_a) g(u_b)] for f, g in zip(outer, inner(u_b))] on one tensor-product grid.

    u_a = sqrt(q) z1 and u_b = sqrt(q)(c z1 + sqrt(1-c^2) z2); q and c are 1-D arrays and repeated
    (q, c) pairs are evaluated once. ``inner`` maps u_b to a list of arrays (sharing work, e.g.
    tanh and its derivative).
    """
    q = np.asarray(q, dtype=float)
    c = np.asarray(c, dtype=float)
    if q.size == 0:
        return [np.empty_like(q) for _ in outer]
    pairs, inv = np.unique(np.stack([q, c], axis=1), axis=0, return_inverse=True)
    uq, uc = pairs[:, 0], pairs[:, 1]
    us = np.sqrt(np.clip((1.0 - uc) * (1.0 + uc), 0.0, 1.0))
    z, w = _grid(float(uq.max()), n_nodes, h_max)
    n = z.size
    out = [np.empty(uq.size) for _ in outer]
    step = max(1, _CHUNK // (n * n))
    for s in range(0, uq.size, step):
        sq = np.sqrt(uq[s : s + step])[:, None, None]
        cc = uc[s : s + step][:, None, None]
        ss = us[s : s + step][:, None, None]
        ua = sq[:, :, 0] * z  # (m, n)
        ub = sq * (cc * z[None, :, None] + ss * z[None, None, :])  # (m, n, n)
        for res, f, g_ub in zip(out, outer, inner(ub)):
            res[s : s + step] = (_apply(f, ua) * (np.broadcast_to(g_ub, ub.shape) @ w)) @ w
    return [res[inv.ravel()] for res in out]


def _expect2(f, g, q, c, n_nodes=None, h_max=_H_MAX):
    """E[f(u_a) g(u_b)] (see :func:`_expect2_many`)."""
    return _expect2_many([f], lambda ub: [_apply(g, ub)], q, c, n_nodes, h_max)[0]


def gaussian_expectation(f, q, *, n_nodes=None):
    r"""The Gaussian expectation :math:`\mathbb{E}_{z \sim \mathcal{N}(0,1)}[f(\sqrt{q}\, z)]`.

    The building block of every map in this module for activations without a closed form.
    Introduced in the chapter *The variance map* (``book/variance_map.md``).

    Parameters
    ----------
    f : callable, str or Activation
        Elementwise function of a numpy array (an activation name is resolved with
        :func:`~nsp_helpers.activations.get_activation`).
    q : float or array_like, >= 0
        Variance of the Gaussian argument.
    n_nodes : int, optional
        Number of quadrature nodes (default: chosen from the largest ``q``, see Notes).

    Returns
    -------
    float or numpy.ndarray
        The expectation, with the shape of ``q``.

    Notes
    -----
    Trapezoidal rule in :math:`z` on a uniform grid over :math:`[-10, 10]`:

    .. math::

       \mathbb{E}[f(\sqrt{q}\,z)] \approx \sum_k h\, \frac{e^{-z_k^2/2}}{\sqrt{2\pi}}\, f(\sqrt{q}\, z_k),
       \qquad h = \min\!\left(0.1,\ \frac{\pi^2}{48\sqrt{q}}\right).

    For integrands analytic in a strip :math:`|\operatorname{Im} z| < a` the error decays like
    :math:`e^{-2\pi a/h}`. ``tanh`` has poles at :math:`\sqrt{q}\,z = \pm i\pi/2`, so
    :math:`a = \pi/(2\sqrt{q})` and the spacing above gives :math:`e^{-2\pi a/h} = e^{-48}`
    (times the integrand's size near the poles): the relative errors of :math:`\mathbb{E}[\tanh^2]`
    and :math:`\mathbb{E}[\operatorname{sech}^4]` stay below about :math:`10^{-14}` (the fourth-order
    poles of :math:`\operatorname{sech}^4` left :math:`2\times 10^{-13}` with :math:`\pi^2/40`), and the
    tests check these and the two-dimensional expectations against mpmath to :math:`10^{-8}` for
    :math:`q \in [10^{-3}, 20]`. The maps use the
    same rule for ``tanh`` with the cap 0.4 instead of 0.1, since only the poles limit an analytic
    integrand. Integrands with kinks (a hand-written ReLU or hard tanh) converge only like
    :math:`h^2` (relative errors up to a few :math:`10^{-3}`); the maps in this module use closed
    forms for ``"relu"``, ``"linear"`` and ``"hard_tanh"`` instead. The grid has at most 4001
    nodes, so the spacing stops shrinking at :math:`q \approx 1700`.

    References
    ----------
    .. [1] L. N. Trefethen, J. A. C. Weideman. *The exponentially convergent trapezoidal rule.*
       SIAM Review 56 (2014).

    Examples
    --------
    >>> round(gaussian_expectation(lambda x: x**2, 3.0), 12)
    3.0
    >>> gaussian_expectation("tanh", [0.0, 1.0])
    array([0., 0.])
    >>> round(gaussian_expectation(lambda x: np.tanh(x) ** 2, 1.0), 10)
    0.3942944903
    """
    f = get_activation(f)
    q = check_in_range("q", q, 0.0, np.inf, hint="a variance")
    return _out(_expect1(f, q.ravel(), _check_n_nodes(n_nodes)).reshape(q.shape))


def bivariate_gaussian_expectation(f, g, q, c, *, n_nodes=None):
    r"""The expectation :math:`\mathbb{E}[f(u_a)\, g(u_b)]` for two correlated Gaussians.

    :math:`u_a = \sqrt{q}\, z_1` and :math:`u_b = \sqrt{q}\,(c\, z_1 + \sqrt{1-c^2}\, z_2)` with
    independent standard normal :math:`z_1, z_2`: both have variance :math:`q` and correlation
    :math:`c`. Used in the chapter *Beyond the paper: a noisy edge of chaos*
    (``book/edge_of_chaos.md``).

    Parameters
    ----------
    f, g : callable, str or Activation
        Elementwise functions of numpy arrays.
    q : float or array_like, >= 0
        Common variance of :math:`u_a` and :math:`u_b`.
    c : float or array_like, in [-1, 1]
        Their correlation. ``q`` and ``c`` broadcast together.
    n_nodes : int, optional
        Quadrature nodes per dimension (default: chosen from the largest ``q``).

    Returns
    -------
    float or numpy.ndarray

    Notes
    -----
    Tensor-product trapezoidal rule (see :func:`gaussian_expectation`):

    .. math::

       \mathbb{E}[f(u_a) g(u_b)] \approx \sum_{j,k} w_j w_k\, f(\sqrt{q}\,z_j)\,
       g\!\left(\sqrt{q}\,(c z_j + \sqrt{1-c^2}\, z_k)\right).

    The cost is :math:`n^2` evaluations per distinct ``(q, c)`` pair (about :math:`4\times 10^4`
    for :math:`q \le 1`); repeated pairs are evaluated once. For ``tanh`` the absolute error is
    below :math:`10^{-8}\, \mathbb{E}[f(u_a)^2]` for :math:`q \in [10^{-3}, 20]` (tested against
    mpmath).

    References
    ----------
    .. [1] B. Poole et al. *Exponential expressivity in deep neural networks through transient
       chaos.* NeurIPS 2016 (the correlation map).

    Examples
    --------
    >>> relu = lambda x: np.maximum(x, 0.0)
    >>> round(bivariate_gaussian_expectation(relu, relu, 1.0, 0.0), 3)  # = 1 / (2 pi)
    0.159
    >>> round(bivariate_gaussian_expectation(lambda x: x, lambda x: x, 2.0, 0.5), 12)
    1.0
    """
    f = get_activation(f)
    g = get_activation(g)
    q = check_in_range("q", q, 0.0, np.inf, hint="a variance")
    c = _check_c(c)
    shape, (qf, cf) = _broadcast(q=q, c=c)
    return _out(_expect2(f, g, qf, cf, _check_n_nodes(n_nodes)).reshape(shape))


# ------------------------------------------------------------------------------------------------
# kernels: what the maps need from an activation
# ------------------------------------------------------------------------------------------------
class _Homogeneous:
    """Closed forms for positively homogeneous activations (ReLU, linear): E[...] = q * kappa(c)."""

    homogeneous = True
    linear_at_zero = False

    def __init__(self, name):
        self.name = name
        # E[phi(sqrt(q) z)^2] = m q,   E[phi'(sqrt(q) z)^2] = dm
        self.m = 0.5 if name == "relu" else 1.0
        self.dm = self.m

    def kappa_and_prime(self, c):
        """(E[phi(u_a) phi(u_b)]/q, E[phi'(u_a) phi'(u_b)]) at correlation c."""
        if self.name == "linear":
            return c, np.ones_like(c)
        theta = np.arccos(c)
        s = np.sqrt(np.clip((1.0 - c) * (1.0 + c), 0.0, None))
        kp = (np.pi - theta) / (2.0 * np.pi)
        return s / (2.0 * np.pi) + kp * c, kp


class _Quadrature:
    """Trapezoidal quadrature for any other activation (coarser grid for the analytic tanh)."""

    homogeneous = False

    def __init__(self, act):
        self.act = act
        self.name = act.name
        self.h_max = _H_MAX_ANALYTIC if act == ACTIVATIONS["tanh"] else _H_MAX
        # phi(0) = 0, phi'(0) = 1 and |phi(u)| < |u| for u != 0 (tanh, hard tanh): the q -> 0 limits
        # of the maps are known exactly (see _var_fixed_point and _corr_map)
        self.linear_at_zero = act == ACTIVATIONS["tanh"] or act == ACTIVATIONS["hard_tanh"]

    def second(self, q):  # E[phi^2]
        phi = self.act
        return _expect1(lambda u: phi(u) ** 2, q, h_max=self.h_max)

    def d_second(self, q):  # d/dq E[phi(sqrt(q) z)^2] = E[u phi(u) phi'(u)] / q
        phi = self.act
        q = np.maximum(q, _Q_TINY)
        return _expect1(lambda u: u * phi(u) * phi.grad(u), q, h_max=self.h_max) / q

    def grad2(self, q):  # E[phi'^2]
        phi = self.act
        return _expect1(lambda u: phi.grad(u) ** 2, q, h_max=self.h_max)

    def cross(self, q, c):
        return _expect2(self.act, self.act, q, c, h_max=self.h_max)

    def cross_prime(self, q, c):
        return _expect2(self.act.grad, self.act.grad, q, c, h_max=self.h_max)

    def _inner_both(self, ub):
        if self.act == ACTIVATIONS["tanh"]:
            t = np.tanh(ub)
            return [t, 1.0 - t * t]
        return [_apply(self.act, ub), _apply(self.act.grad, ub)]

    def cross_both(self, q, c):
        """(E[phi(u_a) phi(u_b)], E[phi'(u_a) phi'(u_b)]) in one pass over the grid."""
        return tuple(_expect2_many([self.act, self.act.grad], self._inner_both, q, c, h_max=self.h_max))


_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(48)


def _normal_pdf(x):
    return np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _panel_expectation(integrand, breaks):
    """E[integrand(z)], z ~ N(0, 1), by 48-point Gauss-Legendre panels between sorted ``breaks``.

    ``breaks`` has shape (m, b) and spans [-10, 10]; ``integrand`` maps z of shape (m, b - 1, 48)
    to values of the same shape. Kinks and jumps placed on panel ends cost no accuracy.
    """
    lo, hi = breaks[:, :-1, None], breaks[:, 1:, None]
    half = 0.5 * (hi - lo)
    z = 0.5 * (hi + lo) + half * _GL_NODES
    return (integrand(z) * half * _GL_WEIGHTS * _normal_pdf(z)).sum(axis=(1, 2))


class _HardTanh(_Quadrature):
    """hard_tanh = clip(x, -1, 1): one-dimensional closed forms; the two-dimensional expectations
    integrate a closed-form conditional expectation over z1 with panels split at the kinks."""

    def _t(self, q):
        with np.errstate(divide="ignore"):
            return 1.0 / np.sqrt(q)  # the kinks u = +-1 sit at z = +-t

    def second(self, q):  # E[clip(u)^2] = q (2 Phi(t) - 1) - 2 sqrt(q) pdf(t) + 2 Phi(-t)
        from scipy.special import ndtr

        t = self._t(q)
        return q * (ndtr(t) - ndtr(-t)) - 2.0 * np.sqrt(q) * _normal_pdf(np.minimum(t, 40.0)) + 2.0 * ndtr(-t)

    def d_second(self, q):  # E[u^2 1{|u| < 1}] / q = 2 Phi(t) - 1 - 2 t pdf(t)
        from scipy.special import ndtr

        t = self._t(np.maximum(q, _Q_TINY))
        t = np.minimum(t, 40.0)
        return ndtr(t) - ndtr(-t) - 2.0 * t * _normal_pdf(t)

    def grad2(self, q):  # P(|u| < 1)
        from scipy.special import ndtr

        t = self._t(q)
        return ndtr(t) - ndtr(-t)

    def _setup2(self, q, c):
        q, c = np.broadcast_arrays(np.asarray(q, dtype=float), np.asarray(c, dtype=float))
        sq = np.sqrt(q)
        s = np.sqrt(np.clip((1.0 - c) * (1.0 + c), 0.0, 1.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            t = 1.0 / sq
            k = 1.0 / (sq * np.abs(c))  # where the conditional mean c sqrt(q) z1 crosses +-1
            width = np.where(c == 0, 0.0, s / np.abs(c))  # ... over a layer of this width in z1
        ends = np.full(q.shape, _Z_MAX)
        points = [-ends, ends, -t, t, -k, k]
        for grade in (0.25, 1.0, 4.0, 16.0):  # graded panels resolve the layer when c is near +-1
            for sign in (-1.0, 1.0):
                points += [sign * k - grade * width, sign * k + grade * width]
        with np.errstate(invalid="ignore"):
            breaks = np.stack(points, axis=1)
        breaks = np.sort(np.clip(np.nan_to_num(breaks, nan=_Z_MAX), -_Z_MAX, _Z_MAX), axis=1)
        return sq[:, None, None], c[:, None, None], s[:, None, None], breaks

    @staticmethod
    def _conditional(m, sd):
        """Phi(alpha), Phi(beta), pdf(alpha), pdf(beta) for X ~ N(m, sd^2), alpha/beta = (-+1 - m)/sd."""
        from scipy.special import ndtr

        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = np.where(sd > 0, (-1.0 - m) / sd, np.where(m > -1.0, -np.inf, np.inf))
            beta = np.where(sd > 0, (1.0 - m) / sd, np.where(m < 1.0, np.inf, -np.inf))
        pa = _normal_pdf(np.clip(alpha, -40.0, 40.0))
        pb = _normal_pdf(np.clip(beta, -40.0, 40.0))
        return ndtr(alpha), ndtr(beta), pa, pb

    def cross(self, q, c):
        sq, cc, ss, breaks = self._setup2(q, c)

        def integrand(z):
            m, sd = sq * cc * z, sq * ss
            phi_a, phi_b, pdf_a, pdf_b = self._conditional(m, sd)
            # E[clip(X)] = -P(X < -1) + P(X > 1) + E[X; |X| < 1]
            inner = -phi_a + (1.0 - phi_b) + m * (phi_b - phi_a) + sd * (pdf_a - pdf_b)
            return np.clip(sq * z, -1.0, 1.0) * inner

        return _panel_expectation(integrand, breaks)

    def cross_prime(self, q, c):
        sq, cc, ss, breaks = self._setup2(q, c)

        def integrand(z):
            phi_a, phi_b, _, _ = self._conditional(sq * cc * z, sq * ss)
            return (np.abs(sq * z) < 1.0) * (phi_b - phi_a)

        return _panel_expectation(integrand, breaks)

    def cross_both(self, q, c):
        return self.cross(q, c), self.cross_prime(q, c)


def _kernel(activation):
    act = get_activation(activation)
    for name in ("relu", "linear"):
        if act == ACTIVATIONS[name]:
            return _Homogeneous(name)
    if act == ACTIVATIONS["hard_tanh"]:
        return _HardTanh(act)
    return _Quadrature(act)


# ------------------------------------------------------------------------------------------------
# critical point
# ------------------------------------------------------------------------------------------------
def _critical(mu2, add_var, kern, activation):
    if np.any(add_var > 0):
        raise NoCriticalPointError(
            "additive noise has no critical initialisation: with ReLU the variance map is "
            "q' = sigma_w2 q/2 + sigma_w2 sigma_eps^2 + sigma_b2, whose slope is 1 only at sigma_w2 = 2, "
            "and there the constant offset sigma_w2 sigma_eps^2 > 0 pushes q up every layer, so q grows "
            "without bound; any sigma_w2 < 2 gives a finite, noise-dominated fixed point and any "
            "sigma_w2 > 2 explodes (Pretorius et al. 2018)"
        )
    if not kern.homogeneous:
        raise InvalidParameterError(
            "sigma_w2=None asks for the critical weight variance, which is known in closed form only for "
            f"activation='relu' (2/mu2) and 'linear' (1/mu2); pass sigma_w2 explicitly for activation={activation!r}"
        )
    return 1.0 / (mu2 * kern.m)


def critical_weight_variance(noise, activation="relu"):
    r"""The critical weight variance :math:`\sigma_w^2 = 2/\mu_2` of a noisy ReLU network.

    At this value (and :math:`\sigma_b = 0`) the variance map has slope one, so the signal variance
    neither explodes nor vanishes with depth (Pretorius et al. 2018). Introduced in the
    chapter *Critical initialisation* (``book/critical_init.md``).

    Parameters
    ----------
    noise : NoiseModel
        Multiplicative noise (or none). May be a family of noise levels.
    activation : {"relu", "linear"}, optional
        ``"linear"`` gives :math:`1/\mu_2` (the linear networks of Huang et al. 2020).

    Returns
    -------
    float or numpy.ndarray
        :math:`2/\mu_2` (ReLU) or :math:`1/\mu_2` (linear), with the shape of the noise family.

    Raises
    ------
    NoCriticalPointError
        For additive noise (any member with ``additive_variance > 0``): no :math:`\sigma_w^2` gives
        a finite, depth-independent variance.
    InvalidParameterError
        For activations without a closed-form critical point.

    Notes
    -----
    With :math:`\sigma_b = 0`, :math:`\mathbb{E}[\mathrm{relu}(\sqrt{q}z)^2] = q/2`, so

    .. math::

       q^{l} = \sigma_w^2 \mu_2\, q^{l-1} / 2 \quad\Longrightarrow\quad
       \sigma_w^2 = \frac{2}{\mu_2}\ \text{keeps } q^l = q^0.

    Dropout (:math:`\mu_2 = 1/p`) gives :math:`\sigma_w^2 = 2p`: He initialisation at
    :math:`p = 1`, Xavier (Glorot) at :math:`p = 1/2`.

    References
    ----------
    .. [1] A. Pretorius et al. *Critical initialisation for deep signal propagation in noisy
       rectifier neural networks.* NeurIPS 2018.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout, MultiplicativeGaussian, AdditiveGaussian
    >>> critical_weight_variance(Dropout(keep_prob=0.6))
    1.2
    >>> round(critical_weight_variance(MultiplicativeGaussian(std=0.25)), 10)  # 2 / 1.0625
    1.8823529412
    >>> critical_weight_variance(Dropout(keep_prob=[0.5, 1.0]))
    array([1., 2.])
    >>> critical_weight_variance(AdditiveGaussian(std=1.0))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.NoCriticalPointError: additive noise has no critical initialisation: ...
    """
    mu2, add_var = _noise_moments(noise)
    kern = _kernel(activation)
    return _out(_critical(mu2, add_var, kern, activation))


#: bias variance of the critical initialisation of activations whose noisy edge of chaos needs one (tanh,
#: hard-tanh, callables); Huang et al. (2020) train tanh networks with 0.05
DEFAULT_SIGMA_B2 = 0.05


def critical_parameters(noise, activation="relu", sigma_b2=None):
    r"""The critical :math:`(\sigma_w^2, \sigma_b^2)` of a noise level (or family) and an activation.

    The one implementation of "the critical initialisation" (``sigma_w2=None`` everywhere in the package
    resolves through it).

    * ReLU: :math:`\sigma_w^2 = 2/\mu_2`, :math:`\sigma_b^2 = 0` (exactly ``2 * keep_prob`` for dropout);
    * linear: :math:`\sigma_w^2 = 1/\mu_2`, :math:`\sigma_b^2 = 0`;
    * any other activation: the noisy edge of chaos, the :math:`\sigma_w^2` that maximises the depth
      scale :math:`\xi_c` at the bias variance ``sigma_b2`` (default :data:`DEFAULT_SIGMA_B2`).

    Parameters
    ----------
    noise : NoiseModel
        Multiplicative noise (or none); a family gives arrays.
    activation : str, Activation or callable, optional
    sigma_b2 : float or None, optional
        Must be 0 or ``None`` for ReLU and linear networks.

    Returns
    -------
    (sigma_w2, sigma_b2)
        Floats, or arrays with the family's shape.

    Raises
    ------
    NoCriticalPointError
        For additive noise.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> critical_parameters(Dropout(keep_prob=0.6))
    (1.2, 0.0)
    >>> sw2, sb2 = critical_parameters(Dropout(keep_prob=0.9), "tanh")
    >>> round(sw2, 2), sb2
    (1.85, 0.05)
    """
    mu2, add_var = _noise_moments(noise)
    kern = _kernel(activation)
    if kern.homogeneous:
        if sigma_b2 is not None and np.any(np.asarray(sigma_b2, dtype=float) != 0):
            raise InvalidParameterError(
                f"sigma_b2 must be 0 for activation={kern.name!r}: the critical initialisation has no bias "
                f"variance, got {sigma_b2}"
            )
        _critical(mu2, add_var, kern, activation)  # raises for additive noise
        return _out(np.asarray(noise.inverse_mu2, dtype=float) / kern.m), 0.0
    if np.any(add_var > 0):
        _critical(mu2, add_var, kern, activation)  # raises NoCriticalPointError with the explanation
    sb2 = float(check_in_range("sigma_b2", DEFAULT_SIGMA_B2 if sigma_b2 is None else sigma_b2, 0.0, np.inf))
    from .depth import maximise_depth_scale

    ridge = maximise_depth_scale(noise, [sb2], activation=activation)
    sw = np.asarray(ridge.sigma_w2, dtype=float)[..., 0]
    return _out(sw), sb2


def _resolve_sigma_w2(sigma_w2, mu2, add_var, kern, activation):
    if sigma_w2 is None:
        return _critical(mu2, add_var, kern, activation)
    return _check_sigma_w2(sigma_w2)


# ------------------------------------------------------------------------------------------------
# variance map
# ------------------------------------------------------------------------------------------------
def _second(kern, q):
    return kern.m * q if kern.homogeneous else kern.second(q)


def _var_map(q, sw, sb, mu2, av, kern):
    with np.errstate(over="ignore", invalid="ignore"):
        return sw * (mu2 * _second(kern, q) + av) + sb


def _var_slope(q, sw, mu2, kern):
    if kern.homogeneous:
        return np.broadcast_to(_snap_one(sw * mu2 * kern.m), np.shape(q))
    return sw * mu2 * kern.d_second(q)


def variance_map(q, sigma_w2, sigma_b2, noise, activation="relu"):
    r"""The variance map :math:`q^{l} = \mathcal{V}(q^{l-1})` of a wide noisy network.

    Introduced in the chapter *The variance map* (``book/variance_map.md``).

    Parameters
    ----------
    q : float or array_like, >= 0
        Pre-activation variance :math:`q^{l-1}` of the previous layer.
    sigma_w2 : float or array_like, > 0
        Weight variance :math:`\sigma_w^2` (weights :math:`\mathcal{N}(0, \sigma_w^2/N)`).
    sigma_b2 : float or array_like, >= 0
        Bias variance :math:`\sigma_b^2`.
    noise : NoiseModel
        The noise model (or a family of noise levels).
    activation : str, Activation or callable, optional
        Default ``"relu"``.

    Returns
    -------
    float or numpy.ndarray
        :math:`q^l`, broadcast over all arguments.

    Notes
    -----
    .. math::

       q^{l} = \sigma_w^2\left(\mu_2\, \mathbb{E}_z\!\left[\phi(\sqrt{q^{l-1}}\,z)^2\right]
       + \sigma_\epsilon^2\right) + \sigma_b^2,

    with :math:`\mu_2 = 1` for additive noise and :math:`\sigma_\epsilon^2 = 0` for
    multiplicative noise. For ReLU :math:`\mathbb{E}[\phi^2] = q/2`; for a linear network it is
    :math:`q`.

    References
    ----------
    .. [1] B. Poole et al. *Exponential expressivity in deep neural networks through transient
       chaos.* NeurIPS 2016.
    .. [2] A. Pretorius, E. van Biljon, S. Kroon, H. Kamper. *Critical initialisation for deep signal
       propagation in noisy rectifier neural networks.* NeurIPS 2018.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout, NoNoise, AdditiveGaussian
    >>> variance_map(1.0, 2.0, 0.0, NoNoise())  # He initialisation preserves q
    1.0
    >>> variance_map(1.0, 1.2, 0.0, Dropout(keep_prob=0.6))  # so does the critical dropout init
    1.0
    >>> variance_map(4.0, 2.0, 0.0, AdditiveGaussian(std=1.0))  # additive noise adds 2 * 1
    6.0
    >>> variance_map([0.5, 1.0], 1.0, 0.0, NoNoise(), activation="tanh").round(6)
    array([0.273676, 0.394294])
    """
    mu2, av = _noise_moments(noise)
    kern = _kernel(activation)
    q = check_in_range("q", q, 0.0, np.inf, hint="a variance")
    sw = _check_sigma_w2(sigma_w2)
    sb = _check_sigma_b2(sigma_b2)
    shape, (q, sw, sb, mu2, av) = _broadcast(q=q, sigma_w2=sw, sigma_b2=sb, noise=mu2, noise_av=av)
    return _out(_var_map(q, sw, sb, mu2, av, kern).reshape(shape))


def variance_slope(sigma_w2, sigma_b2, noise, activation="relu", q=None):
    r"""The slope :math:`\partial q^{l}/\partial q^{l-1}` of the variance map.

    Introduced in the chapter *The variance map* (``book/variance_map.md``).

    Parameters
    ----------
    sigma_w2 : float, array_like or None
        Weight variance (``None``: critical, see :func:`critical_weight_variance`).
    sigma_b2 : float or array_like, >= 0
        Bias variance.
    noise : NoiseModel
    activation : optional
        Default ``"relu"``.
    q : float or array_like, optional
        Where to evaluate the slope (default: the variance fixed point :math:`q^*`).

    Returns
    -------
    float or numpy.ndarray

    Notes
    -----
    .. math::

       \frac{\partial q^l}{\partial q^{l-1}} = \sigma_w^2 \mu_2 \frac{d}{dq}\mathbb{E}[\phi(\sqrt{q}z)^2]
       = \sigma_w^2 \mu_2\, \frac{\mathbb{E}[u\,\phi(u)\phi'(u)]}{q},\quad u = \sqrt{q}\,z.

    For ReLU it is :math:`\sigma_w^2\mu_2/2` at every :math:`q`: one at criticality (values within
    :math:`10^{-12}` of one are returned as exactly one).

    References
    ----------
    .. [1] A. Pretorius, E. van Biljon, S. Kroon, H. Kamper. *Critical initialisation for deep signal
       propagation in noisy rectifier neural networks.* NeurIPS 2018.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> variance_slope(None, 0.0, Dropout(keep_prob=0.6))
    1.0
    >>> variance_slope(1.38, 0.0, Dropout(keep_prob=0.6))  # 1.15x critical: grows 15 % per layer
    1.15
    """
    mu2, av = _noise_moments(noise)
    kern = _kernel(activation)
    sw = _resolve_sigma_w2(sigma_w2, mu2, av, kern, activation)
    sb = _check_sigma_b2(sigma_b2)
    if q is None:
        q = variance_fixed_point(sw, sb, noise, activation)
        q = np.asarray(q, dtype=float)
        if not kern.homogeneous and np.any(np.isinf(q)):
            raise InvalidParameterError("the variance fixed point is infinite for these parameters; pass q explicitly")
    else:
        q = check_in_range("q", q, 0.0, np.inf, hint="a variance")
    shape, (q, sw, mu2, _) = _broadcast(q=q, sigma_w2=sw, noise=mu2, sigma_b2=sb)
    return _out(_var_slope(q, sw, mu2, kern).reshape(shape))


# ------------------------------------------------------------------------------------------------
# vectorised safeguarded Newton (root of a decreasing-through-zero function on a bracket)
# ------------------------------------------------------------------------------------------------
def _rtsafe(func, lo, hi, x0, *, xtol_rel=1e-14, xtol_abs=0.0, maxiter=200):
    """Find roots of func elementwise, with func(lo) >= 0 >= func(hi) (lo may exceed hi).

    ``func(x, idx) -> (h, dh)`` evaluates the elements ``idx``. Newton steps are taken when they
    stay inside the bracket and at least halve the previous step; otherwise bisection
    (Numerical Recipes' ``rtsafe``, on arrays).
    """
    x = np.array(x0, dtype=float)
    lo = np.array(lo, dtype=float)
    hi = np.array(hi, dtype=float)
    dx_old = np.abs(hi - lo)
    active = np.arange(x.size)
    for _ in range(maxiter):
        if active.size == 0:
            break
        xa = x[active]
        h, dh = func(xa, active)
        pos = h > 0
        lo_a = np.where(pos, xa, lo[active])
        hi_a = np.where(pos, hi[active], xa)
        a = np.minimum(lo_a, hi_a)
        b = np.maximum(lo_a, hi_a)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            step = h / dh
            xn = xa - step
        ok = np.isfinite(xn) & (xn >= a) & (xn <= b) & (np.abs(step) <= 0.5 * dx_old[active])
        xn = np.where(ok, xn, 0.5 * (a + b))
        zero = h == 0
        xn = np.where(zero, xa, xn)
        dxa = np.abs(xn - xa)
        tol = xtol_rel * np.abs(xn) + xtol_abs
        done = zero | (ok & (dxa <= tol)) | (b - a <= tol)
        lo[active], hi[active], x[active], dx_old[active] = lo_a, hi_a, xn, dxa
        active = active[~done]
    return x


# ------------------------------------------------------------------------------------------------
# variance fixed point
# ------------------------------------------------------------------------------------------------
def _var_fixed_point(q0, sw, sb, mu2, av, kern):
    """q* reached from q0 (1-D arrays)."""
    if kern.homogeneous:
        a = _snap_one(sw * mu2 * kern.m)
        b = sw * av + sb
        with np.errstate(divide="ignore", invalid="ignore"):
            below = b / (1.0 - a)
        at = np.where(b == 0, q0, np.inf)
        above = np.where((b == 0) & (q0 == 0), 0.0, np.inf)
        return np.where(a < 1, below, np.where(a == 1, at, above))

    if kern.linear_at_zero:
        # without biases or additive noise V(q) = sw mu2 E[phi(sqrt(q) z)^2] < sw mu2 q <= q for all
        # q > 0 when sw mu2 <= 1, so q -> 0 (exactly; at sw mu2 = 1 the approach is so slow, e.g.
        # V(q) - q ~ -exp(-1/(2q)) for hard tanh, that an iteration stalls at q ~ 0.01)
        zero = (sb == 0) & (av == 0) & (_snap_one(sw * mu2) <= 1.0)
        if np.any(zero):
            out = np.zeros(q0.size)
            rest = ~zero
            if np.any(rest):
                out[rest] = _var_fixed_point(q0[rest], sw[rest], sb[rest], mu2[rest], av[rest], kern)
            return out

    def g(x, idx):
        with np.errstate(over="ignore", invalid="ignore"):
            return _var_map(x, sw[idx], sb[idx], mu2[idx], av[idx], kern) - x

    def g_dg(x, idx):
        return g(x, idx), sw[idx] * mu2[idx] * kern.d_second(x) - 1.0

    n = q0.size
    all_idx = np.arange(n)
    g0 = g(q0, all_idx)
    out = np.where(g0 == 0, q0, np.nan)
    lo = np.full(n, np.nan)
    hi = np.full(n, np.nan)
    # upwards: q0 is the positive end, search an upper end with g <= 0
    up = np.flatnonzero(g0 > 0)
    lo[up] = q0[up]
    todo = up
    for k in range(1100):
        if todo.size == 0:
            break
        cand = q0[todo] + g0[todo] * 2.0**k
        big = ~np.isfinite(cand) | (cand > 1e200)  # diverges (no fixed point below 1e200)
        out[todo[big]] = np.inf
        todo = todo[~big]
        cand = cand[~big]
        found = g(cand, todo) <= 0
        hi[todo[found]] = cand[found]
        todo = todo[~found]
    out[todo] = np.inf
    # downwards: q0 is the negative end, search a lower end with g >= 0 (never below F(0) > 0)
    down = np.flatnonzero(g0 < 0)
    hi[down] = q0[down]
    f_zero = _var_map(np.zeros(down.size), sw[down], sb[down], mu2[down], av[down], kern)
    todo = down
    floor = f_zero
    for k in range(1, 31):
        if todo.size == 0:
            break
        cand = np.maximum(q0[todo] * 4.0**-k, floor)
        found = g(cand, todo) >= 0
        lo[todo[found]] = cand[found]
        keep = ~found
        todo, floor = todo[keep], floor[keep]
    out[todo] = 0.0  # q decays to zero (below 1e-18 q0)
    solve = np.flatnonzero(np.isfinite(lo) & np.isfinite(hi) & np.isnan(out))
    if solve.size:
        x0 = 0.5 * (lo[solve] + hi[solve])
        out[solve] = _rtsafe(lambda x, idx: g_dg(x, solve[idx]), lo[solve], hi[solve], x0, xtol_abs=1e-300)
    return out


def variance_fixed_point(sigma_w2, sigma_b2, noise, activation="relu", q0=1.0):
    r"""The fixed point :math:`q^* = \lim_{l\to\infty} q^l` of the variance map, starting from ``q0``.

    Introduced in the chapter *The variance map* (``book/variance_map.md``).

    Parameters
    ----------
    sigma_w2 : float, array_like or None
        Weight variance (``None``: critical).
    sigma_b2 : float or array_like, >= 0
        Bias variance.
    noise : NoiseModel
    activation : optional
        Default ``"relu"``.
    q0 : float or array_like, >= 0, optional
        Input variance :math:`q^0` (default 1). It matters only where the map has several fixed
        points (or a continuum of them).

    Returns
    -------
    float or numpy.ndarray
        :math:`q^*`; ``np.inf`` where the variance grows without bound.

    Notes
    -----
    For ReLU (and linear) networks the map is affine, :math:`q' = a q + b` with
    :math:`a = \sigma_w^2 \mu_2 / 2` (:math:`\sigma_w^2\mu_2` for linear) and
    :math:`b = \sigma_w^2\sigma_\epsilon^2 + \sigma_b^2`:

    .. math::

       q^* = \frac{b}{1 - a}\ \ (a < 1), \qquad q^* = \infty\ \ (a > 1, \text{ or } a = 1,\ b > 0).

    At exact criticality with zero offset (:math:`a = 1`, :math:`b = 0`) every :math:`q` is
    fixed and ``q0`` is returned. For :math:`a > 1` and :math:`b = 0`, :math:`q = 0` is an
    unstable fixed point (returned only for ``q0 = 0``). For other activations the first fixed
    point in the direction the map moves ``q0`` is found by a vectorised safeguarded Newton
    iteration on a bracket (the limit of the iterates when the map is increasing; 0 when it decays
    below :math:`10^{-18} q^0`). For ``tanh`` and ``"hard_tanh"`` without biases or additive noise
    and :math:`\sigma_w^2\mu_2 \le 1`, :math:`q^* = 0` exactly (:math:`|\phi(u)| < |u|` gives
    :math:`\mathcal{V}(q) < q`); at :math:`\sigma_w^2\mu_2 = 1` the approach is too slow for any
    iteration (for hard tanh :math:`\mathcal{V}(q) - q \sim -e^{-1/(2q)}` rounds to zero near
    :math:`q = 0.01`).

    References
    ----------
    .. [1] A. Pretorius, E. van Biljon, S. Kroon, H. Kamper. *Critical initialisation for deep signal
       propagation in noisy rectifier neural networks.* NeurIPS 2018.
    .. [2] W. Huang et al. *Mean field theory for deep dropout networks: digging up gradient
       backpropagation deeply.* ECAI 2020 (linear networks: :math:`q^* = \sigma_b^2/(1 - \sigma_w^2/\rho)`).

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout, NoNoise, AdditiveGaussian
    >>> variance_fixed_point(1.0, 0.0, AdditiveGaussian(std=1.0))  # (1 * 1) / (1 - 1/2)
    2.0
    >>> variance_fixed_point(None, 0.0, Dropout(keep_prob=0.6), q0=3.0)  # critical: q0 stays
    3.0
    >>> variance_fixed_point([1.0, 1.38], 0.0, Dropout(keep_prob=0.6))
    array([ 0., inf])
    >>> round(variance_fixed_point(1.4, 0.1, Dropout(keep_prob=0.9), activation="tanh"), 6)
    0.550163
    """
    mu2, av = _noise_moments(noise)
    kern = _kernel(activation)
    sw = _resolve_sigma_w2(sigma_w2, mu2, av, kern, activation)
    sb = _check_sigma_b2(sigma_b2)
    q0 = check_in_range("q0", q0, 0.0, np.inf, hint="the input variance")
    shape, (q0, sw, sb, mu2, av) = _broadcast(q0=q0, sigma_w2=sw, sigma_b2=sb, noise=mu2, noise_av=av)
    return _out(_var_fixed_point(q0, sw, sb, mu2, av, kern).reshape(shape))


def iterate_variance(q0, n_layers, sigma_w2, sigma_b2, noise, activation="relu"):
    r"""Iterate the variance map: :math:`q^0, q^1, \dots, q^{L}`.

    Introduced in the chapter *The variance map* (``book/variance_map.md``).

    Parameters
    ----------
    q0 : float or array_like, >= 0
        Input variance.
    n_layers : int, >= 0
        Number of layers :math:`L`.
    sigma_w2 : float, array_like or None
        Weight variance (``None``: critical).
    sigma_b2 : float or array_like, >= 0
    noise : NoiseModel
    activation : optional

    Returns
    -------
    numpy.ndarray
        Shape ``(n_layers + 1, *broadcast_shape)``, with ``q0`` first. Values that overflow
        float64 are ``inf``.

    Notes
    -----
    .. math::

       q^{l} = \sigma_w^2\left(\mu_2\, \mathbb{E}[\phi(\sqrt{q^{l-1}}z)^2] + \sigma_\epsilon^2\right)
       + \sigma_b^2, \qquad \text{ReLU}, \sigma_b = 0:\ q^l = q^0 (\sigma_w^2\mu_2/2)^l.

    References
    ----------
    .. [1] A. Pretorius et al. NeurIPS 2018, Fig. 3b.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> iterate_variance(1.0, 3, [1.2, 1.38], 0.0, Dropout(keep_prob=0.6))
    array([[1.      , 1.      ],
           [1.      , 1.15    ],
           [1.      , 1.3225  ],
           [1.      , 1.520875]])
    """
    n_layers = check_int("n_layers", n_layers, 0)
    mu2, av = _noise_moments(noise)
    kern = _kernel(activation)
    sw = _resolve_sigma_w2(sigma_w2, mu2, av, kern, activation)
    sb = _check_sigma_b2(sigma_b2)
    q0 = check_in_range("q0", q0, 0.0, np.inf, hint="the input variance")
    shape, (q, sw, sb, mu2, av) = _broadcast(q0=q0, sigma_w2=sw, sigma_b2=sb, noise=mu2, noise_av=av)
    out = np.empty((n_layers + 1, q.size))
    out[0] = q
    for layer in range(1, n_layers + 1):
        q = _var_map(q, sw, sb, mu2, av, kern)
        if not kern.homogeneous:
            q = np.where(np.isfinite(q), q, np.inf)
        out[layer] = q
    return out.reshape((n_layers + 1,) + shape)


def failure_depth(sigma_w2, noise, q0=1.0):
    r"""Depth :math:`L^*` at which the variance of a ReLU network leaves the float32 range.

    Introduced in the chapter *Critical initialisation* (``book/critical_init.md``); the dashed
    line of Pretorius et al. (2018), Fig. 6a.

    Parameters
    ----------
    sigma_w2 : float or array_like, > 0
        Weight variance.
    noise : NoiseModel
        Noise model (or family). Additive noise is allowed (see Notes).
    q0 : float or array_like, > 0, optional
        Input variance (default 1, as the paper assumes).

    Returns
    -------
    float or numpy.ndarray
        :math:`L^*` (a real number of layers); ``np.inf`` where the variance stays representable
        forever (exact criticality, or a finite fixed point with additive noise).

    Notes
    -----
    With :math:`\sigma_b = 0` and multiplicative noise :math:`q^L = q^0 a^L`,
    :math:`a = \sigma_w^2\mu_2/2`, so

    .. math::

       L^* = \frac{\ln(K/q^0)}{\ln(\sigma_w^2 \mu_2/2)},\qquad
       K = \begin{cases} \texttt{float32 max} \approx 3.4\times 10^{38} & a > 1 \text{ (overflow)}\\
       \texttt{float32 tiny} \approx 1.2\times 10^{-38} & a < 1 \text{ (underflow; smallest normal)}
       \end{cases}

    and :math:`L^* = \infty` at :math:`a = 1` (values within :math:`10^{-12}` of one count as one).
    With additive noise (offset :math:`b = \sigma_w^2\sigma_\epsilon^2`) the affine recursion gives
    :math:`L^* = \ln\frac{K + b/(a-1)}{q^0 + b/(a-1)} / \ln a` for :math:`a > 1`,
    :math:`(K - q^0)/b` at :math:`a = 1`, and :math:`\infty` for :math:`a < 1`.

    References
    ----------
    .. [1] A. Pretorius, E. van Biljon, S. Kroon, H. Kamper. *Critical initialisation for deep signal
       propagation in noisy rectifier neural networks.* NeurIPS 2018, Fig. 6a.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> round(failure_depth(2.0, Dropout(keep_prob=0.6)), 2)  # ln(3.4e38) / ln(5/3)
    173.69
    >>> round(failure_depth(0.6, Dropout(keep_prob=0.6)), 2)  # underflow: ln(1.2e-38) / ln(1/2)
    126.0
    >>> failure_depth(1.2, Dropout(keep_prob=0.6))
    inf
    """
    mu2, av = _noise_moments(noise)
    sw = _check_sigma_w2(sigma_w2)
    q0 = check_in_range("q0", q0, 0.0, np.inf, low_open=True, hint="the input variance")
    shape, (q0, sw, mu2, av) = _broadcast(q0=q0, sigma_w2=sw, noise=mu2, noise_av=av)
    a = _snap_one(sw * mu2 / 2.0)
    b = sw * av
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        offset = b / (a - 1.0)
        log_a = np.log(a)
        above = np.log((FLOAT32_MAX + offset) / (q0 + offset)) / log_a
        below = np.where(b == 0, np.log(FLOAT32_TINY / q0) / log_a, np.inf)
        at = np.where(b == 0, np.inf, (FLOAT32_MAX - q0) / b)
        out = np.where(a > 1, above, np.where(a < 1, below, at))
    return _out(out.reshape(shape))


# ------------------------------------------------------------------------------------------------
# correlation map
# ------------------------------------------------------------------------------------------------
def _homogeneous_coefficients(q, sw, sb, mu2, av, kern):
    """ReLU/linear: c' = alpha kappa(c) + beta and chi = alpha kappa'(c), for q in [0, inf]."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = 1.0 / q
        rb = np.where(sb == 0, 0.0, sb * r)
        re = np.where(av == 0, 0.0, sw * av * r)
    den = sw * mu2 * kern.m + re + rb
    return sw / den, rb / den


def _corr_map(c, q, sw, sb, mu2, av, kern, slope=False):
    """(c', chi) for 1-D arrays; q may be 0 or inf for homogeneous activations."""
    if kern.homogeneous:
        kappa, kappa_p = kern.kappa_and_prime(c)
        alpha, beta = _homogeneous_coefficients(q, sw, sb, mu2, av, kern)
        return alpha * kappa + beta, (alpha * kappa_p if slope else None)
    if np.any(np.isinf(q)):
        raise InvalidParameterError(
            "the variance q is infinite (the variance map diverges for these parameters); pass a finite q"
        )
    if kern.linear_at_zero and np.any(q == 0):
        # exact q -> 0 limit for phi(0) = 0, phi'(0) = 1: E[phi(u_a) phi(u_b)] ~ q c, E[phi^2] ~ q, so
        # c' -> sb / (sw sigma_eps^2 + sb) with chi -> 0 when there is an offset, else c' = c / mu2
        # and chi = 1 / mu2 (without noise every c is fixed: chi = 1 exactly)
        zero = q == 0
        nz = ~zero
        c_next = np.empty(c.size)
        chi = np.empty(c.size)
        if np.any(nz):
            c_nz, chi_nz = _corr_map(c[nz], q[nz], sw[nz], sb[nz], mu2[nz], av[nz], kern, slope)
            c_next[nz] = c_nz
            if slope:
                chi[nz] = chi_nz
        offset = sw[zero] * av[zero] + sb[zero]
        with np.errstate(divide="ignore", invalid="ignore"):
            c_next[zero] = np.where(offset > 0, sb[zero] / offset, c[zero] / mu2[zero])
        chi[zero] = np.where(offset > 0, 0.0, 1.0 / mu2[zero])
        return c_next, (chi if slope else None)
    q = np.where(q == 0, _Q_TINY, q)
    den = _var_map(q, sw, sb, mu2, av, kern)
    if not slope:
        return (sw * kern.cross(q, c) + sb) / den, None
    cross, cross_prime = kern.cross_both(q, c)
    return (sw * cross + sb) / den, sw * q * cross_prime / den


def correlation_map(c, q, sigma_w2, sigma_b2, noise, activation="relu"):
    r"""The correlation map :math:`c^{l} = \mathcal{C}(c^{l-1})` for two inputs with variance ``q``.

    Introduced in the chapter *Correlations* (``book/correlations.md``).

    Parameters
    ----------
    c : float or array_like, in [-1, 1]
        Correlation (cosine similarity) :math:`c^{l-1}` of the two inputs' pre-activations.
    q : float or array_like, > 0
        Their common variance :math:`q^{l-1}`.
    sigma_w2 : float or array_like, > 0
    sigma_b2 : float or array_like, >= 0
    noise : NoiseModel
        Drawn independently for the two inputs.
    activation : optional
        Default ``"relu"``.

    Returns
    -------
    float or numpy.ndarray
        :math:`c^l`.

    Notes
    -----
    With :math:`u_a = \sqrt{q} z_1` and :math:`u_b = \sqrt{q}(c z_1 + \sqrt{1-c^2} z_2)`,

    .. math::

       c^{l} = \frac{\sigma_w^2\, \mathbb{E}[\phi(u_a)\phi(u_b)] + \sigma_b^2}{q^{l}},

    where :math:`q^l` is :func:`variance_map` of ``q``. The noise is independent across inputs, so
    it enters only the denominator: :math:`c^l(1) = 1` only without noise. For ReLU
    (arc-cosine kernel of Cho & Saul)

    .. math::

       \mathbb{E}[\phi(u_a)\phi(u_b)] = \frac{q}{2\pi}\left(\sqrt{1-c^2} + (\pi - \arccos c)\, c\right),

    and at criticality (:math:`\sigma_w^2 = 2/\mu_2`, :math:`\sigma_b = 0`)
    :math:`c^l = \left(\sqrt{1-c^2} + (\pi - \arccos c)\,c\right)/(\pi\mu_2)`, so
    :math:`c^l(1) = 1/\mu_2`.

    References
    ----------
    .. [1] A. Pretorius, E. van Biljon, S. Kroon, H. Kamper. *Critical initialisation for deep signal
       propagation in noisy rectifier neural networks.* NeurIPS 2018, Fig. 4a.
    .. [2] Y. Cho, L. K. Saul. *Kernel methods for deep learning.* NIPS 2009.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout, NoNoise
    >>> correlation_map(1.0, 1.0, 1.2, 0.0, Dropout(keep_prob=0.6))  # 1/mu2 = keep_prob
    0.6
    >>> correlation_map(0.0, 1.0, 2.0, 0.0, NoNoise())  # 1/pi
    0.3183098861837907
    >>> correlation_map([0.0, 0.5], 1.0, 2.0, 0.0, NoNoise())
    array([0.31830989, 0.60899778])
    """
    mu2, av = _noise_moments(noise)
    kern = _kernel(activation)
    c = _check_c(c)
    q = check_in_range("q", q, 0.0, np.inf, low_open=True, hint="a variance")
    sw = _check_sigma_w2(sigma_w2)
    sb = _check_sigma_b2(sigma_b2)
    shape, (c, q, sw, sb, mu2, av) = _broadcast(c=c, q=q, sigma_w2=sw, sigma_b2=sb, noise=mu2, noise_av=av)
    return _out(_corr_map(c, q, sw, sb, mu2, av, kern)[0].reshape(shape))


def _setup_corr(noise, sigma_w2, sigma_b2, activation, **extra):
    """Resolve and broadcast the common arguments; q is the variance fixed point unless given."""
    mu2, av = _noise_moments(noise)
    kern = _kernel(activation)
    sw = _resolve_sigma_w2(sigma_w2, mu2, av, kern, activation)
    sb = _check_sigma_b2(sigma_b2)
    names = list(extra)
    shape, arrays = _broadcast(**extra, sigma_w2=sw, sigma_b2=sb, noise=mu2, noise_av=av)
    ex = dict(zip(names, arrays[: len(names)]))
    sw, sb, mu2, av = arrays[len(names) :]
    return shape, ex, sw, sb, mu2, av, kern


def _fixed_q(q, sw, sb, mu2, av, kern):
    """q* where q is None (ReLU/linear without biases or additive noise: irrelevant, 1)."""
    if q is not None:
        return q
    if kern.homogeneous and not (np.any(sb) or np.any(av)):
        return np.ones_like(sw)
    return _var_fixed_point(np.ones_like(sw), sw, sb, mu2, av, kern)


def correlation_slope(c, noise, sigma_w2=None, sigma_b2=0.0, activation="relu", q=None):
    r"""The slope :math:`\chi(c) = \partial c^{l}/\partial c^{l-1}` of the correlation map.

    Introduced in the chapter *Correlations* (``book/correlations.md``).

    Parameters
    ----------
    c : float or array_like, in [-1, 1]
    noise : NoiseModel
    sigma_w2 : float, array_like or None, optional
        Weight variance (default ``None``: critical).
    sigma_b2 : float or array_like, >= 0, optional
    activation : optional
    q : float or array_like, > 0, optional
        Variance of the two inputs (default: the variance fixed point; irrelevant for ReLU with
        :math:`\sigma_b = 0` and multiplicative noise).

    Returns
    -------
    float or numpy.ndarray

    Notes
    -----
    By Price's theorem :math:`\partial_c \mathbb{E}[\phi(u_a)\phi(u_b)] = q\,\mathbb{E}[\phi'(u_a)\phi'(u_b)]`, so

    .. math::

       \chi(c) = \frac{\sigma_w^2\, q\, \mathbb{E}[\phi'(u_a)\phi'(u_b)]}{q^{l}},\qquad
       \text{critical ReLU: } \chi(c) = \frac{1}{\mu_2}\left(\frac12 + \frac{\arcsin c}{\pi}\right).

    References
    ----------
    .. [1] A. Pretorius, E. van Biljon, S. Kroon, H. Kamper. *Critical initialisation for deep signal
       propagation in noisy rectifier neural networks.* NeurIPS 2018, Fig. 4c.
    .. [2] S. S. Schoenholz et al. *Deep information propagation.* ICLR 2017.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout, NoNoise
    >>> correlation_slope(1.0, NoNoise())
    1.0
    >>> correlation_slope(0.0, Dropout(keep_prob=0.6))  # keep_prob / 2
    0.3
    """
    c = _check_c(c)
    if q is not None:
        q = check_in_range("q", q, 0.0, np.inf, low_open=True, hint="a variance")
        shape, ex, sw, sb, mu2, av, kern = _setup_corr(noise, sigma_w2, sigma_b2, activation, c=c, q=q)
        qq = ex["q"]
    else:
        shape, ex, sw, sb, mu2, av, kern = _setup_corr(noise, sigma_w2, sigma_b2, activation, c=c)
        qq = _fixed_q(None, sw, sb, mu2, av, kern)
    return _out(_corr_map(ex["c"], qq, sw, sb, mu2, av, kern, slope=True)[1].reshape(shape))


# Taylor coefficients of tan(x) - x = sum_k T_k x^(2k+1), k = 1..7
_TAN_SERIES = (1 / 3, 2 / 15, 17 / 315, 62 / 2835, 1382 / 155925, 21844 / 6081075, 929569 / 638512875)


def _tan_minus_identity(theta, tan_theta):
    """tan(theta) - theta, from its Taylor series below 0.1 (no cancellation; truncation < 1e-17)."""
    h = tan_theta - theta
    small = theta < 0.1
    if np.any(small):
        th = theta[small]
        t2 = th * th
        acc = np.zeros_like(th)
        for coef in reversed(_TAN_SERIES):
            acc = acc * t2 + coef
        h[small] = acc * t2 * th
    return h


def _solve_tan_minus_identity(s):
    r"""theta in [0, pi/2] with tan(theta) - theta = s (s >= 0; s = inf gives pi/2; 1-D arrays).

    Halley's iteration from an upper bound (tan x - x >= x^3/3 and >= tan x - pi/2 give
    theta <= min((3s)^(1/3), arctan(s + pi/2))); an element stops once its relative step is below
    1e-5, after which the cubic convergence leaves an error below 1e-14.
    """
    s = np.asarray(s, dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        theta = np.minimum(np.cbrt(3.0 * s), np.arctan(s + np.pi / 2))
    idx = np.flatnonzero(np.isfinite(s) & (s > 0))
    full = True  # while every element is active, work on whole arrays (no gathers)
    th, ss = theta[idx], s[idx]
    for _ in range(30):
        if idx.size == 0:
            break
        t = np.tan(th)
        h = _tan_minus_identity(th, t) - ss
        dh = t * t
        step = 2.0 * h * dh / (2.0 * dh * dh - 2.0 * h * t * (1.0 + dh))
        th = th - step
        going = np.abs(step) > 1e-5 * th
        if full and going.all():
            continue
        theta[idx] = th
        idx, th, ss, full = idx[going], th[going], ss[going], False
    theta[idx] = th
    return np.where(s == 0, 0.0, np.where(np.isinf(s), np.pi / 2, theta))


def _corr_fixed_point_homogeneous(q, sw, sb, mu2, av, kern):
    """(c*, ln chi(c*)) for ReLU/linear (1-D arrays; q may be 0 or inf).

    With 1/(alpha m) = 1 + excess, excess = mu2 - 1 + (sigma_eps^2 + sigma_b^2/sigma_w^2)/(m q) >= 0
    measures noise and biases against the signal; excess = 0 (no noise, no bias, or the q -> inf
    limit) leaves c' = c near c = 1 (c* = 1, chi = 1). ReLU without bias term (beta = 0): c' = c is
    tan(theta) - theta = pi excess for theta = arccos c*, solved by Halley's method; with biases a
    monotone Newton iteration on the convex h(c) = alpha kappa(c) + beta - c. Then
    chi(c*) = (1 - theta/pi) / (1 + excess) (ReLU) or 1 / (1 + excess) (linear).
    """
    m = kern.m
    with np.errstate(divide="ignore", invalid="ignore"):
        noise_term = np.where(av == 0, 0.0, av / (m * q))  # q = inf: 0; q = 0: inf
        bias_term = np.where(sb == 0, 0.0, sb / (sw * m * q))
    bias_term = np.where(np.isinf(q), 0.0, bias_term)
    excess = (mu2 - 1.0) + noise_term + bias_term
    log1p_excess = np.log1p(excess)
    if kern.name == "linear":  # c' = alpha c + beta with alpha = 1/(1 + excess), beta = bias_term alpha
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.where(excess == 0, 1.0, np.minimum(bias_term / excess, 1.0))
        return c, -log1p_excess
    theta = np.zeros(sw.size)
    plain = (bias_term == 0) & (excess > 0)
    if np.any(plain):
        theta[plain] = _solve_tan_minus_identity(np.pi * excess[plain])
    rest = np.flatnonzero((bias_term > 0) & (excess > bias_term))  # biases and noise (else c* = 1)
    if rest.size:
        alpha, beta = _homogeneous_coefficients(q[rest], sw[rest], sb[rest], mu2[rest], av[rest], kern)
        theta[rest] = np.arccos(_relu_newton(alpha, beta))
    return np.cos(theta), np.log1p(-theta / np.pi) - log1p_excess


def _relu_newton(a, b):
    """c* of c = a kappa(c) + b (ReLU, b > 0, a kappa(1) + b < 1): monotone Newton from c = 0."""
    out = np.empty(a.size)
    rest = np.arange(a.size)
    # first Newton step from c = 0 (kappa(0) = 1/(2 pi), kappa'(0) = 1/4); h(0) > 0 and h is convex
    # and decreasing up to the root, so the iterates increase monotonically towards it
    x = (a / (2.0 * np.pi) + b) / (1.0 - a / 4.0)
    out[:] = x
    for _ in range(200):
        if rest.size == 0:
            break
        theta = np.arccos(x)
        kp = (np.pi - theta) / (2.0 * np.pi)
        s = np.sqrt((1.0 - x) * (1.0 + x))
        h = a * (s / (2.0 * np.pi) + kp * x) + b - x
        slope = 1.0 - a * kp  # -h'(x) > 0
        step = h / slope
        x_new = np.minimum(x + step, 1.0)
        # quadratic convergence: the next error is about h''/(2|h'|) step^2 with h'' = a/(2 pi s)
        with np.errstate(divide="ignore"):
            predicted = a * step * step / (4.0 * np.pi * s * slope)
        done = (h <= 0) | (step <= 1e-15) | (predicted <= 1e-17)
        out[rest] = x_new
        keep = ~done
        rest, x, a, b = rest[keep], x_new[keep], a[keep], b[keep]
    return out


def _corr_fixed_point(q, sw, sb, mu2, av, kern):
    if kern.homogeneous:
        return _corr_fixed_point_homogeneous(q, sw, sb, mu2, av, kern)[0]
    n = sw.size

    def h_dh(x, idx):
        c_next, chi = _corr_map(x, q[idx], sw[idx], sb[idx], mu2[idx], av[idx], kern, slope=True)
        return c_next - x, chi - 1.0

    out = np.full(n, np.nan)
    # With noise or biases, h(1) = C(1) - 1 < 0 and h(-1) = C(-1) + 1 > 0 (Cauchy-Schwarz), so
    # [-1, 1] brackets the root; only noise-free members without biases need the endpoints checked.
    noise_free = (mu2 == 1) & (av == 0)
    h1 = np.full(n, -1.0)
    hm1 = np.full(n, 1.0)
    check = np.flatnonzero(noise_free)
    if check.size:
        h1_check, dh1 = h_dh(np.ones(check.size), check)
        h1[check] = h1_check
        out[check[dh1 <= _SNAP]] = 1.0  # c = 1 is fixed and stable
    check = np.flatnonzero(noise_free & (sb == 0) & np.isnan(out))
    if check.size:
        hm1[check] = h_dh(-np.ones(check.size), check)[0]
    rest = np.flatnonzero(np.isnan(out))
    if rest.size == 0:
        return out
    lo = np.full(rest.size, -1.0)
    hi = np.full(rest.size, 1.0)
    h1, hm1 = h1[rest], hm1[rest]
    tiny = 1e-13
    # an endpoint that is itself a (non-stable) fixed point: move inwards until the sign is right
    for end, value, sign in ((hi, h1, -1.0), (lo, hm1, 1.0)):
        todo = np.flatnonzero(np.abs(value) <= tiny)
        for k in range(1, 53):
            if todo.size == 0:
                break
            cand = end[todo] + sign * 2.0**-k  # 1 - 2^-k for the upper end, -1 + 2^-k for the lower
            hv = h_dh(cand, rest[todo])[0]
            found = sign * hv > tiny
            end[todo[found]] = cand[found]
            todo = todo[~found]
    x0 = np.clip(0.5 * (lo + hi), -1.0, 1.0)
    out[rest] = _rtsafe(lambda x, idx: h_dh(x, rest[idx]), lo, hi, x0, xtol_rel=0.0, xtol_abs=1e-15)
    return out


def correlation_fixed_point(noise, sigma_w2=None, sigma_b2=0.0, activation="relu"):
    r"""The stable fixed point :math:`c^*` of the correlation map.

    Introduced in the chapter *Correlations* (``book/correlations.md``).

    Parameters
    ----------
    noise : NoiseModel
        Noise model or family (vectorised: :math:`10^6` dropout rates take well under a second).
    sigma_w2 : float, array_like or None, optional
        Weight variance (default ``None``: critical, ReLU or linear only).
    sigma_b2 : float or array_like, >= 0, optional
    activation : optional
        Default ``"relu"``.

    Returns
    -------
    float or numpy.ndarray
        :math:`c^* \in [-1, 1]`, the stable solution of :math:`c^* = \mathcal{C}(c^*)` at
        :math:`q = q^*` (:func:`variance_fixed_point` from :math:`q^0 = 1`).

    Notes
    -----
    Without noise, :math:`c = 1` is always fixed; it is returned (exactly) when it is stable,
    :math:`\chi(1) \le 1`, as for critical ReLU without noise; otherwise (the chaotic phase of a
    noise-free tanh network) the stable root below 1 is returned. With noise or biases
    :math:`\mathcal{C}(1) < 1` and :math:`\mathcal{C}(-1) > -1`, and the root is found in :math:`(-1, 1)` by a
    vectorised safeguarded Newton iteration. For critical ReLU it solves

    .. math::

       c^* = \frac{\sqrt{1-{c^*}^2} + (\pi - \arccos c^*)\, c^*}{\pi\, \mu_2},

    which depends on the noise only through :math:`\mu_2`. For ReLU without biases, with
    :math:`\theta = \arccos c^*` this is :math:`\tan\theta - \theta = \pi(\mu_2 - 1 +
    2\sigma_\epsilon^2/q^*)`, solved by a vectorised Halley iteration (Taylor series for
    :math:`\tan\theta - \theta` below 0.1), accurate to about :math:`10^{-14}` in :math:`\theta^*`
    also as :math:`\mu_2 \to 1`; with biases monotone Newton steps on the convex closed form.
    Limits: where :math:`q^* = \infty` (ReLU or linear with additive noise and
    :math:`\sigma_w^2 \ge 2`, resp. 1) the noise and biases are negligible and :math:`c^* = 1`
    (for :math:`\mu_2 = 1`); where :math:`q^* = 0` (``tanh``/``"hard_tanh"`` without biases or additive
    noise, :math:`\sigma_w^2\mu_2 \le 1`) the map is :math:`c' = c/\mu_2`, so :math:`c^* = 0` with
    noise and 1 without.

    References
    ----------
    .. [1] A. Pretorius, E. van Biljon, S. Kroon, H. Kamper. *Critical initialisation for deep signal
       propagation in noisy rectifier neural networks.* NeurIPS 2018, Fig. 4.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout, NoNoise
    >>> correlation_fixed_point(NoNoise())
    1.0
    >>> correlation_fixed_point(Dropout(keep_prob=[0.6, 0.8])).round(6)
    array([0.283909, 0.472799])
    """
    shape, _, sw, sb, mu2, av, kern = _setup_corr(noise, sigma_w2, sigma_b2, activation)
    q = _fixed_q(None, sw, sb, mu2, av, kern)
    return _out(_corr_fixed_point(q, sw, sb, mu2, av, kern).reshape(shape))


def depth_scale(noise, sigma_w2=None, sigma_b2=0.0, activation="relu"):
    r"""The correlation depth scale :math:`\xi_c = -1/\ln \chi(c^*)`.

    :math:`|c^l - c^*| \propto e^{-l/\xi_c}`: the network forgets the correlation of its inputs
    over about :math:`\xi_c` layers, and networks deeper than a few :math:`\xi_c` train poorly. Introduced in
    the chapter *Depth scales and trainable depth* (``book/depth_scales.md``).

    Parameters
    ----------
    noise : NoiseModel
    sigma_w2 : float, array_like or None, optional
        Weight variance (default ``None``: critical).
    sigma_b2 : float or array_like, >= 0, optional
    activation : optional

    Returns
    -------
    float or numpy.ndarray
        :math:`\xi_c \in (0, \infty]`, never negative or nan; ``np.inf`` where :math:`\chi(c^*) = 1`
        (to :math:`10^{-12}`), see Notes.

    Notes
    -----
    .. math::

       \xi_c = -\frac{1}{\ln \chi(c^*)},\qquad \chi(c^*) \le 1 \text{ at the stable fixed point}.

    :math:`\chi(c^*) = 1` happens only in degenerate or critical limits, which are handled exactly:

    * no noise and no bias term at criticality (ReLU at :math:`\sigma_w^2 = 2`, linear at
      :math:`\sigma_w^2 = 1`): :math:`c^* = 1`;
    * ReLU or linear with additive noise where :math:`q^* = \infty` (ReLU :math:`\sigma_w^2 \ge 2`):
      in the limit :math:`q \to \infty` the additive noise and the biases become negligible, the map
      is the one of multiplicative noise with the same :math:`\mu_2` (:math:`\mu_2 = 1` for
      additive noise), so :math:`c^* = 1` and :math:`\xi_c = \infty`;
    * ``tanh`` or ``"hard_tanh"`` without biases or additive noise and :math:`\sigma_w^2\mu_2 \le 1`:
      :math:`q^* = 0`, where the map becomes linear, :math:`c' = c/\mu_2`, so
      :math:`\chi = 1/\mu_2`: :math:`\xi_c = 1/\ln\mu_2` with noise and :math:`\infty` without.

    For ReLU, :math:`\ln\chi(c^*) = \ln(1 - \theta^*/\pi) - \ln(1 + e)` is evaluated from
    :math:`\theta^* = \arccos c^*` (see :func:`correlation_fixed_point`), with
    :math:`e = \mu_2 - 1 + 2(\sigma_\epsilon^2 + \sigma_b^2/\sigma_w^2)/q^*`, without cancellation as
    :math:`\mu_2 \to 1`. For other activations :math:`\chi` comes from quadrature, and a rounding
    excess of :math:`\chi(c^*)` above 1 (within :math:`10^{-12}`) counts as 1.

    References
    ----------
    .. [1] S. S. Schoenholz et al. *Deep information propagation.* ICLR 2017.
    .. [2] A. Pretorius, E. van Biljon, S. Kroon, H. Kamper. *Critical initialisation for deep signal
       propagation in noisy rectifier neural networks.* NeurIPS 2018, Fig. 5.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout, NoNoise
    >>> depth_scale(NoNoise())
    inf
    >>> depth_scale(Dropout(keep_prob=[0.6, 0.8])).round(4)
    array([0.9655, 1.5538])
    """
    shape, _, sw, sb, mu2, av, kern = _setup_corr(noise, sigma_w2, sigma_b2, activation)
    q = _fixed_q(None, sw, sb, mu2, av, kern)
    if kern.homogeneous:  # ln chi(c*) directly from theta* = arccos c* (no cancellation near c* = 1)
        log_chi = _corr_fixed_point_homogeneous(q, sw, sb, mu2, av, kern)[1]
    else:
        c_star = _corr_fixed_point(q, sw, sb, mu2, av, kern)
        chi = _corr_map(c_star, q, sw, sb, mu2, av, kern, slope=True)[1]
        with np.errstate(divide="ignore", invalid="ignore"):
            log_chi = np.log(chi)
    # |ln chi| <= 1e-12 is criticality (chi(c*) = 1): quadrature rounding must not turn it into
    # +-1e15; at a stable fixed point chi(c*) <= 1, so a rounding excess above 1 is snapped too
    with np.errstate(divide="ignore"):
        xi = np.where(log_chi >= -_SNAP, np.inf, -1.0 / log_chi)
    return _out(xi.reshape(shape))


def iterate_correlation(c0, n_layers, noise, sigma_w2=None, sigma_b2=0.0, activation="relu", q0=None):
    r"""Iterate the correlation map: :math:`c^0, c^1, \dots, c^L`.

    Introduced in the chapter *Correlations* (``book/correlations.md``).

    Parameters
    ----------
    c0 : float or array_like, in [-1, 1]
        Input correlation.
    n_layers : int, >= 0
    noise : NoiseModel
    sigma_w2 : float, array_like or None, optional
        Weight variance (default ``None``: critical).
    sigma_b2 : float or array_like, >= 0, optional
    activation : optional
    q0 : float or array_like, > 0, optional
        Input variance. ``None`` (default): the variance sits at its fixed point :math:`q^*`
        throughout. Given: the variance is iterated alongside, :math:`q^{l} = \mathcal{V}(q^{l-1})`,
        and layer :math:`l` uses :math:`q^{l-1}` (for critical ReLU with :math:`\sigma_b = 0` and
        multiplicative noise :math:`q` does not affect :math:`c`).

    Returns
    -------
    numpy.ndarray
        Shape ``(n_layers + 1, *broadcast_shape)``, with ``c0`` first.

    Notes
    -----
    .. math::

       c^{l} = \frac{\sigma_w^2\,\mathbb{E}[\phi(u_a)\phi(u_b)] + \sigma_b^2}{q^{l}},\quad
       u_a, u_b \text{ with variance } q^{l-1} \text{ and correlation } c^{l-1}.

    References
    ----------
    .. [1] A. Pretorius et al. NeurIPS 2018, Fig. 4b.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> iterate_correlation([0.0, 0.9], 2, Dropout(keep_prob=0.8)).round(6)
    array([[0.      , 0.9     ],
           [0.254648, 0.727631],
           [0.364809, 0.616718]])
    """
    n_layers = check_int("n_layers", n_layers, 0)
    c0 = _check_c(c0)
    extra = {"c0": c0}
    if q0 is not None:
        extra["q0"] = check_in_range("q0", q0, 0.0, np.inf, low_open=True, hint="the input variance")
    shape, ex, sw, sb, mu2, av, kern = _setup_corr(noise, sigma_w2, sigma_b2, activation, **extra)
    c = ex["c0"]
    q = ex["q0"] if q0 is not None else _fixed_q(None, sw, sb, mu2, av, kern)
    out = np.empty((n_layers + 1, c.size))
    out[0] = c
    for layer in range(1, n_layers + 1):
        c = np.clip(_corr_map(c, q, sw, sb, mu2, av, kern)[0], -1.0, 1.0)
        if q0 is not None:
            q = _var_map(q, sw, sb, mu2, av, kern)
        out[layer] = c
    return out.reshape((n_layers + 1,) + shape)


# ------------------------------------------------------------------------------------------------
# gradients
# ------------------------------------------------------------------------------------------------
def gradient_slope(noise, sigma_w2=None, sigma_b2=0.0, activation="relu"):
    r"""The per-layer growth factor :math:`\chi_1` of backpropagated gradient variance.

    Used in the chapter *Beyond the paper: a noisy edge of chaos* (``book/edge_of_chaos.md``);
    the gradient analysis is Huang et al. (2020).

    Parameters
    ----------
    noise : NoiseModel
    sigma_w2 : float, array_like or None, optional
        Weight variance (default ``None``: critical).
    sigma_b2 : float or array_like, >= 0, optional
    activation : optional

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
            raise InvalidParameterError("the variance fixed point is infinite for these parameters (no chi_1)")
        chi = _snap_one(sw * mu2 * kern.grad2(np.where(q == 0, _Q_TINY, q)))
    return _out(chi.reshape(shape))


def gradient_depth_scale(noise, sigma_w2=None, sigma_b2=0.0, activation="relu"):
    r"""The gradient depth scale :math:`\xi_1 = 1/|\ln \chi_1|`.

    The gradient analysis of Huang et al. (2020).

    Parameters
    ----------
    noise : NoiseModel
    sigma_w2 : float, array_like or None, optional
    sigma_b2 : float or array_like, >= 0, optional
    activation : optional

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
