r"""Beyond the paper: depth scales over the plane of initialisations :math:`(\sigma_w^2, \sigma_b^2)`, the
noiseless edge of chaos, and the noisy edge of chaos (the :math:`\sigma_w^2` that maximises :math:`\xi_c`).

==================================  =============================================================
function                            what
==================================  =============================================================
:func:`linear_network_depth_scale`  :math:`1/\ln\mu_2`, the depth scale of noisy linear networks
:func:`depth_scale_map`             :math:`\xi_c` over a grid of :math:`(\sigma_w^2, \sigma_b^2)`
:func:`noiseless_edge_of_chaos`     :math:`\sigma_w^2` with :math:`\chi_1 = 1`, without noise
:func:`maximise_depth_scale`        the :math:`\sigma_w^2` maximising :math:`\xi_c`, per bias
==================================  =============================================================

Introduced in the chapter *Beyond the paper: a noisy edge of chaos* (``book/edge_of_chaos.md``).

References
----------
.. [1] S. S. Schoenholz, J. Gilmer, S. Ganguli, J. Sohl-Dickstein. *Deep information propagation.*
   ICLR 2017.
.. [2] B. Poole, S. Lahiri, M. Raghu, J. Sohl-Dickstein, S. Ganguli. *Exponential expressivity in
   deep neural networks through transient chaos.* NeurIPS 2016.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidParameterError, check_in_range, check_int
from ..network import NoisyNetwork
from ..noise import NoNoise
from ._common import _check_noise, _noise_moments
from .correlation import correlation_fixed_point, depth_scale
from .gradients import gradient_slope

__all__ = [
    "DepthScaleRidge",
    "depth_scale_map",
    "linear_network_depth_scale",
    "maximise_depth_scale",
    "noiseless_edge_of_chaos",
]


def _members(noise, function: str) -> list:
    """The members of a noise level or a 1-D family."""
    if isinstance(noise, NoisyNetwork):
        raise InvalidParameterError(
            f"{function} runs over sigma_w2 (and sigma_b2): pass the noise model (network.noise), not a NoisyNetwork"
        )
    _check_noise(noise)
    if len(noise.shape) > 1:
        raise InvalidParameterError(f"noise must be a single noise level or a 1-D family, got shape {noise.shape}")
    return [noise] if noise.shape == () else list(noise)


def _bounds(sigma_w2_bounds):
    """``(low, high)`` of a search interval of weight variances, ``0 < low < high``."""
    bounds = check_in_range("sigma_w2_bounds", sigma_w2_bounds, 0.0, np.inf, low_open=True)
    if bounds.shape != (2,) or not bounds[0] < bounds[1]:
        raise InvalidParameterError(f"sigma_w2_bounds must be an increasing pair (low, high), got {sigma_w2_bounds!r}")
    return float(bounds[0]), float(bounds[1])


def linear_network_depth_scale(noise):
    r"""Depth scale of a noisy *linear* network, :math:`1/\ln\mu_2`.

    Introduced in the chapter *Beyond the paper: a noisy edge of chaos* (``book/edge_of_chaos.md``).

    Parameters
    ----------
    noise : NoiseModel or NoisyNetwork
        Multiplicative noise (a family broadcasts); of a network only the noise is read (the result is the
        bound for any network with this noise, see Notes).

    Returns
    -------
    float or numpy.ndarray
        :math:`1/\ln\mu_2` (``inf`` without noise).

    Notes
    -----
    With :math:`\phi(h) = h` and :math:`\sigma_b = 0` the correlation map is exactly
    :math:`c' = \sigma_w^2 q c / (\sigma_w^2 \mu_2 q) = c/\mu_2`, so :math:`c^* = 0`,
    :math:`\chi = 1/\mu_2` and

    .. math::

        \xi_c = \frac{1}{\ln \mu_2}.

    A tanh network with :math:`\sigma_b^2 \to 0` and :math:`\sigma_w^2 \to 1/\mu_2` approaches this
    value (its signal shrinks into the linear part of tanh); no initialisation we mapped exceeds it.

    Examples
    --------
    >>> from nsp_helpers.noise import Dropout
    >>> round(linear_network_depth_scale(Dropout(keep_prob=0.5)), 4)  # 1 / ln 2
    1.4427
    """
    if isinstance(noise, NoisyNetwork):
        noise = noise.noise
    _noise_moments(noise)
    excess = np.asarray(noise.mu2_excess, dtype=float)  # mu2 - 1, exact for weak noise (1e-16, not 0)
    with np.errstate(divide="ignore"):
        out = np.where(excess > 0, 1.0 / np.log1p(np.where(excess > 0, excess, 1.0)), np.inf)
    return float(out) if out.ndim == 0 else out


def depth_scale_map(noise, sigma_w2, sigma_b2, activation="relu") -> np.ndarray:
    r"""The depth scale :math:`\xi_c` over a grid of initialisations :math:`(\sigma_w^2, \sigma_b^2)`.

    Introduced in the chapter *Beyond the paper: a noisy edge of chaos* (``book/edge_of_chaos.md``).

    Parameters
    ----------
    noise : NoiseModel
        One noise level or a 1-D family (a leading axis). (Not a NoisyNetwork: the map runs over
        :math:`\sigma_w^2` and :math:`\sigma_b^2`.)
    sigma_w2 : 1-D array_like, > 0
        Weight variances (the columns of the map).
    sigma_b2 : 1-D array_like, >= 0
        Bias variances (the rows).
    activation : str, Activation or callable, default "relu"
        The chapter maps ``"tanh"``.

    Returns
    -------
    numpy.ndarray, shape ``noise.shape + (len(sigma_b2), len(sigma_w2))``
        :math:`\xi_c`; ``inf`` on the noiseless edge of chaos.

    Notes
    -----
    Each entry is :func:`depth_scale`,
    :math:`\xi_c = -1/\ln\chi(c^*)` at the variance fixed point :math:`q^*`, with

    .. math::

        \chi(c^*) = \frac{\sigma_w^2\, q^*\,\mathbb{E}[\phi'(u_a)\phi'(u_b)]}{q^*}
        = \sigma_w^2\,\mathbb{E}[\phi'(u_a)\phi'(u_b)] ,

    computed by Gauss-Hermite quadrature for tanh (about 10 ms per grid point).

    Examples
    --------
    >>> from nsp_helpers.noise import MultiplicativeGaussian
    >>> depth_scale_map(MultiplicativeGaussian(std=0.5), [1.0, 2.0], [0.1], "tanh").round(2)
    array([[1.96, 2.63]])
    """
    members = _members(noise, "depth_scale_map")
    sw = check_in_range("sigma_w2", sigma_w2, 0.0, np.inf, low_open=True)
    sb = check_in_range("sigma_b2", sigma_b2, 0.0, np.inf)
    if sw.ndim != 1 or sb.ndim != 1:
        raise InvalidParameterError(f"sigma_w2 and sigma_b2 must be 1-D grids, got shapes {sw.shape} and {sb.shape}")
    grid_w, grid_b = np.meshgrid(sw, sb)
    out = [np.asarray(depth_scale(m, grid_w, grid_b, activation), dtype=float) for m in members]
    return out[0] if noise.shape == () else np.stack(out)


def noiseless_edge_of_chaos(sigma_b2, activation="relu", sigma_w2_bounds=(0.5, 20.0)):
    r"""The noiseless edge of chaos: the weight variance at which :math:`\chi_1 = 1`.

    Introduced in the chapter *Beyond the paper: a noisy edge of chaos* (``book/edge_of_chaos.md``).

    Parameters
    ----------
    sigma_b2 : float or 1-D array_like, >= 0
    activation : str, Activation or callable, default "relu"
        The chapter uses ``"tanh"`` (for ReLU the edge is :math:`\sigma_w^2 = 2` at every bias).
    sigma_w2_bounds : (float, float)
        Bracket searched; :math:`\chi_1 - 1` must change sign inside it.

    Returns
    -------
    float or numpy.ndarray
        :math:`\sigma_w^2` on the edge of chaos for each :math:`\sigma_b^2`.

    Notes
    -----
    Without noise, :math:`c^* = 1` is stable while

    .. math::

        \chi_1 = \sigma_w^2\,\mathbb{E}_z\bigl[\phi'(\sqrt{q^*}z)^2\bigr] \le 1

    (Poole et al. 2016; Schoenholz et al. 2017), and :math:`\xi_c` diverges where :math:`\chi_1 = 1`.
    Solved by bisection (50 halvings of the bracket) on all values of ``sigma_b2`` at once.

    References
    ----------
    .. [1] Schoenholz et al. (2017), "Deep information propagation", Fig. 1.

    Examples
    --------
    >>> round(noiseless_edge_of_chaos(0.0, "tanh"), 6)
    1.0
    >>> round(noiseless_edge_of_chaos(0.1), 6)  # ReLU: He initialisation
    2.0
    """
    sb = check_in_range("sigma_b2", sigma_b2, 0.0, np.inf, max_ndim=1)
    lo_w, hi_w = _bounds(sigma_w2_bounds)
    flat = np.atleast_1d(sb).astype(float).ravel()

    def excess(sw):
        return np.asarray(gradient_slope(NoNoise(), sw, flat, activation), dtype=float) - 1.0

    lo = np.full(flat.shape, lo_w)
    hi = np.full(flat.shape, hi_w)
    f_lo, f_hi = excess(lo), excess(hi)
    same = np.sign(f_lo) == np.sign(f_hi)
    if np.any(same):
        raise InvalidParameterError(
            f"chi_1 - 1 does not change sign for sigma_w2 in {sigma_w2_bounds!r} at sigma_b2 = {flat[same][0]:.6g}: "
            "the edge of chaos lies outside; widen sigma_w2_bounds"
        )
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        f_mid = excess(mid)
        left = np.sign(f_mid) == np.sign(f_lo)
        lo = np.where(left, mid, lo)
        f_lo = np.where(left, f_mid, f_lo)
        hi = np.where(left, hi, mid)
    out = 0.5 * (lo + hi)
    return float(out[0]) if sb.ndim == 0 else out.reshape(sb.shape)


@dataclass
class DepthScaleRidge:
    """The weight variance that maximises :math:`\\xi_c`, per bias variance and noise level (:func:`maximise_depth_scale`;
    chapter ``book/edge_of_chaos.md``).

    Arrays have shape ``noise.shape + (len(sigma_b2),)``.

    Attributes
    ----------
    sigma_b2 : numpy.ndarray
        The bias variances.
    sigma_w2 : numpy.ndarray
        The maximising weight variance (the noisy edge of chaos).
    depth_scale : numpy.ndarray
        The maximal :math:`\\xi_c`.
    c_star : numpy.ndarray
        :math:`c^*` at the maximum.
    at_bound : numpy.ndarray of bool
        Where the maximum sits on the edge of the searched interval of :math:`\\sigma_w^2`.
    """

    sigma_b2: np.ndarray
    sigma_w2: np.ndarray
    depth_scale: np.ndarray
    c_star: np.ndarray
    at_bound: np.ndarray


def maximise_depth_scale(noise, sigma_b2, activation="relu", *, sigma_w2_bounds=(0.05, 6.0),
                         n_grid: int = 32, n_iter: int = 16) -> DepthScaleRidge:
    r"""For each bias variance, the weight variance that maximises :math:`\xi_c`: a noisy edge of chaos.

    Introduced in the chapter *Beyond the paper: a noisy edge of chaos* (``book/edge_of_chaos.md``).

    Parameters
    ----------
    noise : NoiseModel
        One noise level or a 1-D family (not a NoisyNetwork: the search runs over :math:`\sigma_w^2`).
    sigma_b2 : 1-D array_like, >= 0
        Bias variances.
    activation : str, Activation or callable, default "relu"
        The chapter and :func:`critical_parameters` use it for ``"tanh"`` (and other activations without a
        closed-form critical point).
    sigma_w2_bounds : (float, float)
        Interval of weight variances searched.
    n_grid : int, >= 3
        Grid points of the initial scan (log-spaced over the interval).
    n_iter : int, >= 0
        Golden-section steps refining the best grid point within its two neighbours.

    Returns
    -------
    DepthScaleRidge
        The maximising :math:`\sigma_w^2`, the maximum :math:`\xi_c` and :math:`c^*` there.

    Notes
    -----
    Without noise :math:`\xi_c` is infinite on the edge of chaos :math:`\chi_1 = 1`
    (:func:`noiseless_edge_of_chaos`). With noise it is finite everywhere, and for fixed
    :math:`\sigma_b^2` it peaks at

    .. math::

        \sigma_w^{2\,\star}(\sigma_b^2) = \operatorname*{arg\,max}_{\sigma_w^2}\; -\frac{1}{\ln\chi(c^*)} .

    The scan is followed by ``n_iter`` golden-section steps (all values of ``sigma_b2`` at once), each
    shrinking the bracket by 0.618. A maximum on the edge of the interval is flagged in ``at_bound``.

    Examples
    --------
    >>> from nsp_helpers.noise import MultiplicativeGaussian
    >>> ridge = maximise_depth_scale(MultiplicativeGaussian(std=0.5), [0.05], "tanh", n_grid=12, n_iter=10)
    >>> ridge.sigma_w2.round(1), ridge.depth_scale.round(2)
    (array([1.7]), array([2.94]))
    """
    members = _members(noise, "maximise_depth_scale")
    sb = check_in_range("sigma_b2", sigma_b2, 0.0, np.inf)
    if sb.ndim != 1:
        raise InvalidParameterError(f"sigma_b2 must be a 1-D array, got shape {sb.shape}")
    lo_w, hi_w = _bounds(sigma_w2_bounds)
    # beyond these the grid holds more points than float64 tells apart and the bracket stops shrinking
    n_grid = check_int("n_grid", n_grid, 3, 100_000, allow_integral_float=True)
    n_iter = check_int("n_iter", n_iter, 0, 200, allow_integral_float=True)
    grid = np.geomspace(lo_w, hi_w, n_grid)
    results = []
    for member in members:
        xi_grid = depth_scale_map(member, grid, sb, activation)  # (n_b, n_grid)
        best = np.argmax(np.where(np.isnan(xi_grid), -np.inf, xi_grid), axis=1)
        lo = grid[np.maximum(best - 1, 0)]
        hi = grid[np.minimum(best + 1, n_grid - 1)]

        def xi_at(sw, member=member):
            return np.asarray(depth_scale(member, sw, sb, activation), dtype=float)

        ratio = (math.sqrt(5.0) - 1.0) / 2.0
        x1 = hi - ratio * (hi - lo)
        x2 = lo + ratio * (hi - lo)
        f1, f2 = xi_at(x1), xi_at(x2)
        for _ in range(n_iter):
            left = f1 >= f2  # the maximum lies in [lo, x2]
            hi = np.where(left, x2, hi)
            lo = np.where(left, lo, x1)
            new_x1 = np.where(left, hi - ratio * (hi - lo), x2)
            new_x2 = np.where(left, x1, lo + ratio * (hi - lo))
            x1, x2 = new_x1, new_x2
            f_new = xi_at(np.where(left, x1, x2))
            f1, f2 = np.where(left, f_new, f2), np.where(left, f1, f_new)
        candidates = np.stack([x1, x2, grid[best]])
        values = np.stack([f1, f2, xi_grid[np.arange(sb.size), best]])
        pick = np.argmax(values, axis=0)
        sw_best = candidates[pick, np.arange(sb.size)]
        xi_best = values[pick, np.arange(sb.size)]
        c_best = np.asarray(correlation_fixed_point(member, sw_best, sb, activation), dtype=float)
        at_bound = (best == 0) | (best == n_grid - 1)
        results.append((sw_best, xi_best, c_best, at_bound))
    stack = (lambda k: results[0][k]) if noise.shape == () else (lambda k: np.stack([r[k] for r in results]))
    return DepthScaleRidge(sigma_b2=sb.astype(float), sigma_w2=stack(0), depth_scale=stack(1), c_star=stack(2),
                           at_bound=stack(3))
