"""Which implementation runs the hot loops: ``"numba"`` or ``"numpy"``.

Every op in :mod:`minideeplab.functional` has a readable NumPy reference. The
loops that dominate the run time (convolution, bilinear resize, BatchNorm) also
have a Numba-compiled twin in :mod:`minideeplab.kernels` with the same
signature and the same results. This module holds the switch between them.

The default is ``"numba"`` when Numba is importable, else ``"numpy"``; the
environment variable ``MINIDEEPLAB_BACKEND=numpy`` forces the reference.

    >>> import minideeplab as mdl
    >>> mdl.set_backend("numpy")
    >>> with mdl.use_backend("numba"):
    ...     pass                     # numba inside the block, numpy again after

Numba itself is imported only when the first kernel runs, so that
``import minideeplab`` stays fast.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os

from .errors import InputError

__all__ = ["BACKENDS", "numba_available", "get_backend", "set_backend", "use_backend"]

BACKENDS = ("numba", "numpy")


def numba_available() -> bool:
    """True when the ``numba`` package can be imported (it is not imported here)."""
    return importlib.util.find_spec("numba") is not None


def _default_backend() -> str:
    requested = os.environ.get("MINIDEEPLAB_BACKEND", "").strip().lower()
    if requested:
        if requested not in BACKENDS:
            raise InputError(
                f"MINIDEEPLAB_BACKEND must be one of {BACKENDS}, got {requested!r}"
            )
        if requested == "numba" and not numba_available():
            raise InputError("MINIDEEPLAB_BACKEND=numba but numba is not installed")
        return requested
    return "numba" if numba_available() else "numpy"


_backend = _default_backend()


def get_backend() -> str:
    """The backend the hot loops use now: ``"numba"`` or ``"numpy"``."""
    return _backend


def set_backend(name: str) -> None:
    """Choose the backend for every op from now on."""
    global _backend
    if name not in BACKENDS:
        raise InputError(f"backend must be one of {BACKENDS}, got {name!r}")
    if name == "numba" and not numba_available():
        raise InputError("backend 'numba' needs the numba package, which is not installed")
    _backend = name


@contextlib.contextmanager
def use_backend(name: str):
    """Use backend ``name`` inside a ``with`` block, then restore the previous one."""
    previous = get_backend()
    set_backend(name)
    try:
        yield
    finally:
        set_backend(previous)
