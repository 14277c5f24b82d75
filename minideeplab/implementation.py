"""The student backend: make every layer call a learner's functions instead of the library's.

Every layer reaches its arithmetic by looking up ``F.<op>_forward`` and
``F.<op>_backward`` on :mod:`minideeplab.functional` *at call time* (never a
name imported once), so replacing those attributes reroutes the whole model::

    with mdl.use_implementation(conv2d_backward=my_conv2d_backward):
        result = train(config)          # every Conv2d's backward runs my_conv2d_backward

On exit (also when an exception leaves the block) the library's functions come
back. The ops run the same way on both backends: the backend only decides how a
*library* op computes its hot loop, a learner's function replaces the whole op.

Replacing a forward function replaces the cache the matching backward receives,
so a learner's forward must return the library's cache (the dataclass its
backward reads), as the exercises ask.
"""

from __future__ import annotations

from contextlib import contextmanager

from . import functional
from .errors import InputError, InputTypeError

__all__ = ["use_implementation", "SWAPPABLE", "library_implementation"]

#: The functions a learner may replace: every forward and backward of the functional ops.
SWAPPABLE = tuple(name for name in functional.__all__
                  if name.endswith("_forward") or name.endswith("_backward"))

# the library's own functions, captured at import time (before anything is swapped)
_LIBRARY = {name: getattr(functional, name) for name in SWAPPABLE}


def _swap(replacements: dict) -> dict:
    """Install ``replacements`` on the functional package; return what was there before."""
    previous = {name: getattr(functional, name) for name in replacements}
    for name, fn in replacements.items():
        setattr(functional, name, fn)
    return previous


@contextmanager
def use_implementation(**ops):
    """Within the ``with`` block, the layers call the functions given instead of the library's.

    Keyword names are functional op names (``conv2d_forward``, ``conv2d_backward``,
    ``batch_norm2d_backward``, ``aspp_backward``, ...; see :data:`SWAPPABLE`);
    values are callables with the library's signature. Blocks nest: the inner
    one wins, and each restores what it found. An unknown name raises a
    ``ValueError`` listing the names that can be replaced.

        >>> import minideeplab as mdl
        >>> from minideeplab import functional as F
        >>> def my_relu_backward(dout, cache):
        ...     return dout * cache.positive
        >>> with mdl.use_implementation(relu_backward=my_relu_backward):
        ...     F.relu_backward is my_relu_backward
        True
        >>> F.relu_backward is my_relu_backward
        False
    """
    unknown = sorted(set(ops) - set(SWAPPABLE))
    if unknown:
        raise InputError(
            f"use_implementation: unknown op name(s) {', '.join(unknown)}; the names that can "
            f"be replaced are: {', '.join(SWAPPABLE)}")
    for name, fn in ops.items():
        if not callable(fn):
            raise InputTypeError(f"use_implementation: {name} must be a function with the "
                                 f"library's signature, got {type(fn).__name__}")
    previous = _swap(ops)
    try:
        yield
    finally:
        _swap(previous)


@contextmanager
def library_implementation():
    """Within the ``with`` block, every op is the library's own again (whatever is installed).

    The exercises' checker computes its expected values inside it, so that
    ``mdl.exercises.check`` also tells the truth within :func:`use_implementation`.
    """
    previous = _swap(_LIBRARY)
    try:
        yield
    finally:
        _swap(previous)
