"""Learn by building: write the library's functions yourself and check them.

    import minideeplab as mdl
    mdl.exercises.list()                          # the exercises, in the notebooks' order
    mdl.exercises.show("conv2d_backward")         # the task: signature, shapes, cache fields
    report = mdl.exercises.check("conv2d_backward", my_conv2d_backward)
    print(report)                                 # the ladder, and what is wrong where
    mdl.exercises.bugs["conv2d_backward_no_flip"] # the bug zoo: find the mistake
    with mdl.use_implementation(conv2d_backward=my_conv2d_backward):
        ...                                       # the real model runs your code

The pieces: :mod:`.registry` (the exercises and their tasks), the ladders
(:mod:`.cases` and ``cases_*``), :mod:`.runner` (runs a ladder),
:mod:`.diagnose` and :mod:`.hints` (what is wrong, and a hint), :mod:`.report`
(what ``check`` returns), :mod:`.bugs` (the zoo) and :mod:`.finale` (training
the real model with a learner's functions).
"""

from __future__ import annotations

import inspect

from ..errors import InputTypeError
from ..implementation import library_implementation
from . import registry
from .bugs import Bug, bugs
from .describe import task_text
from .finale import compare_receptive_fields, compare_training, implemented, train_small_model
from .report import Report
from .runner import run_ladder

__all__ = ["list", "show", "check", "bugs", "Bug", "Report", "task_text", "compare_training",
           "train_small_model", "compare_receptive_fields", "implemented"]


def list():  # noqa: A001  (the name the issue asks for: mdl.exercises.list())
    """The names of the exercises, in the order of the notebooks."""
    return [*registry.EXERCISES]


def show(name: str) -> None:
    """Print exercise ``name``'s task: what to write, the signature, the shapes, the cache."""
    print(task_text(name))


def _check_callable(exercise, fn) -> None:
    if not callable(fn):
        raise InputTypeError(f"check({exercise.name!r}, fn): fn must be a function, got "
                             f"{type(fn).__name__}; pass the function itself, e.g. "
                             f"check({exercise.name!r}, {exercise.name})")
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return                          # a builtin without a signature: let the ladder tell
    with library_implementation():
        trial = exercise.build(exercise.ladder[0].params, seed=1001)
        args, kwargs = trial.make_args()
    try:
        signature.bind(*args, **kwargs)
    except TypeError as error:
        name = getattr(fn, "__name__", type(fn).__name__)
        raise InputTypeError(
            f"check({exercise.name!r}, ...): {name}{signature} cannot be called the way the "
            f"library calls it ({error}); expected def {exercise.signature}") from None


def check(name: str, fn) -> Report:
    """Run exercise ``name``'s ladder with ``fn``; ``print(report)`` explains the first failure.

    Never raises for a wrong answer: an exception inside ``fn``, a wrong shape or
    dtype, NaN, all end up in the report. An unknown ``name``, an ``fn`` that is
    not callable or whose signature cannot take the library's arguments raise a
    clear error. Works inside ``mdl.use_implementation`` (the expected values are
    always the library's).
    """
    exercise = registry.get(name)
    _check_callable(exercise, fn)
    return run_ladder(exercise, fn)
