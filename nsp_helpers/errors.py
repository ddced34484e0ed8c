"""Error types and argument checks shared by the whole package: the one validation layer.

Every public function checks its arguments with the functions below, so that bad input fails loudly,
with one :class:`InvalidParameterError` (a :class:`ValueError`) whose message names the parameter as
the caller spelled it, says what was expected (type, shape, range) and shows what was given, instead
of producing a silent ``nan``, a wrong number or a raw error from numpy or torch.

==============================  ====================================================================
check                           accepts
==============================  ====================================================================
:func:`as_float_array`          real numbers or arrays of them, finite (any shape)
:func:`check_in_range`          the same, inside an interval; ``max_ndim`` limits the shape
:func:`check_float`             one real number inside an interval (returns a ``float``)
:func:`check_int`               one integer (never a bool) inside an interval (returns an ``int``)
:func:`check_ints`              a sequence of such integers (returns a ``list``)
:func:`check_choice`            one of a fixed set of strings (suggests the closest one)
:func:`check_bool`              ``True`` or ``False`` only
:func:`check_objects`           a non-empty list of instances of a class
:func:`check_memory`            arrays that fit in the available memory (naming the sizes to reduce)
:func:`caller_sizes`            a memory refusal inside names the caller's parameters (a context manager)
:func:`check_path`              a non-empty ``str`` or :class:`os.PathLike`
:func:`as_real_tensor`          a finite real torch tensor or array of a given number of dimensions
==============================  ====================================================================

Numeric checks refuse what numpy would silently convert: strings (``"0.5"``), booleans (``True``
is not the number 1 here), complex numbers (numpy would drop the imaginary part with a warning),
``None``, arbitrary objects and ragged lists.

Files that cannot be read raise :class:`DamagedFileError` (naming the file); files that cannot be
written raise :class:`StorageError` (an :class:`OSError`, naming the path and the reason).
"""

from __future__ import annotations

import contextlib
import difflib
import errno as _errno
import numbers
import os

import numpy as np

__all__ = [
    "InvalidParameterError",
    "NoCriticalPointError",
    "DamagedFileError",
    "InsufficientMemoryError",
    "StorageError",
    "MAX_INT",
    "as_float_array",
    "as_real_tensor",
    "caller_sizes",
    "check_bool",
    "check_choice",
    "check_float",
    "check_in_range",
    "check_int",
    "check_ints",
    "check_memory",
    "check_objects",
    "check_path",
    "describe",
]

#: Largest integer the checks accept by default (int64, what torch and numpy can hold).
MAX_INT = 2**63 - 1


class InvalidParameterError(ValueError):
    """A parameter has the wrong type, shape or value (a :class:`ValueError`); the message names it."""


class NoCriticalPointError(ValueError):
    """The requested noise model has no critical initialisation."""


class DamagedFileError(InvalidParameterError):
    """A file the package wrote earlier (results, checkpoint) is truncated, not JSON, or lacks a field.

    Attributes
    ----------
    path : pathlib.Path
        The offending file.
    """

    def __init__(self, message: str, path):
        super().__init__(message)
        from pathlib import Path

        self.path = Path(path)


class InsufficientMemoryError(InvalidParameterError):
    """A computation would need more memory than is available (raised by :func:`check_memory`).

    An :class:`InvalidParameterError`: the sizes the caller passed are what to reduce. The message names
    them (``sizes``); :func:`caller_sizes` replaces sizes derived inside a function (``n_inputs = 2 *
    n_pairs``) with the parameters its caller spelled.

    Attributes
    ----------
    what : str
        What would not fit (``"the forward pass"``).
    n_bytes : float
        The memory it would take.
    available : int
        The memory available.
    sizes : dict
        ``{parameter: value}``, the sizes to reduce.
    """

    def __init__(self, what: str, n_bytes: float, available: int, sizes: dict):
        self.what, self.n_bytes, self.available, self.sizes = what, float(n_bytes), int(available), dict(sizes)
        given = [f"{k}={v}" for k, v in self.sizes.items()]
        reduce = given[0] if len(given) == 1 else ", ".join(given[:-1]) + " or " + given[-1] if given else "the sizes"
        super().__init__(
            f"{what} would take {self.n_bytes / 2**30:.3g} GiB, more than the memory available "
            f"({self.available / 2**30:.3g} GiB); reduce {reduce}"
        )

    def __reduce__(self):
        return type(self), (self.what, self.n_bytes, self.available, self.sizes)


