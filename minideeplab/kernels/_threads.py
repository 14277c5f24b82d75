"""All the threading of the Numba backend, in one room (a first read can skip it).

**One mechanism: slices of the work, one per thread.** Every kernel is a plain
``@njit(nogil=True)`` loop over a range of tasks ``for task in range(first,
stop)`` (a task is an image, an ``(image, channel)`` plane, a channel or an
element, whichever the kernel owns). :func:`parallel_for` cuts
``range(n_tasks)`` into one contiguous slice per thread, runs the slices at
the same time (the calling thread takes the first, a small pool of our own
threads the others) and waits for all of them. ``nogil`` kernels and NumPy's
matrix products release Python's lock, so the slices really run in parallel;
a task writes only outputs it owns, so no two slices write the same memory.

Why our own pool and not Numba's ``prange`` (OpenMP), which this package used
before:

* **Idle threads sleep.** OpenMP's threads keep spinning after each parallel
  loop, ready for the next one. On an idle machine that saves a few
  microseconds per loop; on a machine other programs use (a laptop, a shared
  server) a spinning thread takes a core from someone, and a loop that waits
  for a thread the scheduler put aside waits a whole time slice: a
  two-element ``prange`` loop measured 2.6 us at best but 13-16 ms at the
  median on a busy 2-core machine, where handing a slice to our pool took
  15-20 us. A middle way was measured too, a worker that keeps looking for its
  next slice for up to 10 ms (in a ``nogil`` loop that gives the core away
  between looks) before it sleeps: on the idle machine a hand-over took 22-46
  us instead of 47-89 and a 128x128 training step 3-8% less time, but with two
  busy programs on the two cores a step took 155-310 ms instead of 29-49 ms
  (a thread that spins loses its turn to them; one that slept gets it back
  at once). So ours sleep.
* **One pool for everything.** The convolutions' matrix products (OpenBLAS,
  through NumPy) run on the same threads as the loops, so two pools never
  compete for the cores.
* **Faster compiling.** A serial kernel compiles in a fraction of the time of
  a ``parallel=True`` one (Numba writes and compiles an extra function per
  ``prange`` loop); the first training step with an empty cache waits for
  every kernel (14 CPU seconds before, 5 now).

**One threshold, in seconds.** Handing a slice to another thread and getting
it back is not free: the worker must wake up, take Python's lock to call the
kernel, and hand it back, and the caller must wake up again. On the 2-core
virtual machine these figures come from, an idle core sleeps so deeply that
the hand-over took 87 microseconds at the median (70-110 us). So a call is
shared only when it is worth it: the first two calls of a kernel at a given
size (``work``) run on the calling thread alone and are timed, and from then
on calls of that kernel and size are shared if the faster of the two took
at least :data:`SHARE_ABOVE_SECONDS` (0.3 ms, about 3.5 hand-overs), else they
stay on the calling thread. No per-kernel guess of what a value costs: a
batch-norm value takes 5x a ReLU value, a softmax value 25x (an exponential),
and the timing sees it. In a training step of the default model at batch 8 on
128x128 images, 26-55 of the 108 (kernel, size) pairs are shared, and the
step ran 11-14% faster than with the previous rule (a fixed count of values).
``benchmarks/bench_performance.py`` shows what two threads buy in its section 3.
The numbers never depend on it: every slice computes what it would compute
alone, and sums over slices are added in a fixed order.

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
import threading
import time

from ..errors import InputError

__all__ = ["parallel_for", "set_num_threads", "get_num_threads", "SHARE_ABOVE_SECONDS",
           "blas_threads", "single_threaded_blas"]

SHARE_ABOVE_SECONDS = 300e-6   # share a call that takes longer than this alone (see above)
TIMED_CALLS = 2                # calls of a kernel and size timed alone before deciding
_seconds_alone = {}            # (kernel's code, work) -> seconds of its first calls alone
_fastest_alone = {}            # (kernel's code, work) -> the faster of those, once timed


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


def set_num_threads(n: int) -> None:
    """Use ``n`` threads (the calling one included) for every kernel from now on."""
    global _threads
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise InputError(f"n must be a positive int, got {n!r}")
    _threads = n


def get_num_threads() -> int:
    """The number of threads the kernels use (the calling one included)."""
    return _threads


class _Worker:
    """One thread of the pool: sleeps until it is handed a slice, runs it, says it is done.

    Two locks, both held while the worker is idle: the caller releases ``go``
    to start a slice; the worker releases ``done`` when the slice is over.
    """

    def __init__(self, name):
        self._go, self._done = threading.Lock(), threading.Lock()
        self._go.acquire()
        self._done.acquire()
        self._job = self._error = None
        threading.Thread(target=self._loop, name=name, daemon=True).start()

    def start(self, kernel, first, stop, args):
        self._job = (kernel, first, stop, args)
        self._go.release()

    def wait(self):
        """Wait for the slice; raise its error, if it had one."""
        self._done.acquire()
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _loop(self):
        while True:
            self._go.acquire()                   # sleeps here between slices
            kernel, first, stop, args = self._job
            try:
                kernel(first, stop, *args)
            except BaseException as error:       # handed to the caller by wait()
                self._error = error
            self._job = None
            self._done.release()


_workers = []
_pool_lock = threading.Lock()    # one parallel_for at a time uses the workers


def _forget_workers_after_fork():
    # a forked child has none of the parent's threads: start new ones when needed
    global _pool_lock
    _workers.clear()
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers_after_fork)


def parallel_for(kernel, n_tasks: int, *args, work: int) -> None:
    """Run ``kernel(first, stop, *args)`` on slices of ``range(n_tasks)``, one per thread.

    The slices are contiguous and as equal as possible; the calling thread
    runs the first one, the pool's threads the others, and the call returns
    when all are done. ``work`` is the size of the call (the values it
    computes, or a convolution's multiply-adds): calls of one kernel with the
    same ``work`` cost the same, so they share one decision. Their first
    :data:`TIMED_CALLS` run alone, timed; later ones are shared only if one of
    those took :data:`SHARE_ABOVE_SECONDS` or more (0: always shared). A call
    made while another thread is using the pool runs as one slice. An error
    in any slice is raised here, after every slice has finished.
    """
    parts = min(n_tasks, _threads)
    if parts > 1 and SHARE_ABOVE_SECONDS > 0:
        if not _worth_sharing(kernel, n_tasks, args, work):
            return                                        # it ran alone
    if parts <= 1 or not _pool_lock.acquire(blocking=False):
        kernel(0, n_tasks, *args)
        return
    try:
        while len(_workers) < parts - 1:
            _workers.append(_Worker(f"minideeplab-{len(_workers) + 1}"))
        bounds = [n_tasks * part // parts for part in range(parts + 1)]
        for part in range(1, parts):
            _workers[part - 1].start(kernel, bounds[part], bounds[part + 1], args)
        try:
            kernel(bounds[0], bounds[1], *args)
        finally:
            errors = []
            for worker in _workers[:parts - 1]:
                try:
                    worker.wait()
                except BaseException as error:
                    errors.append(error)
        if errors:
            raise errors[0]
    finally:
        _pool_lock.release()


def _worth_sharing(kernel, n_tasks, args, work) -> bool:
    """True if this call should be shared; otherwise run it alone here (timed while the
    kernel and size have had fewer than TIMED_CALLS calls) and return False."""
    # a Numba kernel's Python function, or a closure's code: the same for every call
    key = (getattr(getattr(kernel, "py_func", kernel), "__code__", kernel), work)
    fastest = _fastest_alone.get(key)
    if fastest is not None:
        if fastest >= SHARE_ABOVE_SECONDS:
            return True
        kernel(0, n_tasks, *args)
        return False
    if len(_seconds_alone) > 100_000:            # many image sizes (evaluation): start again
        _seconds_alone.clear()
        _fastest_alone.clear()
    timings = _seconds_alone.setdefault(key, [])
    started = time.perf_counter()
    kernel(0, n_tasks, *args)
    timings.append(time.perf_counter() - started)
    if len(timings) >= TIMED_CALLS:
        _fastest_alone[key] = min(timings)
    return False


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
