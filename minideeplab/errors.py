"""The errors minideeplab raises for bad input, told apart from bugs.

A wrong argument, a missing file or a bad command-line option raises one of
these; the command line prints them as one line (``error: ...``) and exits with
status 2. Any other exception is a bug in the library (or in a learner's
exercise) and keeps its full traceback, so nothing is hidden.

They subclass the built-in errors a Python user expects (``ValueError``,
``TypeError``), so ``except ValueError`` and ``pytest.raises(ValueError)``
still catch them.
"""

from __future__ import annotations

__all__ = ["InputError", "InputTypeError", "UsageError"]


class InputError(ValueError):
    """An argument has a wrong value: a shape, a range, a file's contents."""


class InputTypeError(TypeError):
    """An argument has a wrong type or dtype."""


class UsageError(InputError):
    """The command line was used wrongly: options that contradict each other or the run folder."""
