"""A hostile sweep over the public parameters of nsp_helpers (issue 15: nothing silent).

Every public function and class of a module is called with valid arguments (an allow-listed
*baseline* per callable), then once per parameter with that parameter replaced by hostile values:
NaN, +-inf, negatives, zero, 1e+-300, huge integers, numeric strings, bools, complex numbers, None,
arbitrary objects, lists where a scalar belongs and arrays of the wrong shape, plus values that
hypothesis draws (``derandomize=True``: the same values on every run). Each call is classified:

``clear``
    raised a ``ValueError``/``TypeError`` subclass whose message names the parameter;
``unclear``
    raised something else, or a message that does not name the parameter;
``silent``
    returned normally although the value can never be valid (a string, a bool, NaN, complex...);
``nan``
    returned a result holding NaN, or a noise model whose moments are not finite (for a value that
    may be valid);
``wrong``
    returned a result that breaks an invariant the target declares (``Target.check``: a variance
    below zero, a correlation outside [-1, 1], a negative depth);
``accepted``
    returned normally for a value that may be valid (e.g. ``1e300`` where any positive number is);
``slow``
    still running at the time limit with a value that may be valid (a size such as 310135 layers that
    fits in memory but takes minutes): reported, not a defect.

A value can never be valid when its type is wrong for the parameter's *kind*, when it is NaN or
infinite, when an integer lies outside int64, or when it lies outside the range the target declares
for the parameter (``Target.ranges``: ``sigma_w2=-1`` where the weight variance must be positive).

``sweep(..., sample=k)`` keeps the run short: per parameter it calls the core hostile values (one of
each sort: a string, a bool, complex, ``None``, NaN, inf, a negative, zero, tiny and huge numbers,
an integer beyond int64, a list) and ``k`` more drawn from the rest; ``sample=None`` calls them all.
Every call runs under a time limit (``timeout_s``): one that hangs counts as ``unclear``.

Extending it: add entries to a module's dict of :class:`Target`\\ s (``tests/test_sweep.py``); the
report lists the public callables of a swept module that have no target (:attr:`Report.uncovered`).
Run ``python tests/sweep.py`` for the report of the modules it knows.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
import random
import signal
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

#: Kinds of parameters and the hostile values each must refuse (``True``) or may accept (``False``).
#: ``real``: one real number; ``reals``: a real number or an array of them; ``int``: one integer;
#: ``ints``: a sequence of integers; ``pair``: a pair of numbers; ``bool``; ``choice``: one of some
#: strings; ``text``: a string; ``path``: a str or os.PathLike; ``object``: anything but a number.
_NOT_A_NUMBER = [
    ("string '0.5'", "0.5"), ("string 'abc'", "abc"), ("True", True), ("False", False), ("complex 1+2j", 1 + 2j),
    ("complex 0.5+0j", 0.5 + 0j), ("None", None), ("object()", object()), ("dict", {"x": 1}), ("bytes", b"1"),
]
_NON_FINITE = [("nan", float("nan")), ("inf", float("inf")), ("-inf", float("-inf")), ("np.nan", np.float64("nan"))]
_EXTREMES = [("-1", -1), ("-1.5", -1.5), ("0", 0), ("0.0", 0.0), ("1e-300", 1e-300), ("-1e-300", -1e-300),
             ("1e300", 1e300), ("-1e300", -1e300), ("2**63", 2**63), ("2**70", 2**70), ("1e20", 1e20), ("0.5", 0.5)]
_SHAPES = [("ragged list", [[0.5], [0.5, 0.5]]), ("3-D array", np.full((2, 2, 2), 0.5)), ("empty list", [])]


def hostile_values(kind: str) -> list[tuple[str, Any, bool]]:
    """``(label, value, must_refuse)`` for a parameter of ``kind``."""
    out = []
    if kind in ("real", "reals", "int", "ints", "pair"):
        out += [(label, v, True) for label, v in _NOT_A_NUMBER + _NON_FINITE]
        for label, v in _EXTREMES:
            must = kind in ("int", "ints") and isinstance(v, float) and not float(v).is_integer()
            if kind in ("ints", "pair"):
                out.append((f"{label} (bare)", v, kind == "pair"))
            else:
                out.append((label, v, must))
    if kind in ("real", "int"):
        out += [("list of 2", [0.5, 0.5], True), ("array (3,)", np.full(3, 0.5), True), ("ragged list", [[0.5], [0.5, 0.5]], True)]
    if kind == "reals":
        out += [(label, v, True) for label, v in _SHAPES[:1]] + [("list with a string", [0.5, "a"], True),
                                                                 ("list with None", [0.5, None], True),
                                                                 ("list with nan", [0.5, float("nan")], True)]
    if kind == "ints":
        out += [("ragged", [[1], [1, 2]], True), ("[2.5]", [2.5], True), ("[True]", [True], True), ("['2']", ["2"], True),
                ("[nan]", [float("nan")], True), ("[-1]", [-1], False), ("[0]", [0], False), ("[2**70]", [2**70], True)]
    if kind == "pair":
        out += [("(nan, 0.9)", (float("nan"), 0.9), True), ("(0.9,)", (0.9,), True), ("(1, 2, 3)", (1, 2, 3), True),
                ("('0.9', 0.99)", ("0.9", 0.99), True), ("(True, 0)", (True, 0), True), ("(-1, 2)", (-1, 2), False),
                ("(1e300, 1e300)", (1e300, 1e300), False)]
    if kind == "bool":
        out += [("1", 1, True), ("0", 0, True), ("'yes'", "yes", True), ("'False'", "False", True), ("None", None, True),
                ("nan", float("nan"), True), ("[True]", [True], True)]
    if kind in ("choice", "text"):
        out += [("1", 1, True), ("0.5", 0.5, True), ("nan", float("nan"), True), ("None", None, True), ("True", True, True),
                ("list", ["a"], True), ("bytes", b"a", True)]
        if kind == "choice":
            out += [("''", "", True), ("'zzz'", "zzz", True), ("upper case", "QUICK", True)]
    if kind == "path":
        out += [("1", 1, True), ("1.5", 1.5, True), ("nan", float("nan"), True), ("True", True, True), ("''", "", True),
                ("list", ["a"], True), ("NUL byte", "a\x00b", True)]
    if kind == "object":
        out += [(label, v, True) for label, v in _EXTREMES + _NON_FINITE] + [("string", "0.5", True), ("True", True, True)]
    return out


def _strategy(kind: str):
    """What hypothesis draws for a parameter of ``kind``: everything numeric-looking, mostly hostile."""
    from hypothesis import strategies as st

    numbers_ = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-(2**80), max_value=2**80))
    junk = st.one_of(st.text(max_size=4), st.booleans(), st.complex_numbers(allow_nan=True), st.none(),
                     st.lists(st.floats(allow_nan=True), max_size=3))
    if kind in ("bool", "choice", "text", "path", "object"):
        return st.one_of(numbers_, junk)
    return st.one_of(numbers_, numbers_, junk)


def must_refuse_drawn(kind: str, value) -> bool:
    """Whether a drawn value can never be valid for ``kind`` (else acceptance is allowed if the result is finite)."""
    if kind == "bool":
        return not isinstance(value, (bool, np.bool_))
    if kind in ("choice", "text"):
        return not isinstance(value, str)  # a drawn string may happen to be valid
    if kind == "path":
        return not (isinstance(value, str) and value and "\x00" not in value) and value is not None
    if kind == "object":
        return value is not None
    # numeric kinds
    if value is None or isinstance(value, (str, bytes, bool, np.bool_, complex)):
        return True
    if isinstance(value, list):
        if kind in ("real", "int"):
            return True
        bad = [v for v in value if not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))]
        return bool(bad) or (kind == "ints" and any(isinstance(v, float) and not v.is_integer() for v in value))
    if isinstance(value, float) and not math.isfinite(value):
        return True
    if kind == "int" and isinstance(value, float) and not value.is_integer():
        return True
    return kind == "pair"


@dataclass
class Target:
    """One public callable and how to call it.

    Parameters
    ----------
    name : str
        ``module.qualname`` as reported.
    call : callable
        Called with the keyword arguments (``baseline`` with one entry replaced).
    baseline : dict
        Valid keyword arguments; the call must succeed with them (or raise ``baseline_raises``).
    params : dict
        ``{parameter: kind}`` of the swept parameters (see :func:`hostile_values`); by default those of
        ``baseline`` that hold numbers, found from the values.
    names : dict
        ``{parameter: (words...)}``: what an error message may call the parameter (default: its name).
    baseline_raises : exception type, optional
        The exception a valid call raises (e.g. a missing data set): hostile values must raise a
        clear error before it.
    none_ok : tuple of str
        Parameters for which ``None`` is a valid value (optional settings).
    ranges : dict
        ``{parameter: (low, high)}`` or ``(low, high, low_open, high_open)``: the valid values of a
        numeric parameter; a number (or a list of numbers) outside must be refused.
    check : callable, optional
        ``check(kwargs, result) -> str or None``: an invariant of the result (a message when it is
        broken: the call is ``wrong``).
    nan_ok : str
        Why NaN in the result is a documented answer for valid input (e.g. a float32 simulation that
        overflows); empty (default): NaN makes the call ``nan``.
    """

    name: str
    call: Callable
    baseline: dict
    params: dict | None = None
    names: dict = field(default_factory=dict)
    baseline_raises: type | None = None
    none_ok: tuple = ()
    ranges: dict = field(default_factory=dict)
    check: Callable | None = None
    nan_ok: str = ""

    def swept(self) -> dict:
        if self.params is not None:
            return self.params
        out = {}
        for key, value in self.baseline.items():
            kind = infer_kind(value)
            if kind is not None:
                out[key] = kind
        return out


_MAX_INT = 2**63 - 1


def _numbers_in(value) -> list | None:
    """The real numbers of a number, a (nested) list or an array of them; ``None`` for anything else."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, numbers.Real):
        return [value]
    if isinstance(value, np.ndarray):
        return list(value.ravel().tolist()) if value.dtype.kind in "iuf" else None
    if isinstance(value, (list, tuple)):
        out = []
        for v in value:
            inner = _numbers_in(v)
            if inner is None:
                return None
            out += inner
        return out
    return None


