r"""Gaussian expectations: the quadrature engine of the theory layer.

:func:`gaussian_expectation` and :func:`bivariate_gaussian_expectation` (trapezoidal rule in :math:`z`),
and the *kernels* that the maps read from an activation: closed forms for ReLU and linear networks
(:math:`\mathbb{E}[\phi(u_a)\phi(u_b)] = q\,\kappa(c)`), closed forms plus Gauss-Legendre panels for
``"hard_tanh"``, and quadrature for ``"tanh"`` and any other activation.

Introduced in the chapter *The variance map* (``book/variance_map.md``).
"""

from __future__ import annotations

import math

import numpy as np

from ..activations import ACTIVATIONS, get_activation
from ..errors import check_in_range
from ._common import _Q_TINY, _broadcast, _check_c, _check_n_nodes, _out

__all__ = ["gaussian_expectation", "bivariate_gaussian_expectation"]

# trapezoidal rule on [-_Z_MAX, _Z_MAX]: spacing min(_H_MAX, _H_POLE / sqrt(q_max)); integrands known
# to be analytic (tanh) may use the coarser _H_MAX_ANALYTIC, where only the poles limit the spacing
_Z_MAX = 10.0
_H_MAX = 0.1
_H_MAX_ANALYTIC = 0.4
_H_POLE = math.pi**2 / 48.0
_N_MAX = 4001
_CHUNK = 2**21  # floats per temporary array
# above this variance the trapezoidal rule would need more than _N_MAX nodes (q ~ 1700): graded Gauss-Legendre
# panels instead, resolving the activation at the scale of u = sqrt(q) z (see _panel_nodes)
_Q_PANELS = (_H_POLE * (_N_MAX - 1) / (2.0 * _Z_MAX)) ** 2
# panel ends: u = sqrt(q) z at +-_U_BREAKS (ratio 2: every panel sees the poles of tanh, at u = +-i pi/2, from
# the same relative distance), and z at +-_Z_BREAKS for the Gaussian weight
_U_BREAKS = np.array([0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0])
_Z_BREAKS = np.array([0.0, 1.0, -1.0, 2.5, -2.5, 5.0, -5.0, _Z_MAX, -_Z_MAX])
_PANEL_NODES, _PANEL_WEIGHTS = np.polynomial.legendre.leggauss(16)


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


def _panel_nodes(centre, scale):
    r"""Nodes and weights for :math:`\mathbb{E}[h(z)]`, :math:`z \sim \mathcal{N}(0, 1)`, where :math:`h` varies on the
    scale ``scale`` around ``centre`` (1-D arrays, one rule per entry; shapes ``(m, n)``).

    16-point Gauss-Legendre panels on [-10, 10] between the ends ``centre +- scale * (0.5, 1, 2, ..., 128)`` (a
    geometric grading: each panel is as wide as its distance from ``centre``, so an activation whose poles lie
    at :math:`\pm i\pi/2` in units of ``scale``, as tanh's, converges like :math:`6^{-32}` on every panel) and
    0, +-1, +-2.5, +-5, +-10 (the Gaussian weight). The weights include the normal density.
    """
    centre = np.asarray(centre, dtype=float)[:, None]
    scale = np.asarray(scale, dtype=float)[:, None]
    with np.errstate(invalid="ignore", over="ignore"):
        ends = np.concatenate([np.broadcast_to(_Z_BREAKS, (centre.shape[0], _Z_BREAKS.size)), centre,
                               centre - scale * _U_BREAKS, centre + scale * _U_BREAKS], axis=1)
    ends = np.sort(np.clip(np.nan_to_num(ends, nan=_Z_MAX), -_Z_MAX, _Z_MAX), axis=1)
    lo, hi = ends[:, :-1, None], ends[:, 1:, None]
    half = 0.5 * (hi - lo)
    z = (0.5 * (hi + lo) + half * _PANEL_NODES).reshape(centre.shape[0], -1)
    w = (half * _PANEL_WEIGHTS).reshape(centre.shape[0], -1) * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return z, w