class StorageError(OSError):
    """A file or folder cannot be written (disk full, no permission, read-only file system...).

    The message names the path, the reason and what to do; ``errno`` and ``filename`` are those of
    the operating-system error.
    """

    def __init__(self, message: str, path=None, errno: int | None = None):
        super().__init__(message)
        self.errno = errno
        self.filename = None if path is None else str(path)

    def __str__(self) -> str:
        return self.args[0]


_STORAGE_REASONS = {
    _errno.ENOSPC: "no space left on the device; free some space or choose another folder",
    _errno.EDQUOT: "the disk quota is exceeded; free some space or choose another folder",
    _errno.EACCES: "permission denied; choose a folder you can write to",
    _errno.EPERM: "operation not permitted; choose a folder you can write to",
    _errno.EROFS: "the file system is read-only; choose a writable folder",
}


def storage_error(path, exc: BaseException, action: str = "write") -> StorageError:
    """A :class:`StorageError` describing why ``action`` on ``path`` failed with ``exc``.

    Examples
    --------
    >>> import errno
    >>> str(storage_error("/out/r.json", OSError(errno.ENOSPC, "No space left on device")))
    'cannot write /out/r.json: no space left on the device; free some space or choose another folder (No space left on device)'
    """
    code = getattr(exc, "errno", None)
    reason = _STORAGE_REASONS.get(code)
    detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    message = f"cannot {action} {path}: {reason} ({detail})" if reason else f"cannot {action} {path}: {detail}"
    return StorageError(message, path, code)


# ----------------------------------------------------------------------------------------------------
# describing values in messages
# ----------------------------------------------------------------------------------------------------
def describe(value) -> str:
    """A short description of ``value`` for error messages (type and value, at most ~80 characters).

    Examples
    --------
    >>> describe("0.5"), describe(True), describe(1 + 2j), describe([1, 2, 3]), describe(np.zeros((2, 3)))
    ("the string '0.5'", 'the bool True', 'the complex number (1+2j)', 'a list of 3 values', 'an array of shape (2, 3)')
    """
    if isinstance(value, (str, bytes)):
        text = repr(value)
        return f"the {'string' if isinstance(value, str) else 'bytes'} {text if len(text) <= 60 else text[:57] + '...'}"
    if isinstance(value, (bool, np.bool_)):
        return f"the bool {bool(value)}"
    if isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real):
        return f"the complex number {value!r}"
    if isinstance(value, (list, tuple)):
        kind = type(value).__name__
        return f"a {kind} of {len(value)} value{'s' if len(value) != 1 else ''}" if value else f"an empty {kind}"
    if hasattr(value, "shape") and hasattr(value, "dtype") and getattr(value, "ndim", 0) > 0:
        return f"an array of shape {tuple(value.shape)}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _bad_elements(arr: np.ndarray) -> list:
    """The first element of an object array that is not a real number, in a list (empty if all are)."""
    for element in arr.flat:
        if isinstance(element, (bool, np.bool_)) or not isinstance(element, numbers.Real):
            return [element]
    return []


def _real_array(name: str, value) -> np.ndarray:
    """``value`` as a float64 array; refuses strings, booleans, complex numbers, ``None``, objects, ragged lists."""
    what = "a real number or an array of real numbers"
    if value is None or isinstance(value, (str, bytes, bytearray, bool, np.bool_)) or (
        isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real)
    ):
        raise InvalidParameterError(f"{name} must be {what}, got {describe(value)}")
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):  # a torch tensor (on any device)
        if value.dtype.is_complex or str(value.dtype) == "torch.bool":
            raise InvalidParameterError(f"{name} must be {what}, got a tensor of {value.dtype}")
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged nested lists, unconvertible objects
        raise InvalidParameterError(f"{name} must be {what} (a regular, non-ragged array), got {describe(value)}") from exc
    kind = arr.dtype.kind
    if kind == "O":
        bad = _bad_elements(arr)
        if bad:
            got = describe(value) if arr.ndim == 0 else f"{describe(value)} containing {describe(bad[0])}"
            raise InvalidParameterError(f"{name} must be {what}, got {got}")
        try:
            arr = arr.astype(np.float64)
        except (OverflowError, TypeError, ValueError) as exc:
            raise InvalidParameterError(f"{name} must be {what} within the float64 range, got {describe(value)}") from exc
    elif kind in "iuf":
        arr = arr.astype(np.float64, copy=False)
    else:
        kinds = {"b": "booleans", "c": "complex numbers", "U": "strings", "S": "bytes", "M": "dates", "m": "time deltas"}
        got = describe(value) if arr.ndim == 0 else f"{describe(value)} containing {kinds.get(kind, arr.dtype.name)}"
        raise InvalidParameterError(f"{name} must be {what}, got {got}")
    return arr


