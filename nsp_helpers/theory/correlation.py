r"""The correlation map of a wide noisy network: one layer, its slope, its stable fixed point, many layers, and
the correlation depth scale :math:`\xi_c`.

Introduced in the chapters *Correlations* (``book/correlations.md``) and *Depth scales and trainable depth*
(``book/depth_scales.md``).
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidParameterError, check_in_range, check_int, check_memory
from ._common import _SNAP, _Q_TINY, _broadcast, _check_c, _out, _rtsafe
from .critical import _resolve_all
from .variance import _var_fixed_point, _var_map

__all__ = ["correlation_map", "correlation_slope", "correlation_fixed_point", "iterate_correlation", "depth_scale"]


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


def _infinite_q_error(sw, sb, mu2):
    """The error for a variance fixed point q* = inf (an activation without a bound, and a map that grows)."""
    return InvalidParameterError(
        "sigma_w2, sigma_b2 and the noise give an infinite variance fixed point q* (the variance map grows without "
        f"bound), e.g. at sigma_w2 = {float(np.ravel(sw)[0]):.6g}, sigma_b2 = {float(np.ravel(sb)[0]):.6g}, noise "
        f"mu2 = {float(np.ravel(mu2)[0]):.6g}: lower sigma_w2 or the noise"
    )


def _corr_map(c, q, sw, sb, mu2, av, kern, slope=False):
    """(c', chi) for 1-D arrays; q may be 0 or inf for homogeneous activations."""
    if kern.homogeneous:
        kappa, kappa_p = kern.kappa_and_prime(c)
        alpha, beta = _homogeneous_coefficients(q, sw, sb, mu2, av, kern)
        return alpha * kappa + beta, (alpha * kappa_p if slope else None)
    if np.any(np.isinf(q)):
        raise _infinite_q_error(sw[np.isinf(q)], sb[np.isinf(q)], mu2[np.isinf(q)])
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
    with np.errstate(over="ignore"):
        swq = sw * q
    chi = np.where(np.isfinite(swq), swq * cross_prime / den, (sw / den) * (q * cross_prime))  # sigma_w2 q ~ 1e600
    return (sw * cross + sb) / den, chi


def correlation_map(c, noise, sigma_w2=None, sigma_b2=None, activation="relu", q=None):
    r"""The correlation map :math:`c^{l} = \mathcal{C}(c^{l-1})` for two inputs with variance ``q``.

    Introduced in the chapter *Correlations* (``book/correlations.md``).

    Parameters
    ----------
    c : float or array_like, in [-1, 1]
        Correlation (cosine similarity) :math:`c^{l-1}` of the two inputs' pre-activations.
    noise : NoiseModel or NoisyNetwork
        Noise model (or family), drawn independently for the two inputs, or a whole network description (then leave out ``sigma_w2``,
        ``sigma_b2`` and ``activation``).
    sigma_w2 : float, array_like or None, optional
        Weight variance (default ``None``: critical, see :func:`critical_parameters`).
    sigma_b2 : float, array_like or None, optional
        Bias variance (``None``: 0, or the critical one).
    activation : optional
        Default ``"relu"``.
    q : float or array_like, > 0, optional
        Their common variance :math:`q^{l-1}` (default: the variance fixed point :math:`q^*` from
        :math:`q^0 = 1`; irrelevant for ReLU with :math:`\sigma_b = 0` and multiplicative noise).

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
    >>> correlation_map(1.0, Dropout(keep_prob=0.6))  # critical: 1/mu2 = keep_prob
    0.6
    >>> correlation_map(0.0, NoNoise(), 2.0)  # 1/pi
    0.3183098861837907
    >>> correlation_map([0.0, 0.5], NoNoise(), 2.0, q=1.0)
    array([0.31830989, 0.60899778])
    """
    c = _check_c(c)
    if q is not None:
        q = check_in_range("q", q, 0.0, np.inf, low_open=True, hint="a variance")
        shape, ex, sw, sb, mu2, av, kern = _setup_corr(noise, sigma_w2, sigma_b2, activation, c=c, q=q)
        qq = ex["q"]
    else:
        shape, ex, sw, sb, mu2, av, kern = _setup_corr(noise, sigma_w2, sigma_b2, activation, c=c)
        qq = _fixed_q(None, sw, sb, mu2, av, kern)
    return _out(_corr_map(ex["c"], qq, sw, sb, mu2, av, kern)[0].reshape(shape))


def _setup_corr(noise, sigma_w2, sigma_b2, activation, **extra):
    """Resolve and broadcast the common arguments; q is the variance fixed point unless given.

    ``ex`` holds the broadcast ``extra`` arrays and ``"mu2_excess"``, the noise's exact mu2 - 1.
    """
    noise, sw, sb, _, mu2, av, kern = _resolve_all(noise, sigma_w2, sigma_b2, activation)
    names = list(extra)
    shape, arrays = _broadcast(**extra, sigma_w2=sw, sigma_b2=sb, noise=mu2, noise_av=av,
                               noise_excess=np.asarray(noise.mu2_excess, dtype=float))
    ex = dict(zip(names, arrays[: len(names)]))
    sw, sb, mu2, av, ex["mu2_excess"] = arrays[len(names) :]
    return shape, ex, sw, sb, mu2, av, kern


def _fixed_q(q, sw, sb, mu2, av, kern):
    """q* where q is None (ReLU/linear without biases or additive noise: irrelevant, 1)."""
    if q is not None:
        return q
    if kern.homogeneous and not (np.any(sb) or np.any(av)):
        return np.ones_like(sw)
    return _var_fixed_point(np.ones_like(sw), sw, sb, mu2, av, kern)


def correlation_slope(c, noise, sigma_w2=None, sigma_b2=None, activation="relu", q=None):
    r"""The slope :math:`\chi(c) = \partial c^{l}/\partial c^{l-1}` of the correlation map.

    Introduced in the chapter *Correlations* (``book/correlations.md``).

    Parameters
    ----------
    c : float or array_like, in [-1, 1]
    noise : NoiseModel or NoisyNetwork
        Noise model (or family), or a whole network description (then leave out ``sigma_w2``,
        ``sigma_b2`` and ``activation``).
    sigma_w2 : float, array_like or None, optional
        Weight variance (default ``None``: critical, see :func:`critical_parameters`).
    sigma_b2 : float, array_like or None, optional
        Bias variance (``None``: 0, or the critical one).
    activation : optional
        Default ``"relu"``.
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
    # beyond 1e7: theta = pi/2 - eps with 1/eps + 2 eps/3 + O(eps^3) = s + pi/2, so eps = 1/(s + pi/2) to a
    # relative 1e-14 (Halley's steps would overflow tan(theta)^4 for s near 1e300)
    huge = np.isfinite(s) & (s > 1e7)
    theta[huge] = np.pi / 2 - 1.0 / (s[huge] + np.pi / 2)
    idx = np.flatnonzero(np.isfinite(s) & (s > 0) & ~huge)
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


def _corr_fixed_point_homogeneous(q, sw, sb, mu2, av, kern, mu2_excess=None):
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
    excess = (mu2 - 1.0 if mu2_excess is None else mu2_excess) + noise_term + bias_term
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


def _corr_fixed_point(q, sw, sb, mu2, av, kern, mu2_excess=None):
    if kern.homogeneous:
        return _corr_fixed_point_homogeneous(q, sw, sb, mu2, av, kern, mu2_excess)[0]
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


def correlation_fixed_point(noise, sigma_w2=None, sigma_b2=None, activation="relu"):
    r"""The stable fixed point :math:`c^*` of the correlation map.

    Introduced in the chapter *Correlations* (``book/correlations.md``).

    Parameters
    ----------
    noise : NoiseModel or NoisyNetwork
        Noise model or family (vectorised: :math:`10^6` dropout rates take well under a
        second), or a whole network description (then leave out ``sigma_w2``,
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
    shape, ex, sw, sb, mu2, av, kern = _setup_corr(noise, sigma_w2, sigma_b2, activation)
    q = _fixed_q(None, sw, sb, mu2, av, kern)
    return _out(_corr_fixed_point(q, sw, sb, mu2, av, kern, ex["mu2_excess"]).reshape(shape))


def depth_scale(noise, sigma_w2=None, sigma_b2=None, activation="relu"):
    r"""The correlation depth scale :math:`\xi_c = -1/\ln \chi(c^*)`.

    :math:`|c^l - c^*| \propto e^{-l/\xi_c}`: the network forgets the correlation of its inputs
    over about :math:`\xi_c` layers, and networks deeper than a few :math:`\xi_c` train poorly. Introduced in
    the chapter *Depth scales and trainable depth* (``book/depth_scales.md``).

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
        :math:`\xi_c \in (0, \infty]`, never negative or nan; ``np.inf`` where :math:`\chi(c^*) = 1`
        (to :math:`10^{-12}`), see Notes.

    Notes
    -----
    .. math::

       \xi_c = -\frac{1}{\ln \chi(c^*)},\qquad \chi(c^*) \le 1 \text{ at the stable fixed point}.

    :math:`\chi(c^*) = 1` happens only in degenerate or critical limits, which are handled exactly:

    * no noise and no bias term at criticality (ReLU at :math:`\sigma_w^2 = 2`, linear at
      :math:`\sigma_w^2 = 1`): :math:`c^* = 1` (weak noise, however weak, is finite: the excess
      :math:`\mu_2 - 1` is read from the noise model without rounding, e.g. :math:`10^{-16}` for
      ``MultiplicativeGaussian(std=1e-8)``, whose ``mu2`` is 1.0 in float64);
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
    shape, ex, sw, sb, mu2, av, kern = _setup_corr(noise, sigma_w2, sigma_b2, activation)
    q = _fixed_q(None, sw, sb, mu2, av, kern)
    if kern.homogeneous:  # ln chi(c*) directly from theta* = arccos c* (no cancellation near c* = 1)
        log_chi = _corr_fixed_point_homogeneous(q, sw, sb, mu2, av, kern, ex["mu2_excess"])[1]
    else:
        c_star = _corr_fixed_point(q, sw, sb, mu2, av, kern)
        chi = _corr_map(c_star, q, sw, sb, mu2, av, kern, slope=True)[1]
        with np.errstate(divide="ignore", invalid="ignore"):
            log_chi = np.log(chi)
    # |ln chi| <= 1e-12 is criticality (chi(c*) = 1): quadrature rounding must not turn it into
    # +-1e15; at a stable fixed point chi(c*) <= 1, so a rounding excess above 1 is snapped too. The closed
    # forms of ReLU and linear networks give ln chi without rounding (0 exactly at criticality, -1e-16 for
    # mu2 = 1 + 1e-16): no snapping there
    with np.errstate(divide="ignore"):
        xi = np.where(log_chi >= (0.0 if kern.homogeneous else -_SNAP), np.inf, -1.0 / log_chi)
    return _out(xi.reshape(shape))


def iterate_correlation(c0, n_layers, noise, sigma_w2=None, sigma_b2=None, activation="relu", q0=None):
    r"""Iterate the correlation map: :math:`c^0, c^1, \dots, c^L`.

    Introduced in the chapter *Correlations* (``book/correlations.md``).

    Parameters
    ----------
    c0 : float or array_like, in [-1, 1]
        Input correlation.
    n_layers : int, >= 0
    noise : NoiseModel or NoisyNetwork
        Noise model (or family), or a whole network description (then leave out ``sigma_w2``,
        ``sigma_b2`` and ``activation``).
    sigma_w2 : float, array_like or None, optional
        Weight variance (default ``None``: critical, see :func:`critical_parameters`).
    sigma_b2 : float, array_like or None, optional
        Bias variance (``None``: 0, or the critical one).
    activation : optional
        Default ``"relu"``.
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
    c0 = _check_c(c0, "c0")
    extra = {"c0": c0}
    if q0 is not None:
        extra["q0"] = check_in_range("q0", q0, 0.0, np.inf, low_open=True, hint="the input variance")
    shape, ex, sw, sb, mu2, av, kern = _setup_corr(noise, sigma_w2, sigma_b2, activation, **extra)
    c = ex["c0"]
    check_memory(8.0 * (n_layers + 1) * c.size, "the iterates", {"n_layers": n_layers})
    q = ex["q0"] if q0 is not None else _fixed_q(None, sw, sb, mu2, av, kern)
    out = np.empty((n_layers + 1, c.size))
    out[0] = c
    for layer in range(1, n_layers + 1):
        c = np.clip(_corr_map(c, q, sw, sb, mu2, av, kern)[0], -1.0, 1.0)
        if q0 is not None:
            q = _var_map(q, sw, sb, mu2, av, kern)
        out[layer] = c
    return out.reshape((n_layers + 1,) + shape)