def out_of_range(target: "Target", param: str, kind: str, value) -> bool:
    """Whether ``value`` is numeric but can never be valid: an integer beyond int64, or outside ``target.ranges``."""
    values = _numbers_in(value)
    if not values or not all(math.isfinite(float(v)) if abs(v) < 1e308 else False for v in values):
        return False
    if kind in ("int", "ints") and any(abs(v) > _MAX_INT for v in values):
        return True
    spec = target.ranges.get(param)
    if spec is None:
        return False
    low, high, low_open, high_open = (tuple(spec) + (False, False))[:4]
    for v in values:
        v = float(v)
        if v < low or v > high or (low_open and v == low) or (high_open and v == high):
            return True
    return False


def infer_kind(value) -> str | None:
    """The kind of a baseline value (``None``: not a numeric parameter)."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, numbers.Integral):
        return "int"
    if isinstance(value, numbers.Real):
        return "real"
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value):
        return "ints" if all(isinstance(v, numbers.Integral) for v in value) else "reals"
    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf":
        return "reals"
    return None


@dataclass
class Case:
    target: str
    param: str
    label: str
    outcome: str
    detail: str = ""


@dataclass
class Report:
    cases: list = field(default_factory=list)
    uncovered: list = field(default_factory=list)
    baseline_failures: list = field(default_factory=list)
    #: seconds spent per target (baseline and hostile calls)
    seconds: dict = field(default_factory=dict)

    def slowest(self, n: int = 10) -> str:
        return ", ".join(f"{name} {t:.1f} s" for name, t in sorted(self.seconds.items(), key=lambda kv: -kv[1])[:n])

    @property
    def counts(self) -> Counter:
        return Counter(c.outcome for c in self.cases)

    def problems(self) -> list:
        return [c for c in self.cases if c.outcome in ("unclear", "silent", "nan", "wrong")]

    def table(self, group=None) -> str:
        """Counts per module group (``group(target_name) -> str``; default: the first dotted part)."""
        group = group or (lambda name: name.split(".")[0])
        rows: dict = {}
        for c in self.cases:
            rows.setdefault(group(c.target), Counter())[c.outcome] += 1
        cols = ("clear", "accepted", "slow", "silent", "nan", "wrong", "unclear")
        total = Counter()
        lines = [f"{'group':16s} {'calls':>6s} " + " ".join(f"{k:>8s}" for k in cols)]
        for name in sorted(rows):
            total.update(rows[name])
            lines.append(f"{name:16s} {sum(rows[name].values()):6d} " + " ".join(f"{rows[name].get(k, 0):8d}" for k in cols))
        lines.append(f"{'total':16s} {sum(total.values()):6d} " + " ".join(f"{total.get(k, 0):8d}" for k in cols))
        return "\n".join(lines)

    def summary(self, limit: int = 60) -> str:
        counts = self.counts
        by_module = Counter(c.target.split(".")[0] for c in self.cases)
        lines = [
            f"{len(self.cases)} calls over {len({(c.target, c.param) for c in self.cases})} parameters of "
            f"{len({c.target for c in self.cases})} callables: "
            + ", ".join(f"{k} {counts.get(k, 0)}" for k in ("clear", "accepted", "slow", "silent", "nan", "wrong", "unclear")),
            "per module: " + ", ".join(f"{m} {n}" for m, n in sorted(by_module.items())),
        ]
        if self.uncovered:
            lines.append("public callables without a target: " + ", ".join(self.uncovered))
        for c in self.problems()[:limit]:
            lines.append(f"  {c.outcome:8s} {c.target}({c.param}={c.label}): {c.detail}")
        for c in [c for c in self.cases if c.outcome == "slow"][:limit]:
            lines.append(f"  slow     {c.target}({c.param}={c.label}): {c.detail}")
        for b in self.baseline_failures:
            lines.append(f"  BASELINE FAILS {b}")
        return "\n".join(lines)


def _has_nan(obj, depth: int = 0) -> bool:
    if depth > 4:
        return False
    if isinstance(obj, float):
        return math.isnan(obj)
    if isinstance(obj, np.ndarray):
        return obj.dtype.kind in "fc" and bool(np.isnan(obj).any())
    if type(obj).__module__.startswith("torch") and hasattr(obj, "is_floating_point"):
        import torch

        return bool(obj.is_floating_point() and torch.isnan(obj).any())
    if isinstance(obj, (list, tuple)):
        return any(_has_nan(v, depth + 1) for v in obj)
    if isinstance(obj, dict):
        return any(_has_nan(v, depth + 1) for v in obj.values())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):  # result containers: their fields
        return any(_has_nan(getattr(obj, f.name), depth + 1) for f in dataclasses.fields(obj))
    if type(obj).__name__ != "type" and "mu2" in dir(type(obj)) and "additive_variance" in dir(type(obj)):
        try:  # a noise model: its moments must be finite
            moments = [np.asarray(obj.mu2, dtype=float), np.asarray(obj.additive_variance, dtype=float)]
        except (ArithmeticError, ValueError):
            return True
        return not all(np.all(np.isfinite(m)) for m in moments)
    return False


def _names_parameter(message: str, words) -> bool:
    return any(w in message for w in words)


class _Timeout(BaseException):
    """Raised by the alarm when a call runs past the sweep's time limit (a BaseException: no ``except
    Exception`` of the code under test swallows it)."""


def _alarm(signum, frame):
    raise _Timeout()


def _call(target: Target, kwargs: dict, timeout_s: float | None):
    if not timeout_s or not hasattr(signal, "setitimer"):
        return target.call(**kwargs)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        return target.call(**kwargs)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def classify(target: Target, param: str, value, must_refuse: bool, timeout_s: float | None = None) -> tuple[str, str]:
    kwargs = dict(target.baseline)
    kwargs[param] = value
    words = target.names.get(param, (param,))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = _call(target, kwargs, timeout_s)
    except _Timeout:  # a size that may be valid may take long (310135 layers); a value to refuse must not
        return ("unclear" if must_refuse else "slow"), f"still running after {timeout_s} s"
    except Exception as exc:  # noqa: BLE001 - classifying every exception is the point
        message = f"{type(exc).__name__}: {exc}"
        if target.baseline_raises is not None and isinstance(exc, target.baseline_raises) and not must_refuse:
            return "accepted", message[:160]
        if isinstance(exc, (ValueError, TypeError)) and _names_parameter(str(exc), words):
            return "clear", message[:160]
        return "unclear", message[:200]
    if must_refuse:
        return "silent", f"returned {type(result).__name__}"
    if not target.nan_ok and _has_nan(result):
        return "nan", "the result holds NaN"
    if target.check is not None:
        problem = target.check(kwargs, result)
        if problem:
            return "wrong", str(problem)[:200]
    return "accepted", ""


def public_callables(module) -> list[str]:
    """``module.__all__``'s functions and classes (and the public classmethods of the classes)."""
    out = []
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name, None)
        if inspect.isclass(obj):
            if issubclass(obj, BaseException):
                continue
            out.append(name)
            for attr, member in vars(obj).items():
                if isinstance(member, classmethod) and not attr.startswith("_"):
                    out.append(f"{name}.{attr}")
        elif callable(obj):
            out.append(name)
    return out


