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
import functools
import importlib.util
import os

__all__ = ["BACKENDS", "numba_available", "get_backend", "set_backend", "use_backend"]

BACKENDS = ("numba", "numpy")


def numba_available() -> bool:
    """True when the ``numba`` package can be imported (it is not imported here)."""
    return importlib.util.find_spec("numba") is not None


def _default_backend() -> str:
    requested = os.environ.get("MINIDEEPLAB_BACKEND", "").strip().lower()
    if requested:
        if requested not in BACKENDS:
            raise ValueError(
                f"MINIDEEPLAB_BACKEND must be one of {BACKENDS}, got {requested!r}"
            )
        if requested == "numba" and not numba_available():
            raise ValueError("MINIDEEPLAB_BACKEND=numba but numba is not installed")
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
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    if name == "numba" and not numba_available():
        raise ValueError("backend 'numba' needs the numba package, which is not installed")
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


# ------------------------------------------------------------------ BLAS threads
#
# NumPy's matrix products run in OpenBLAS, which starts its own threads. Our
# Numba kernels run their own threads too. On a 2-core laptop the two pools
# fight: OpenBLAS threads keep spinning after each call, waiting for more work,
# and the Numba threads (or anything else on the machine) lose their core. With
# the many small products of a small CNN, one training step measured 57 ms with
# one OpenBLAS thread and 1.3-1.6 s with two on a busy 2-core machine. So the
# Numba backend's convolutions ask OpenBLAS for one thread (:func:`blas_threads`)
# while they run and share their images among their own threads instead (see
# ``kernels/_threads.py`` and ``kernels/conv.py``).

_BLAS_SETTERS = ("openblas_set_num_threads", "scipy_openblas_set_num_threads64_",
                 "scipy_openblas_set_num_threads", "openblas_set_num_threads64_")
_BLAS_GETTERS = ("openblas_get_num_threads", "scipy_openblas_get_num_threads64_",
                 "scipy_openblas_get_num_threads", "openblas_get_num_threads64_")


@functools.lru_cache(maxsize=None)
def _openblas_functions():
    """(get, set) functions of the OpenBLAS that NumPy loaded, or None (e.g. MKL, macOS).

    Looked up once (it reads /proc/self/maps), then remembered.
    """
    import ctypes

    import numpy  # noqa: F401  (makes sure NumPy's BLAS is loaded)

    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        setter = next((getattr(library, s) for s in _BLAS_SETTERS if hasattr(library, s)), None)
        getter = next((getattr(library, g) for g in _BLAS_GETTERS if hasattr(library, g)), None)
        if setter is not None and getter is not None:
            return getter, setter
    return None


@contextlib.contextmanager
def blas_threads(n: int = 1):
    """Run the block with ``n`` OpenBLAS threads, then restore the previous number.

    Does nothing where NumPy's BLAS is not an OpenBLAS it can find (the
    results never change, only the speed).
    """
    functions = _openblas_functions()
    if functions is None:
        yield
        return
    get, set_ = functions
    previous = int(get())
    set_(int(n))
    try:
        yield
    finally:
        set_(previous)