# ----------------------------------------------------------------------------------------------------
# numbers
# ----------------------------------------------------------------------------------------------------
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
    >>> as_float_array("q", "1.5")
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: q must be a real number or an array of real numbers, got the string '1.5'
    """
    arr = _real_array(name, value)
    if not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)].ravel()[0]
        raise InvalidParameterError(f"{name} must be finite, got {bad}")
    return arr


def _shape_message(name: str, value, arr: np.ndarray, max_ndim: int) -> str:
    if max_ndim == 0:
        return f"{name} must be a single number, got {describe(value)}"
    shape = "a scalar or a 1-D array" if max_ndim == 1 else f"an array of at most {max_ndim} dimensions"
    return f"{name} must be {shape}, got shape {arr.shape}"


def _interval(low: float, high: float, low_open: bool, high_open: bool) -> str:
    left = "(" if (low_open or np.isinf(low)) else "["
    right = ")" if (high_open or np.isinf(high)) else "]"
    return f"{left}{_fmt(low)}, {_fmt(high)}{right}"


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
    allow_inf: bool = False,
) -> np.ndarray:
    """Convert ``value`` to a finite float array and check ``low <= value <= high``.

    ``low_open``/``high_open`` make the corresponding end of the interval open.
    The error message names the parameter, the valid interval and the first bad value.
    ``max_ndim=1`` also requires a scalar or a 1-D array, ``max_ndim=0`` a single number.
    ``allow_inf=True`` lets infinite values through when the interval contains them (``high=np.inf`` with
    ``high_open=False``: a depth scale may be infinite); NaN is always refused.
    Strings, booleans, complex numbers, ``None`` and other objects are refused.

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
    >>> check_in_range("keep_prob", True, 0, 1)
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: keep_prob must be a real number or an array of real numbers, got the bool True
    """
    arr = _real_array(name, value)
    if max_ndim is not None and arr.ndim > max_ndim:
        raise InvalidParameterError(_shape_message(name, value, arr, max_ndim))
    if not np.all(np.isfinite(arr) if not allow_inf else ~np.isnan(arr)):
        bad = arr[~np.isfinite(arr)].ravel()[0]
        raise InvalidParameterError(f"{name} must be finite (in {_interval(low, high, low_open, high_open)}), got {bad}")
    too_low = arr <= low if low_open else arr < low
    too_high = arr >= high if high_open else arr > high
    bad = too_low | too_high
    if np.any(bad):
        first = arr[bad].ravel()[0]
        msg = f"{name} must be in {_interval(low, high, low_open, high_open)}, got {first}"
        if hint:
            msg += f" ({hint})"
        raise InvalidParameterError(msg)
    return arr


def check_float(
    name: str, value, low: float = -np.inf, high: float = np.inf, *, low_open: bool = False, high_open: bool = False, hint: str = ""
) -> float:
    """One finite real number in an interval (:func:`check_in_range` with ``max_ndim=0``), as a ``float``.

    Examples
    --------
    >>> check_float("lr", 1e-3, 0, low_open=True)
    0.001
    >>> check_float("lr", [1e-3, 1e-2], 0, low_open=True)
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: lr must be a single number, got a list of 2 values
    """
    return float(check_in_range(name, value, low, high, low_open=low_open, high_open=high_open, hint=hint, max_ndim=0))


def check_int(name: str, value, low: int | None = None, high: int | None = None, *, allow_integral_float: bool = False) -> int:
    """Check that ``value`` is an integer in ``[low, high]`` (never a bool) and return it as an ``int``.

    ``high`` defaults to :data:`MAX_INT` (no size or seed beyond int64 reaches numpy or torch).
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
    >>> check_int("seed", 2**70, 0)
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: seed must be an integer in [0, 9223372036854775807], got 1180591620717411303424
    """
    bounded = high is not None
    high = MAX_INT if high is None else high
    integral = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
    if not integral and allow_integral_float and isinstance(value, (float, np.floating)):
        integral = bool(np.isfinite(value)) and float(value).is_integer()
    in_range = integral and (low is None or value >= low) and int(value) <= high
    if not in_range:
        if integral and int(value) > high or bounded:
            expected = f"an integer in [{'-inf' if low is None else low}, {high}]"
        else:
            expected = "an integer" if low is None else f"an integer >= {low}"
        got = repr(value) if isinstance(value, (numbers.Number, np.generic)) and not isinstance(value, (bool, np.bool_)) else describe(value)
        raise InvalidParameterError(f"{name} must be {expected}, got {got}")
    return int(value)


def check_ints(name: str, values, low: int | None = None, high: int | None = None, *, length: int | None = None,
               min_length: int = 1) -> list[int]:
    """A sequence (list, tuple or 1-D integer array) of integers in ``[low, high]``, as a list of ``int``.

    ``length`` requires exactly that many entries; ``min_length`` at least that many. The message names the
    first bad entry as ``name[i]``.

    Examples
    --------
    >>> check_ints("seeds", (3, 4), 0)
    [3, 4]
    >>> check_ints("seeds", [3, 2.5], 0)
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: seeds[1] must be an integer >= 0, got 2.5
    >>> check_ints("seeds", 3, 0)
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: seeds must be a sequence of integers, got 3
    """
    if isinstance(values, np.ndarray) and values.ndim == 1:
        values = values.tolist()
    if not isinstance(values, (list, tuple)):
        raise InvalidParameterError(f"{name} must be a sequence of integers, got {describe(values)}")
    if length is not None and len(values) != length:
        raise InvalidParameterError(f"{name} must hold {length} integers, got {describe(values)}")
    if len(values) < min_length:
        raise InvalidParameterError(f"{name} must hold at least {min_length} integer{'s' if min_length != 1 else ''}, "
                                    f"got {describe(values)}")
    return [check_int(f"{name}[{i}]", v, low, high) for i, v in enumerate(values)]


# ----------------------------------------------------------------------------------------------------
# everything else
# ----------------------------------------------------------------------------------------------------
def check_choice(name: str, value, choices):
    """Check that ``value`` is one of ``choices`` (compared by type and value) and return it.

    A string that differs only in case or by a typo gets a suggestion.

    Examples
    --------
    >>> check_choice("optimizer", "adam", ("sgd", "adam"))
    'adam'
    >>> check_choice("optimizer", "Adam", ("sgd", "adam"))
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: optimizer must be one of 'sgd', 'adam', got 'Adam' (did you mean 'adam'?)
    """
    choices = tuple(choices)
    for choice in choices:
        if type(value) is type(choice) or (isinstance(value, str) and isinstance(choice, str)):
            try:
                if bool(value == choice):
                    return choice
            except (TypeError, ValueError):  # pragma: no cover - exotic __eq__
                pass
    msg = f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}" if isinstance(value, str) else (
        f"{name} must be one of {', '.join(map(repr, choices))}, got {describe(value)}"
    )
    if isinstance(value, str):
        strings = [c for c in choices if isinstance(c, str)]
        close = [c for c in strings if c.lower() == value.strip().lower()] or difflib.get_close_matches(value, strings, n=1)
        if close:
            msg += f" (did you mean {close[0]!r}?)"
    raise InvalidParameterError(msg)


def check_objects(name: str, value, cls, what: str, *, single: bool = False) -> list:
    """A non-empty list or tuple of ``cls`` instances, as a list (``single=True``: one instance alone is a list of one).

    Examples
    --------
    >>> check_objects("noises", [1.0, 2.0], float, "numbers")
    [1.0, 2.0]
    >>> check_objects("noises", True, float, "numbers")
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: noises must be a non-empty list of numbers, got the bool True
    """
    if single and isinstance(value, cls):
        return [value]
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, cls) for v in value):
        raise InvalidParameterError(f"{name} must be a non-empty list of {what}, got {describe(value)}")
    return list(value)


def available_memory(device=None) -> int | None:
    """Bytes a new allocation may take: the RAM the kernel reports available (``MemAvailable``), or the free
    memory of a CUDA ``device``; ``None`` where it cannot be read."""
    if device is not None and getattr(device, "type", str(device).split(":")[0]) == "cuda":
        import torch

        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(n_bytes: float, what: str, sizes: dict, device=None) -> None:
    """Refuse a computation whose arrays would need more memory than is available, naming the sizes behind it.

    A request that cannot fit fails here, with the parameters to reduce, instead of as a raw allocator error
    (or, worse, an allocation that succeeds and then exhausts the machine). A public function whose sizes
    reach this check only through derived quantities wraps its work in :func:`caller_sizes`.

    Raises
    ------
    InsufficientMemoryError
        ``n_bytes`` exceed the memory available (an :class:`InvalidParameterError`).

    Examples
    --------
    >>> check_memory(1e30, "the result", {"n_layers": 10**29})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InsufficientMemoryError: the result would take 9.31e+20 GiB, more than the memory available (...); reduce n_layers=100000000000000000000000000000
    """
    available = available_memory(device)
    if available is not None and n_bytes > available:
        raise InsufficientMemoryError(what, n_bytes, available, sizes)


@contextlib.contextmanager
def caller_sizes(sizes: dict):
    """Inside this context, a memory refusal (:class:`InsufficientMemoryError`) names ``sizes`` instead.

    A public function passes the sizes as its caller spelled them (``{"n_pairs": 40, "width": 1000}``); a
    refusal from the functions it calls, which know only derived sizes (``n_inputs = 2 * n_pairs``), is
    raised again with these names. Nested contexts: the outermost, the caller's, wins.

    Examples
    --------
    >>> with caller_sizes({"n_pairs": 10**20, "width": 8}):  # doctest: +ELLIPSIS
    ...     check_memory(1.6e22, "the inputs", {"n_inputs": 2 * 10**20, "width": 8})
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InsufficientMemoryError: the inputs would take 1.49e+13 GiB, more than the memory available (...); reduce n_pairs=100000000000000000000 or width=8
    """
    try:
        yield
    except InsufficientMemoryError as exc:
        raise InsufficientMemoryError(exc.what, exc.n_bytes, exc.available, sizes) from exc


def check_bool(name: str, value) -> bool:
    """Check that ``value`` is ``True`` or ``False`` (numpy booleans too; not ``0``, ``1`` or ``"yes"``).

    Examples
    --------
    >>> check_bool("download", False)
    False
    >>> check_bool("download", "no")
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: download must be True or False, got the string 'no'
    """
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidParameterError(f"{name} must be True or False, got {describe(value)}")
    return bool(value)


def check_path(name: str, value):
    """Check that ``value`` is a non-empty ``str`` or :class:`os.PathLike` and return it as a :class:`pathlib.Path`.

    Examples
    --------
    >>> check_path("out", "results").name
    'results'
    >>> check_path("out", 3)
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: out must be a path (a str or os.PathLike), got 3
    """
    from pathlib import Path

    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value or "\x00" in value:
        what = "a non-empty path" if value == "" else "a path (a str or os.PathLike)"
        raise InvalidParameterError(f"{name} must be {what}, got {describe(value)}")
    return Path(value).expanduser()


def as_real_tensor(name: str, value, *, ndim: int | None = None, dtype=None, min_shape=None):
    """A finite real torch tensor (converted to ``dtype``, default float32) with ``ndim`` dimensions.

    Refuses boolean, complex and non-numeric input, ``nan`` and ``inf``, and shapes with fewer than
    ``min_shape`` entries per dimension.

    Examples
    --------
    >>> as_real_tensor("images", [[0.0, 1.0]], ndim=2).shape
    torch.Size([1, 2])
    >>> as_real_tensor("images", [0.0, 1.0], ndim=2)
    Traceback (most recent call last):
    ...
    nsp_helpers.errors.InvalidParameterError: images must have 2 dimensions, got shape (2,)
    """
    import torch

    dtype = torch.float32 if dtype is None else dtype
    if isinstance(value, torch.Tensor):
        if value.dtype == torch.bool or value.dtype.is_complex:
            raise InvalidParameterError(f"{name} must hold real numbers, got a tensor of {value.dtype}")
        x = value.detach()
    else:
        x = torch.from_numpy(np.ascontiguousarray(_real_array(name, value)))
    if ndim is not None and x.dim() != ndim:
        raise InvalidParameterError(f"{name} must have {ndim} dimensions, got shape {tuple(x.shape)}")
    if min_shape is not None and any(s < m for s, m in zip(x.shape, min_shape)):
        raise InvalidParameterError(f"{name} must have shape >= {tuple(min_shape)} in every dimension, got shape {tuple(x.shape)}")
    x = x.to(dtype)
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise InvalidParameterError(f"{name} must be finite in {dtype} (no nan, no inf), got non-finite values")
    return x


def _fmt(x: float) -> str:
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:g}"