#: hostile values every sampled sweep calls (one of each sort), by label
CORE_LABELS = frozenset({
    "string '0.5'", "True", "complex 0.5+0j", "None", "object()", "nan", "-inf", "-1", "-1.5", "0", "1e-300",
    "1e300", "2**70", "2**70 (bare)", "list of 2", "ragged list", "list with nan", "list with a string", "[2.5]",
    "[2**70]", "[True]", "(nan, 0.9)", "(0.9,)", "'zzz'", "1", "0.5", "''", "NUL byte", "string",
})


def sweep(modules: dict, targets: dict, *, hypothesis_examples: int = 20, sample: int | None = None,
          variants: int | None = None, timeout_s: float | None = 60.0) -> Report:
    """Run every target; ``modules`` maps a short module name to the module (for :attr:`Report.uncovered`).

    ``targets`` maps ``"module.callable"`` to a list of :class:`Target` (or ``None``: deliberately not
    swept, e.g. a callable without numeric parameters). The calls run in a temporary working folder:
    hostile relative paths (drawn strings) create and move files there, nowhere else. ``sample``: call
    only the core hostile values and ``sample`` more per parameter (``None``: all); ``timeout_s``: the
    time limit of one call; ``variants``: run at most this many of the targets of one callable (the first
    and others drawn by its name: e.g. two of a theory function's four activations).
    """
    import os
    import tempfile

    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="nsp-sweep-") as workdir:
        os.chdir(workdir)
        try:
            return _sweep(modules, targets, hypothesis_examples, sample, timeout_s, variants)
        finally:
            os.chdir(cwd)


