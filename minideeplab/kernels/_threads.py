"""All the threading machinery of the Numba backend, in one room (a first read can skip it).

What happens here, and nothing of it changes a result, only the speed:

1. **Numba's threading layer.** Numba can run ``prange`` loops on OpenMP, TBB or
   its own "workqueue". OpenMP starts a parallel loop in about 5 microseconds,
   the workqueue in about 110 (measured on a 2-core machine: a BatchNorm kernel
   on a 16x64x1x1 batch took 5 and 112 microseconds). A training step of the
   default model makes about 200 parallel calls on small feature maps, so the
   workqueue alone cost 50 ms of a 120 ms step. When this module is imported
   (every kernel module imports it before its first ``prange``), OpenMP is put
   first in Numba's order of preference (TBB next, the workqueue last). A layer
   the user chose with ``NUMBA_THREADING_LAYER`` is kept. This is the only
   setting of another library that importing the kernels changes.

2. **OpenBLAS threads.** NumPy's matrix products run in OpenBLAS, which keeps
   its own threads spinning after each call, ready for the next one; OpenMP
   does the same with the Numba threads. Two pools that both spin on two cores
   take turns on them (one training step measured 57 ms with one OpenBLAS
   thread and 1.3-1.6 s with two on a busy machine). So while a convolution
   kernel runs, OpenBLAS is asked for one thread (:func:`blas_threads`), and the
   previous number is restored afterwards: the user's own NumPy code outside
   our calls keeps whatever OpenBLAS had.

3. **Sharing images among threads.** With OpenBLAS single-threaded, a big
   convolution shares its batch among Python threads instead
   (:func:`share_images`): each thread takes a contiguous slice of the images
   and does all the work for it (im2col, GEMM, col2im). NumPy and the ``nogil``
   kernels release Python's lock, so the slices run at the same time, and no
   two threads write the same output.

4. **The size threshold.** Below :data:`PARALLEL_MIN_MULT_ADDS` multiply-adds
   (about a millisecond of work on one core) a convolution stays on the calling
   thread: waking another thread costs tens of microseconds, and right after a
   ``prange`` loop OpenMP's threads are still spinning on the other core, so a
   third thread would have to push one of them aside first. The small convs of
   a 64x64 training batch stay below it (sharing them measured no faster); the
   convs of big maps go above it and run about twice as fast.
"""

from __future__ import annotations

import contextlib
import functools
from concurrent.futures import ThreadPoolExecutor

import numba

__all__ = ["blas_threads", "single_threaded_blas", "share_images", "PARALLEL_MIN_MULT_ADDS"]

# ------------------------------------------------------------------ 1. threading layer

if numba.config.THREADING_LAYER == "default":
    numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]


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


# ------------------------------------------------- 3. and 4. sharing images, threshold

PARALLEL_MIN_MULT_ADDS = 32_000_000
_pool = None


def share_images(work, n_images: int, mult_adds: int) -> None:
    """Run ``work(first, stop)`` over ``range(n_images)``, in slices, one slice per thread.

    Convolutions of fewer than :data:`PARALLEL_MIN_MULT_ADDS` multiply-adds run
    as one slice on the calling thread. Either way OpenBLAS is single-threaded
    meanwhile (see the module docstring). Errors of a worker thread are raised here.
    """
    global _pool
    threads = numba.get_num_threads()          # follows numba.set_num_threads
    parts = min(n_images, threads) if mult_adds >= PARALLEL_MIN_MULT_ADDS else 1
    bounds = [n_images * part // parts for part in range(parts + 1)]
    with single_threaded_blas():
        if parts == 1:
            work(0, n_images)
            return
        if _pool is None:
            _pool = ThreadPoolExecutor(numba.config.NUMBA_NUM_THREADS - 1,
                                       thread_name_prefix="minideeplab")
        futures = [_pool.submit(work, bounds[part], bounds[part + 1]) for part in range(1, parts)]
        work(bounds[0], bounds[1])         # this thread takes the first slice
        for future in futures:
            future.result()                # waits; re-raises an error of that thread
