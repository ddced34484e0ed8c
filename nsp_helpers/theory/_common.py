"""Shared constants and small helpers of the theory layer (argument checks, broadcasting, a vectorised
root finder). Private: nothing here is part of the public API except the float32 limits."""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import InvalidParameterError, check_in_range
from ..noise import NoiseModel

#: float32 limits (largest finite and smallest normal number): used by :func:`failure_depth`, and imported
#: from here by the simulation and plotting layers (defined once)
FLOAT32_MAX = float(np.finfo(np.float32).max)
FLOAT32_TINY = float(np.finfo(np.float32).tiny)

# slopes within this relative distance of 1 are snapped to exactly 1 (criticality), so that
# 2/mu2 * mu2/2 = 0.9999999999999999 does not turn an infinite depth scale into 1e16
_SNAP = 1e-12
# the maps at q = 0 are evaluated at this tiny q (their q -> 0+ limit, to O(q))
_Q_TINY = 1e-16


# ------------------------------------------------------------------------------------------------
# small helpers
# ------------------------------------------------------------------------------------------------
def _out(x):
    x = np.asarray(x, dtype=float)
    return float(x) if x.ndim == 0 else x


def _check_noise(noise):
    if not isinstance(noise, NoiseModel):
        raise InvalidParameterError(
            "noise must be a nsp_helpers.noise.NoiseModel such as NoNoise(), Dropout(keep_prob=0.6) or "
            f"AdditiveGaussian(std=1.0), or a nsp_helpers.network.NoisyNetwork, got {noise!r}"
        )
    return noise


def _noise_moments(noise):
    _check_noise(noise)
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


def _check_c(c, name="c"):
    return check_in_range(name, c, -1.0, 1.0, hint="a correlation (cosine similarity)")


def _check_n_nodes(n_nodes, high=10**6):
    """``None`` or an integer in [3, high] (10**6 nodes in one dimension, 4001 per dimension in two)."""
    if n_nodes is None:
        return None
    if isinstance(n_nodes, (bool, np.bool_)) or not isinstance(n_nodes, numbers.Integral) or not 3 <= n_nodes <= high:
        raise InvalidParameterError(f"n_nodes must be None (automatic) or an integer in [3, {high}], got {n_nodes!r}")
    return int(n_nodes)


def _snap_one(x):
    x = np.asarray(x, dtype=float)
    return np.where(np.abs(x - 1.0) <= _SNAP, 1.0, x)



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