def _expect1(f, q, n_nodes=None, h_max=_H_MAX):
    """E[f(sqrt(q) z)] for a 1-D float array q >= 0 (unique values evaluated once).

    The trapezoidal rule of :func:`_grid`; for q above ``_Q_PANELS`` (automatic nodes only) the graded panels
    of :func:`_panel_nodes`, centred on u = 0 at the scale 1/sqrt(q).
    """
    q = np.asarray(q, dtype=float)
    if q.size == 0:
        return np.empty_like(q)
    uq, inv = np.unique(q, return_inverse=True)
    out = np.empty(uq.size)
    n_trap = uq.size if n_nodes is not None else int(np.searchsorted(uq, _Q_PANELS, side="right"))
    if n_trap:
        z, w = _grid(float(uq[n_trap - 1]), n_nodes, h_max)
        step = max(1, _CHUNK // z.size)
        for s in range(0, n_trap, step):
            sq = np.sqrt(uq[s : min(s + step, n_trap)])[:, None]
            out[s : s + sq.shape[0]] = _apply(f, sq * z) @ w
    if n_trap < uq.size:
        sq = np.sqrt(uq[n_trap:])
        z, w = _panel_nodes(np.zeros(sq.size), 1.0 / sq)
        out[n_trap:] = (_apply(f, sq[:, None] * z) * w).sum(axis=1)
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
    out = [np.empty(uq.size) for _ in outer]
    trap = np.flatnonzero(uq <= _Q_PANELS) if n_nodes is None else np.arange(uq.size)
    if trap.size:
        z, w = _grid(float(uq[trap].max()), n_nodes, h_max)
        n = z.size
        step = max(1, _CHUNK // (n * n))
        for s in range(0, trap.size, step):
            idx = trap[s : s + step]
            sq = np.sqrt(uq[idx])[:, None, None]
            cc = uc[idx][:, None, None]
            ss = us[idx][:, None, None]
            ua = sq[:, :, 0] * z  # (m, n)
            ub = sq * (cc * z[None, :, None] + ss * z[None, None, :])  # (m, n, n)
            for res, f, g_ub in zip(out, outer, inner(ub)):
                res[idx] = (_apply(f, ua) * (np.broadcast_to(g_ub, ub.shape) @ w)) @ w
    for i in np.setdiff1d(np.arange(uq.size), trap):
        # large q: panels in z1 around u_a = 0, and for every z1 panels in z2 around u_b = 0, i.e. z2 = -c z1 / s
        sq, cc, ss = math.sqrt(uq[i]), uc[i], us[i]
        z1, w1 = _panel_nodes(np.zeros(1), np.array([1.0 / sq]))
        z1, w1 = z1[0], w1[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            z2, w2 = _panel_nodes(-cc * z1 / ss, np.full(z1.size, 1.0 / (sq * ss)))
        ub = sq * (cc * z1[:, None] + ss * z2)  # (n1, n2)
        for res, f, g_ub in zip(out, outer, inner(ub)):
            res[i] = (_apply(f, sq * z1) * (np.broadcast_to(g_ub, ub.shape) * w2).sum(axis=1)) @ w1
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
    n_nodes : int, in [3, 10**6], optional
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
    nodes, so the spacing would stop shrinking at :math:`q \approx 1700`; above that (with automatic
    nodes) the expectation is taken on Gauss-Legendre panels (16 nodes each) whose ends are graded
    geometrically in :math:`u = \sqrt{q}\,z` around 0 (:math:`|u| = 0.5, 1, 2, \dots, 128`) plus
    :math:`z = 0, \pm 1, \pm 2.5, \pm 5, \pm 10`, which resolves the activation at every
    :math:`q` (up to :math:`10^{300}`) with about 400 nodes; the two-dimensional expectation nests
    the same panels, the inner ones graded around :math:`u_b = 0`. The tests check both against
    mpmath up to :math:`q = 10^{20}`.

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
    n_nodes : int, in [3, 4001], optional
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
    return _out(_expect2(f, g, qf, cf, _check_n_nodes(n_nodes, _N_MAX)).reshape(shape))


# ------------------------------------------------------------------------------------------------
# kernels: what the maps need from an activation
# ------------------------------------------------------------------------------------------------
class _Homogeneous:
    """Closed forms for positively homogeneous activations (ReLU, linear): E[...] = q * kappa(c)."""

    homogeneous = True
    linear_at_zero = False
    sup_second = None  # sup of phi^2: unbounded

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
        # sup phi^2 = 1 for tanh and hard tanh: the variance map is bounded, so is its fixed point
        self.sup_second = 1.0 if self.linear_at_zero else None

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

    # E[z^2 1{|z| < t}] = P(chi^2_3 < t^2) = gammainc(3/2, t^2/2): no cancellation for small t (large q), where
    # the textbook form 2 Phi(t) - 1 - 2 t pdf(t) subtracts two numbers that agree to O(t^2)
    def second(self, q):  # E[clip(u)^2] = E[u^2 1{|u| < 1}] + P(|u| > 1) = q gammainc(3/2, 1/(2q)) + erfc(t/sqrt 2)
        from scipy.special import erfc, gammainc

        q = np.asarray(q, dtype=float)
        t = self._t(q)
        with np.errstate(invalid="ignore", over="ignore"):
            inside = np.where(np.isinf(q), 0.0, q * gammainc(1.5, 0.5 * t * t))
        return inside + erfc(t / math.sqrt(2.0))

    def d_second(self, q):  # E[u^2 1{|u| < 1}] / q = gammainc(3/2, t^2/2)
        from scipy.special import gammainc

        t = self._t(np.maximum(q, _Q_TINY))
        with np.errstate(over="ignore"):
            return gammainc(1.5, 0.5 * t * t)

    def grad2(self, q):  # P(|u| < 1) = erf(t / sqrt 2)
        from scipy.special import erf

        return erf(self._t(q) / math.sqrt(2.0))

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
        """P(X < -1), P(X > 1), P(|X| < 1) and E[X; |X| < 1] for X ~ N(m, sd^2).

        With alpha/beta = (-+1 - m)/sd: P(|X| < 1) = Phi(beta) - Phi(alpha), E[X; |X| < 1] = m (Phi(beta) -
        Phi(alpha)) + sd (pdf(alpha) - pdf(beta)). For sd > 100 (q s^2 > 1e4) these differences cancel (alpha and
        beta agree to 1/sd, and m is of the order of sd): both integrals are taken over |x| < 1 instead, by
        16-point Gauss-Legendre (the density pdf((x - m)/sd)/sd barely varies there).
        """
        from scipy.special import ndtr

        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            alpha = np.where(sd > 0, (-1.0 - m) / sd, np.where(m > -1.0, -np.inf, np.inf))
            beta = np.where(sd > 0, (1.0 - m) / sd, np.where(m < 1.0, np.inf, -np.inf))
            phi_a, phi_b = ndtr(alpha), ndtr(beta)
            pa = _normal_pdf(np.clip(alpha, -40.0, 40.0))
            pb = _normal_pdf(np.clip(beta, -40.0, 40.0))
            inside = phi_b - phi_a
            e_inside = m * inside + sd * (pa - pb)
            wide = sd > 100.0
            if np.any(wide):
                h = 1.0 / np.where(wide, sd, 1.0)
                dens = _normal_pdf(np.clip(-m * h, -40.0, 40.0)[..., None] + h[..., None] * _PANEL_NODES)
                inside = np.where(wide, h * (dens @ _PANEL_WEIGHTS), inside)
                e_inside = np.where(wide, h * (dens @ (_PANEL_WEIGHTS * _PANEL_NODES)), e_inside)
        return phi_a, 1.0 - phi_b, inside, e_inside

    def cross(self, q, c):
        sq, cc, ss, breaks = self._setup2(q, c)

        def integrand(z):
            below, above, _, e_inside = self._conditional(sq * cc * z, sq * ss)
            # E[clip(X)] = -P(X < -1) + P(X > 1) + E[X; |X| < 1]
            return np.clip(sq * z, -1.0, 1.0) * (-below + above + e_inside)

        return _panel_expectation(integrand, breaks)

    def cross_prime(self, q, c):
        sq, cc, ss, breaks = self._setup2(q, c)

        def integrand(z):
            inside = self._conditional(sq * cc * z, sq * ss)[2]
            return (np.abs(sq * z) < 1.0) * inside

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
