"""Error types and argument checks shared by the whole package.

Every check names the offending parameter and its valid range, so that bad
input fails loudly instead of producing a silent ``nan`` or a wrong number.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "InvalidParameterError",
    "NoCriticalPointError",
    "as_float_array",
    "check_in_range",
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
) -> np.ndarray:
    """Convert ``value`` to a finite float array and check ``low <= value <= high``.

    ``low_open``/``high_open`` make the corresponding end of the interval open.
    The error message names the parameter, the valid interval and the first bad value.

    Examples
    --------
    >>> check_in_range("keep_prob", 0.5, 0, 1, low_open=True)
    array(0.5)
    >>> check_in_range("keep_prob", 0.0, 0, 1, low_open=True)
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: keep_prob must be in (0, 1], got 0.0
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
    return arr


def _fmt(x: float) -> str:
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:g}"
