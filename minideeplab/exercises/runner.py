"""Run a ladder: every case with the reference and with the learner's function, output by output.

Nothing a learner's function does makes the checker raise: an exception, a
result of the wrong form, a wrong shape or dtype, NaN -- each is recorded in the
case's result and explained by the report. Everything runs inside
:func:`minideeplab.implementation.library_implementation`, so the expected
values (and the layers a backward pass calls, as in ASPP) are the library's own
even within ``mdl.use_implementation``: one function is checked at a time. The
library runs on its numpy backend here, the reference semantics.
"""

from __future__ import annotations

import math
import numbers
import traceback
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..backend import use_backend
from ..implementation import library_implementation
from .cases import OutputProblem, Unusable
from .report import CaseResult, OutputResult, Report

__all__ = ["run_ladder", "compare", "TOLERANCE", "TOLERANCE_FLOAT32"]

#: Largest |actual - expected| accepted, relative to max(1, max |expected|): float64 rungs.
TOLERANCE = 1e-8
#: The same for the float32 rung (the learner's and the library's float32 round differently).
TOLERANCE_FLOAT32 = 1e-4


def _is_number(value) -> bool:
    return isinstance(value, (numbers.Real, Fraction)) and not isinstance(value, bool)


def _compare_array(name, expected, actual, tolerance) -> OutputResult:
    if not isinstance(actual, np.ndarray):
        return OutputResult(name, False, expected, actual, problem=(
            f"{name} must be a numpy array of shape {expected.shape}, got "
            f"{type(actual).__name__}"))
    if actual.shape != expected.shape:
        return OutputResult(name, False, expected, actual, problem=(
            f"{name} has shape {actual.shape}, expected {expected.shape}"))
    if actual.dtype != expected.dtype:
        return OutputResult(name, False, expected, actual, problem=(
            f"{name} has dtype {actual.dtype}, expected {expected.dtype} (an op keeps the "
            "dtype it is given: create arrays with dtype=x.dtype)"))
    if not np.all(np.isfinite(actual)) and np.all(np.isfinite(expected)):
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(actual))[0])
        return OutputResult(name, False, expected, actual, worst=math.inf, index=where,
                            problem=f"{name} contains NaN or inf (first at {name}{list(where)})")
    if expected.size == 0:
        return OutputResult(name, True, expected, actual, worst=0.0)
    difference = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    index = np.unravel_index(int(np.argmax(difference)), difference.shape)
    worst = float(difference[index])
    scale = max(1.0, float(np.max(np.abs(expected))))
    return OutputResult(name, worst <= tolerance * scale, expected, actual, worst=worst,
                        index=tuple(int(i) for i in index))


def _compare_number(name, expected, actual) -> OutputResult:
    if not _is_number(actual) and not isinstance(actual, np.number):
        return OutputResult(name, False, expected, actual, problem=(
            f"{name} must be a number, got {type(actual).__name__} {actual!r:.60}"))
    if expected == math.inf or actual == math.inf:
        ok = expected == actual
        return OutputResult(name, ok, expected, actual, worst=0.0 if ok else math.inf)
    worst = abs(float(actual) - float(expected))
    return OutputResult(name, worst <= 1e-12 * max(1.0, abs(float(expected))), expected,
                        actual, worst=worst)


def compare(name, expected, actual, tolerance=TOLERANCE) -> OutputResult:
    """Compare one output with the reference's; never raises."""
    if isinstance(actual, Unusable):
        return OutputResult(name, False, expected, None, problem=actual.text)
    if expected is None:
        ok = actual is None
        return OutputResult(name, ok, None, actual, problem=None if ok else (
            f"{name} must be None here (the forward pass had no bias), got "
            f"{type(actual).__name__}"))
    if isinstance(expected, np.ndarray):
        if actual is None:
            return OutputResult(name, False, expected, None,
                                problem=f"{name} is None, expected an array of shape "
                                        f"{expected.shape}")
        return _compare_array(name, expected, actual, tolerance)
    if _is_number(expected):
        return _compare_number(name, expected, actual)
    return OutputResult(name, bool(expected == actual), expected, actual)


_PACKAGE = Path(__file__).resolve().parent.parent


def _is_learners(filename: str) -> bool:
    """Code outside the library (the learner's), or a bug of the zoo (a learner's, on purpose)."""
    path = Path(filename).resolve()
    return _PACKAGE not in path.parents or path.name == "bugs.py"


def _where(error) -> str:
    """The last line of the learner's code that the exception went through, if any."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if _is_learners(f.filename)]
    if not frames:
        return ""
    frame = frames[-1]
    return f" (line {frame.lineno} of {frame.name}: {frame.line})"


def _run_case(number, case, trial, fn, features) -> CaseResult:
    result = CaseResult(number, case.label, trial.geometry, features, trial=trial)
    tolerance = TOLERANCE_FLOAT32 if trial.float32 else TOLERANCE
    args, kwargs = trial.make_args()
    expected = trial.unpack(trial.reference(*args, **kwargs), args)
    args, kwargs = trial.make_args()
    result.args = args
    try:
        returned = fn(*args, **kwargs)
    except NotImplementedError:
        result.problem, result.problem_kind = "raises NotImplementedError", "not implemented"
        return result
    except Exception as error:  # noqa: BLE001  (the learner's bug, reported, never raised)
        result.problem = f"raised {type(error).__name__}: {error}{_where(error)}"
        result.problem_kind = "exception"
        return result
    try:
        actual = trial.unpack(returned, args)
    except OutputProblem as problem:
        result.problem, result.problem_kind = str(problem), "form"
        return result
    for name, value in expected.items():
        if name not in actual and "cache" in actual:          # the cache was unusable
            if not any(o.name == "cache" for o in result.outputs):
                result.outputs.append(compare("cache", value, actual["cache"]))
            continue
        result.outputs.append(compare(name, value, actual.get(name), tolerance))
    if trial.gradcheck is not None:
        try:
            result.gradcheck = float(trial.gradcheck(fn))
        except Exception:  # noqa: BLE001  (already reported by the comparison above)
            result.gradcheck = None
    return result


def run_ladder(exercise, fn) -> Report:
    """Run every case of ``exercise``'s ladder with ``fn``; stop early only if it is unwritten."""
    cases = []
    # the numpy backend: the reference semantics (Numba gives the same numbers, tests/ say so)
    # and much faster for the thousands of tiny calls a gradient check makes
    with library_implementation(), use_backend("numpy"), np.errstate(all="ignore"):
        for number, case in enumerate(exercise.ladder, start=1):
            trial = exercise.build(case.params, seed=1000 + number)
            result = _run_case(number, case, trial, fn, exercise.features(case.params))
            cases.append(result)
            if result.problem_kind == "not implemented":
                break
    return Report(exercise.name, getattr(fn, "__name__", type(fn).__name__), cases)
