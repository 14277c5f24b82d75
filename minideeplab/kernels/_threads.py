"""All the threading of the Numba backend, in one room (a first read can skip it).

**One mechanism: slices of the work, one per thread.** Every kernel is a plain
``@njit(nogil=True)`` loop over a range of tasks ``for task in range(first,
stop)`` (a task is an image, an ``(image, channel)`` plane, a channel or a
block of elements, whichever the kernel owns). :func:`parallel_for` cuts
``range(n_tasks)`` into one contiguous slice per thread, runs the slices at
the same time on a small pool of Python threads (the calling thread takes the
first), and waits for all of them. ``nogil`` kernels and NumPy's matrix
products release Python's lock, so the slices really run in parallel; a
task writes only outputs it owns, so no two slices write the same memory.

Why our own pool and not Numba's ``prange`` (OpenMP), which this package used
before:

* **Idle threads sleep.** OpenMP's threads keep spinning after each parallel
  loop, ready for the next one. On an idle machine that saves a few
  microseconds per loop; on a machine other programs use (a laptop, a shared
  server) a spinning thread takes a core from someone, and a loop that waits
  for a thread the scheduler put aside waits a whole time slice: a
  two-element ``prange`` loop measured 2.6 us at best but 13-16 ms at the
  median on a busy 2-core machine, where our pool took 21 us at the median.
  A training step makes about 250 parallel calls.
* **One pool for everything.** The convolutions' matrix products (OpenBLAS,
  through NumPy) run on the same threads as the loops, so two pools never
  compete for the cores (before: OpenMP's spinning threads against our image
  threads, with a size threshold to keep them apart).
* **Faster compiling.** A serial kernel compiles in a fraction of the time of
  a ``parallel=True`` one (Numba writes and compiles an extra function per
  ``prange`` loop); the first training step with an empty cache waits for
  every kernel.

**OpenBLAS on one thread.** NumPy's matrix products run in OpenBLAS, which
has threads of its own. Our slices already keep every core busy, so while a
convolution runs, OpenBLAS is asked for one thread (:func:`single_threaded_blas`)
and the previous number is restored afterwards: the user's own NumPy code
outside our calls keeps whatever OpenBLAS had.

**How many threads.** As many as the process may use (``os.sched_getaffinity``),
or ``MINIDEEPLAB_NUM_THREADS``, or :func:`set_num_threads`.
"""

from __future__ import annotations

import contextlib
import functools
import os
from concurrent.futures import ThreadPoolExecutor

from ..errors import InputError

__all__ = ["parallel_for", "set_num_threads", "get_num_threads", "blas_threads",
           "single_threaded_blas"]


# ------------------------------------------------------------- 1. the thread pool

def _default_threads() -> int:
    requested = os.environ.get("MINIDEEPLAB_NUM_THREADS", "").strip()
    if requested:
        if not requested.isdigit() or int(requested) < 1:
            raise InputError(f"MINIDEEPLAB_NUM_THREADS must be a positive int, got {requested!r}")
        return int(requested)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                     # not on Linux
        return os.cpu_count() or 1


_threads = _default_threads()
_pool = None                                   # created on first use
_pool_workers = 0
_MIN = int(os.environ.get('MDL_MIN', '0'))


def set_num_threads(n: int) -> None:
    """Use ``n`` threads (the calling one included) for every kernel from now on."""
    global _threads
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise InputError(f"n must be a positive int, got {n!r}")
    _threads = n


def get_num_threads() -> int:
    """The number of threads the kernels use (the calling one included)."""
    return _threads


def parallel_for(kernel, n_tasks: int, *args) -> None:
    """Run ``kernel(first, stop, *args)`` on slices of ``range(n_tasks)``, one per thread.

    The slices are contiguous and as equal as possible; the calling thread
    runs the first one, the pool's threads the others, and the call returns
    when all are done. An error in any slice is raised here, after every
    slice has finished (none is still writing).
    """
    global _pool, _pool_workers
    parts = min(n_tasks, _threads)
    if _MIN and parts > 1:
        import numpy as np
        size = max((a.size for a in args if isinstance(a, np.ndarray)), default=1 << 62)
        if size < _MIN:
            parts = 1
    if parts <= 1:
        kernel(0, n_tasks, *args)
        return
    if _pool_workers < parts - 1:              # the first call, or more threads were asked for
        _pool, _pool_workers = ThreadPoolExecutor(parts - 1, "minideeplab"), parts - 1
    bounds = [n_tasks * part // parts for part in range(parts + 1)]
    futures = [_pool.submit(kernel, bounds[part], bounds[part + 1], *args)
               for part in range(1, parts)]
    try:
        kernel(bounds[0], bounds[1], *args)
    finally:
        for future in futures:
            future.exception()          # waits, even when our own slice failed
    for future in futures:
        future.result()                 # re-raises an error of that slice


# ------------------------------------------------------------------ 2. OpenBLAS threads

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
    if previous == n:
        yield
        return
    set_(int(n))
    try:
        yield
    finally:
        set_(previous)


@contextlib.contextmanager
def single_threaded_blas():
    """Run the block with one OpenBLAS thread (see :func:`blas_threads`)."""
    with blas_threads(1):
        yield
