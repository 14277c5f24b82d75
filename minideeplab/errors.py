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

__all__ = ["InputError", "InputTypeError", "UsageError", "OptionError"]


class InputError(ValueError):
    """An argument has a wrong value: a shape, a range, a file's contents."""


class InputTypeError(TypeError):
    """An argument has a wrong type or dtype."""


class UsageError(InputError):
    """The command line was used wrongly: options that contradict each other or the run folder."""


class OptionError(InputError):
    """A bad option (of a training run, say), named in the words of whoever gave it.

    The message is a template in which each option appears as ``{field}``. ``str(error)``
    names options as the library does (``batch_size``, or ``names``' entry, e.g.
    ``resume=True``); the command line calls ``error.in_terms({"batch_size": "--batch-size"})``
    to name them as its own options. Literal braces in a template are doubled.
    """

    def __init__(self, template: str, names: dict | None = None):
        self.template = template
        self.names = dict(names or {})
        super().__init__(self.in_terms({}))

    def in_terms(self, names: dict) -> str:
        """The message with each option named as ``names`` says (others as the library does)."""
        return self.template.format_map(_Names({**self.names, **names}))

    @staticmethod
    def quote(value) -> str:
        """``value`` as text a template keeps as it is (its braces doubled)."""
        return str(value).replace("{", "{{").replace("}", "}}")


class _Names(dict):
    """A name lookup that leaves an option it does not know as it is."""

    def __missing__(self, key):
        return key