def _sampled(values: list, key: str, sample: int | None) -> list:
    if sample is None:
        return values
    core = [v for v in values if v[0] in CORE_LABELS]
    rest = [v for v in values if v[0] not in CORE_LABELS]
    return core + random.Random(key).sample(rest, min(sample, len(rest)))


def _picked(entries: list, key: str, variants: int | None) -> list:
    if variants is None or len(entries) <= variants:
        return entries
    return entries[:1] + random.Random(key).sample(entries[1:], variants - 1)


def _sweep(modules: dict, targets: dict, hypothesis_examples: int, sample: int | None = None,
           timeout_s: float | None = None, variants: int | None = None) -> Report:
    report = Report()
    for short, module in modules.items():
        for name in public_callables(module):
            if f"{short}.{name}" not in targets:
                report.uncovered.append(f"{short}.{name}")
    import time

    for key, entries in targets.items():
        for target in _picked(list(entries or ()), key, variants):
            start = time.perf_counter()
            _run_target(report, target, hypothesis_examples, sample, timeout_s)
            report.seconds[target.name] = time.perf_counter() - start
    return report


def _run_target(report: Report, target: Target, hypothesis_examples: int, sample: int | None, timeout_s: float | None) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _call(target, target.baseline, timeout_s)
    except _Timeout:
        report.baseline_failures.append(f"{target.name}: still running after {timeout_s} s")
        return
    except Exception as exc:  # noqa: BLE001
        if target.baseline_raises is None or not isinstance(exc, target.baseline_raises):
            report.baseline_failures.append(f"{target.name}: {type(exc).__name__}: {exc}")
            return
    for param, kind in target.swept().items():
        for label, value, must in _sampled(hostile_values(kind), f"{target.name}:{param}", sample):
            must = (must or out_of_range(target, param, kind, value)) and not (value is None and param in target.none_ok)
            outcome, detail = classify(target, param, value, must, timeout_s)
            report.cases.append(Case(target.name, param, label, outcome, detail))
        if hypothesis_examples:
            _hypothesis_cases(report, target, param, kind, hypothesis_examples, timeout_s)


def _hypothesis_cases(report: Report, target: Target, param: str, kind: str, n: int, timeout_s: float | None = None) -> None:
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=n, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_strategy(kind))
    def draw(value):
        must = (must_refuse_drawn(kind, value) or out_of_range(target, param, kind, value)) and not (
            value is None and param in target.none_ok)
        outcome, detail = classify(target, param, value, must, timeout_s)
        report.cases.append(Case(target.name, param, f"drawn {value!r}"[:60], outcome, detail))

    draw()


if __name__ == "__main__":  # pragma: no cover
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_sweep import MODULES, build_targets

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        rep = sweep(MODULES, build_targets(Path(tmp)))
        print(rep.table())
        print(rep.summary(limit=int(sys.argv[1]) if len(sys.argv) > 1 else 60))
