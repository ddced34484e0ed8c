r"""The variance map of a wide noisy network: one layer, its slope, its fixed point, many layers, and the depth
at which the variance leaves the float32 range.

Introduced in the chapters *The variance map* (``book/variance_map.md``) and *Critical initialisation*
(``book/critical_init.md``).
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidParameterError, check_in_range, check_int, check_memory
from ._common import FLOAT32_MAX, FLOAT32_TINY, _broadcast, _out, _rtsafe, _snap_one
from .critical import _resolve

__all__ = ["variance_map", "variance_slope", "variance_fixed_point", "iterate_variance", "failure_depth"]


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


def variance_map(q, noise, sigma_w2=None, sigma_b2=None, activation="relu"):
    r"""The variance map :math:`q^{l} = \mathcal{V}(q^{l-1})` of a wide noisy network.

    Introduced in the chapter *The variance map* (``book/variance_map.md``).

    Parameters
    ----------
    q : float or array_like, >= 0
        Pre-activation variance :math:`q^{l-1}` of the previous layer.
    noise : NoiseModel or NoisyNetwork
        The noise model (or a family of noise levels), or a whole network description (then leave out
        ``sigma_w2``, ``sigma_b2`` and ``activation``: they are the network's).
    sigma_w2 : float, array_like or None, optional
        Weight variance :math:`\sigma_w^2` (weights :math:`\mathcal{N}(0, \sigma_w^2/N)`). ``None``
        (default): critical (:func:`critical_parameters`).
    sigma_b2 : float, array_like or None, optional
        Bias variance :math:`\sigma_b^2` (``None``: 0, or the critical one where ``sigma_w2`` is critical).
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
    >>> variance_map(1.0, NoNoise(), 2.0)  # He initialisation preserves q
    1.0
    >>> variance_map(1.0, Dropout(keep_prob=0.6))  # so does the critical dropout init (sigma_w2 = 1.2)
    1.0
    >>> variance_map(4.0, AdditiveGaussian(std=1.0), 2.0)  # additive noise adds 2 * 1
    6.0
    >>> variance_map([0.5, 1.0], NoNoise(), 1.0, activation="tanh").round(6)
    array([0.273676, 0.394294])
    >>> from nsp_helpers.network import NoisyNetwork
    >>> variance_map(4.0, NoisyNetwork(Dropout(0.8), sigma_w2=2.0))  # or a network: 2 * 1.25 * 4 / 2
    5.0
    """
    mu2, av, sw, sb, kern = _resolve(noise, sigma_w2, sigma_b2, activation)
    q = check_in_range("q", q, 0.0, np.inf, hint="a variance")
    shape, (q, sw, sb, mu2, av) = _broadcast(q=q, sigma_w2=sw, sigma_b2=sb, noise=mu2, noise_av=av)
    return _out(_var_map(q, sw, sb, mu2, av, kern).reshape(shape))


def variance_slope(noise, sigma_w2=None, sigma_b2=None, activation="relu", q=None):
    r"""The slope :math:`\partial q^{l}/\partial q^{l-1}` of the variance map.

    Introduced in the chapter *The variance map* (``book/variance_map.md``).

    Parameters
    ----------
    noise : NoiseModel or NoisyNetwork
        See :func:`variance_map`.
    sigma_w2 : float, array_like or None, optional
        Weight variance (default ``None``: critical, see :func:`critical_parameters`).
    sigma_b2 : float, array_like or None, optional
        Bias variance (``None``: 0, or the critical one).
    activation : optional
        Default ``"relu"``.
    q : float or array_like, optional
        Where to evaluate the slope (default: the variance fixed point :math:`q^*` from :math:`q^0 = 1`).

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
    >>> variance_slope(Dropout(keep_prob=0.6))  # critical
    1.0
    >>> variance_slope(Dropout(keep_prob=0.6), 1.38)  # 1.15x critical: grows 15 % per layer
    1.15
    """
    mu2, av, sw, sb, kern = _resolve(noise, sigma_w2, sigma_b2, activation)
    if q is None:
        q = np.asarray(_fixed_point(1.0, sw, sb, mu2, av, kern), dtype=float)
        if not kern.homogeneous and np.any(np.isinf(q)):
            raise InvalidParameterError(
                "sigma_w2, sigma_b2 and the noise give an infinite variance fixed point q* (the variance map grows "
                "without bound): lower sigma_w2 or pass q explicitly"
            )
    else:
        q = check_in_range("q", q, 0.0, np.inf, hint="a variance")
    shape, (q, sw, mu2, _) = _broadcast(q=q, sigma_w2=sw, noise=mu2, sigma_b2=sb)
    return _out(_var_slope(q, sw, mu2, kern).reshape(shape))



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
    # a bounded activation bounds the map, V(q) <= ceiling, and with it q* (g(ceiling) <= 0)
    with np.errstate(over="ignore", invalid="ignore"):
        ceiling = np.full(n, np.inf) if kern.sup_second is None else sw * (mu2 * kern.sup_second + av) + sb
    # upwards: q0 is the positive end, search an upper end with g <= 0
    up = np.flatnonzero(g0 > 0)
    lo[up] = q0[up]
    todo = up
    for k in range(1100):
        if todo.size == 0:
            break
        cand = q0[todo] + g0[todo] * 2.0**k
        over = ~np.isfinite(cand) | (cand > 1e200)
        cand = np.where(over & np.isfinite(ceiling[todo]), ceiling[todo], cand)  # a bounded map: g(ceiling) <= 0
        big = over & np.isinf(ceiling[todo])  # diverges (no fixed point below 1e200)
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


def variance_fixed_point(noise, sigma_w2=None, sigma_b2=None, activation="relu", q0=1.0):
    r"""The fixed point :math:`q^* = \lim_{l\to\infty} q^l` of the variance map, starting from ``q0``.

    Introduced in the chapter *The variance map* (``book/variance_map.md``).

    Parameters
    ----------
    noise : NoiseModel or NoisyNetwork
        See :func:`variance_map`.
    sigma_w2 : float, array_like or None, optional
        Weight variance (default ``None``: critical).
    sigma_b2 : float, array_like or None, optional
        Bias variance (``None``: 0, or the critical one).
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
    below :math:`10^{-18} q^0`; ``inf`` when it grows past :math:`10^{200}`, except for ``tanh`` and
    ``"hard_tanh"``, whose :math:`\phi^2 \le 1` bounds the map and with it the bracket,
    :math:`q^* \le \sigma_w^2(\mu_2 + \sigma_\epsilon^2) + \sigma_b^2`, so that even
    :math:`q^* \approx 10^{300}` is found). For ``tanh`` and ``"hard_tanh"`` without biases or additive noise
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
    >>> variance_fixed_point(AdditiveGaussian(std=1.0), 1.0)  # (1 * 1) / (1 - 1/2)
    2.0
    >>> variance_fixed_point(Dropout(keep_prob=0.6), q0=3.0)  # critical: q0 stays
    3.0
    >>> variance_fixed_point(Dropout(keep_prob=0.6), [1.0, 1.38])
    array([ 0., inf])
    >>> round(variance_fixed_point(Dropout(keep_prob=0.9), 1.4, 0.1, activation="tanh"), 6)
    0.550163
    """
    mu2, av, sw, sb, kern = _resolve(noise, sigma_w2, sigma_b2, activation)
    q0 = check_in_range("q0", q0, 0.0, np.inf, hint="the input variance")
    return _fixed_point(q0, sw, sb, mu2, av, kern)


def _fixed_point(q0, sw, sb, mu2, av, kern):
    """:func:`variance_fixed_point` of resolved arguments (broadcast, shaped)."""
    shape, (q0, sw, sb, mu2, av) = _broadcast(q0=q0, sigma_w2=sw, sigma_b2=sb, noise=mu2, noise_av=av)
    return _out(_var_fixed_point(q0, sw, sb, mu2, av, kern).reshape(shape))


def iterate_variance(q0, n_layers, noise, sigma_w2=None, sigma_b2=None, activation="relu"):
    r"""Iterate the variance map: :math:`q^0, q^1, \dots, q^{L}`.

    Introduced in the chapter *The variance map* (``book/variance_map.md``).

    Parameters
    ----------
    q0 : float or array_like, >= 0
        Input variance.
    n_layers : int, >= 0
        Number of layers :math:`L`.
    noise : NoiseModel or NoisyNetwork
        See :func:`variance_map`.
    sigma_w2 : float, array_like or None, optional
        Weight variance (default ``None``: critical).
    sigma_b2 : float, array_like or None, optional
        Bias variance (``None``: 0, or the critical one).
    activation : optional
        Default ``"relu"``.

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
    >>> iterate_variance(1.0, 3, Dropout(keep_prob=0.6), [1.2, 1.38])
    array([[1.      , 1.      ],
           [1.      , 1.15    ],
           [1.      , 1.3225  ],
           [1.      , 1.520875]])
    """
    n_layers = check_int("n_layers", n_layers, 0)
    mu2, av, sw, sb, kern = _resolve(noise, sigma_w2, sigma_b2, activation)
    q0 = check_in_range("q0", q0, 0.0, np.inf, hint="the input variance")
    shape, (q, sw, sb, mu2, av) = _broadcast(q0=q0, sigma_w2=sw, sigma_b2=sb, noise=mu2, noise_av=av)
    check_memory(8.0 * (n_layers + 1) * q.size, "the iterates", {"n_layers": n_layers})
    out = np.empty((n_layers + 1, q.size))
    out[0] = q
    for layer in range(1, n_layers + 1):
        q = _var_map(q, sw, sb, mu2, av, kern)
        if not kern.homogeneous:
            q = np.where(np.isfinite(q), q, np.inf)
        out[layer] = q
    return out.reshape((n_layers + 1,) + shape)


def failure_depth(noise, sigma_w2=None, sigma_b2=None, activation="relu", q0=1.0):
    r"""Depth :math:`L^*` at which the variance of a ReLU (or linear) network leaves the float32 range.

    Introduced in the chapter *Critical initialisation* (``book/critical_init.md``); the theory
    curve of Pretorius et al. (2018), Fig. 6a (whose dashed line marks the critical weight variance).

    Parameters
    ----------
    noise : NoiseModel or NoisyNetwork
        Noise model (or family). Additive noise is allowed (see Notes). See :func:`variance_map`.
    sigma_w2 : float, array_like or None, optional
        Weight variance (default ``None``: critical, where :math:`L^* = \infty`).
    sigma_b2 : float, array_like or None, optional
        Bias variance (default ``None``: 0). It adds to the offset :math:`b` below.
    activation : {"relu", "linear"}, optional
        Default ``"relu"``; the closed form needs an affine variance map.
    q0 : float or array_like, in [float32 tiny, float32 max], optional
        Input variance (default 1, as the paper assumes); it must itself lie in the float32 range
        (about :math:`[1.2\times 10^{-38}, 3.4\times 10^{38}]`), or no layer is left to count.

    Returns
    -------
    float or numpy.ndarray
        :math:`L^* \ge 0` (a real number of layers); ``np.inf`` where the variance stays representable
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
    With additive noise or biases (offset :math:`b = \sigma_w^2\sigma_\epsilon^2 + \sigma_b^2`) the affine
    recursion gives
    :math:`L^* = \ln\frac{K + b/(a-1)}{q^0 + b/(a-1)} / \ln a` for :math:`a > 1`,
    :math:`(K - q^0)/b` at :math:`a = 1`, and :math:`\infty` for :math:`a < 1`. A linear network has
    :math:`a = \sigma_w^2\mu_2`.

    References
    ----------
    .. [1] A. Pretorius, E. van Biljon, S. Kroon, H. Kamper. *Critical initialisation for deep signal
       propagation in noisy rectifier neural networks.* NeurIPS 2018, Fig. 6a.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> round(failure_depth(Dropout(keep_prob=0.6), 2.0), 2)  # ln(3.4e38) / ln(5/3)
    173.69
    >>> round(failure_depth(Dropout(keep_prob=0.6), 0.6), 2)  # underflow: ln(1.2e-38) / ln(1/2)
    126.0
    >>> failure_depth(Dropout(keep_prob=0.6))  # critical
    inf
    """
    mu2, av, sw, sb, kern = _resolve(noise, sigma_w2, sigma_b2, activation)
    if not kern.homogeneous:
        raise InvalidParameterError(
            f"failure_depth needs an affine variance map: activation must be 'relu' or 'linear', got {kern.name!r}"
        )
    q0 = check_in_range("q0", q0, FLOAT32_TINY, FLOAT32_MAX,
                        hint="the input variance, itself within the float32 range whose limits L* counts layers to")
    shape, (q0, sw, sb, mu2, av) = _broadcast(q0=q0, sigma_w2=sw, sigma_b2=sb, noise=mu2, noise_av=av)
    a = _snap_one(sw * mu2 * kern.m)
    b = sw * av + sb
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        offset = b / (a - 1.0)
        log_a = np.log(a)
        above = np.log((FLOAT32_MAX + offset) / (q0 + offset)) / log_a
        below = np.where(b == 0, np.log(FLOAT32_TINY / q0) / log_a, np.inf)
        at = np.where(b == 0, np.inf, (FLOAT32_MAX - q0) / b)
        out = np.where(a > 1, above, np.where(a < 1, below, at))
    return _out(out.reshape(shape))
