"""Error types and argument checks shared by the whole package.

Every check names the offending parameter and its valid range, so that bad
input fails loudly instead of producing a silent ``nan`` or a wrong number.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "InvalidParameterError",
    "NoCriticalPointError",
    "as_float_array",
    "check_in_range",
    "check_int",
]


class InvalidParameterError(ValueError):
    """A parameter is outside its valid range (a :class:`ValueError`)."""


class NoCriticalPointError(ValueError):
    """The requested noise model has no critical initialisation."""


def as_float_array(name: str, value) -> np.ndarray:
    """Return ``value`` as a float64 array, rejecting non-numeric and non-finite input.

    Examples
    --------
    >>> as_float_array("q", [1, 2])
    array([1., 2.])
    >>> as_float_array("q", float("nan"))
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: q must be finite, got nan
    """
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"{name} must be a real number or array of real numbers, got {value!r}") from exc
    if not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)].ravel()[0]
        raise InvalidParameterError(f"{name} must be finite, got {bad}")
    return arr


def check_in_range(
    name: str,
    value,
    low: float = -np.inf,
    high: float = np.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
    hint: str = "",
    max_ndim: int | None = None,
) -> np.ndarray:
    """Convert ``value`` to a finite float array and check ``low <= value <= high``.

    ``low_open``/``high_open`` make the corresponding end of the interval open.
    The error message names the parameter, the valid interval and the first bad value.
    ``max_ndim=1`` also requires a scalar or a 1-D array.

    Examples
    --------
    >>> check_in_range("keep_prob", 0.5, 0, 1, low_open=True)
    array(0.5)
    >>> check_in_range("keep_prob", 0.0, 0, 1, low_open=True)
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: keep_prob must be in (0, 1], got 0.0
    >>> check_in_range("q0", [[1.0]], 0, np.inf, max_ndim=1)
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: q0 must be a scalar or a 1-D array, got shape (1, 1)
    """
    arr = as_float_array(name, value)
    too_low = arr <= low if low_open else arr < low
    too_high = arr >= high if high_open else arr > high
    bad = too_low | too_high
    if np.any(bad):
        first = arr[bad].ravel()[0]
        left = "(" if (low_open or np.isinf(low)) else "["
        right = ")" if (high_open or np.isinf(high)) else "]"
        interval = f"{left}{_fmt(low)}, {_fmt(high)}{right}"
        msg = f"{name} must be in {interval}, got {first}"
        if hint:
            msg += f" ({hint})"
        raise InvalidParameterError(msg)
    if max_ndim is not None and arr.ndim > max_ndim:
        shape = "a scalar or a 1-D array" if max_ndim == 1 else f"an array of at most {max_ndim} dimensions"
        raise InvalidParameterError(f"{name} must be {shape}, got shape {arr.shape}")
    return arr


def check_int(name: str, value, low: int, *, allow_integral_float: bool = False) -> int:
    """Check that ``value`` is an integer ``>= low`` (never a bool) and return it as an ``int``.

    ``allow_integral_float=True`` also accepts floats with an integral value (``3.0``).

    Examples
    --------
    >>> check_int("n_layers", 3, 0)
    3
    >>> check_int("width", 100.0, 1, allow_integral_float=True)
    100
    >>> check_int("n_layers", 2.5, 0)
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: n_layers must be an integer >= 0, got 2.5
    """
    integral = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
    if not integral and allow_integral_float and isinstance(value, (float, np.floating)):
        integral = float(value).is_integer()
    if not integral or value < low:
        raise InvalidParameterError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _fmt(x: float) -> str:
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:g}"
