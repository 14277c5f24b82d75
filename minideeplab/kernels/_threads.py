"""Which threads run the Numba kernels' ``prange`` loops, and who owns the cores.

Every kernel module imports this file first, so the choice is made before
Numba starts its first parallel loop.

**The threading layer.** Numba can run ``prange`` on OpenMP, TBB or its own
"workqueue". OpenMP starts a parallel loop in about 5 microseconds, the
workqueue in about 110 (measured on a 2-core machine: a BatchNorm kernel on a
16x64x1x1 batch took 5 and 112 microseconds). A training step of the default
model makes about 200 parallel calls on small feature maps, so the workqueue
alone cost 50 ms of a 120 ms step. We therefore put OpenMP first in Numba's
order of preference (TBB, if installed, next; the workqueue last). A layer the
user chose with ``NUMBA_THREADING_LAYER`` is kept.

**One pool of threads at a time.** OpenMP keeps its threads spinning for a
while after each parallel loop, ready for the next one; OpenBLAS, which runs
NumPy's matrix products, does the same with its own threads. Two pools that
both spin on two cores take turns on them, and the dense 3x3 convolution ran
2-3x slower. So while a Numba-backend op runs, OpenBLAS is asked for one
thread (:func:`single_threaded_blas`) and the GEMMs of the convolution split
their batch over Python threads instead (see ``kernels/conv.py``).
"""

from __future__ import annotations

import contextlib

import numba

from ..backend import blas_threads

if numba.config.THREADING_LAYER == "default":
    numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]

__all__ = ["single_threaded_blas"]


@contextlib.contextmanager
def single_threaded_blas():
    """Run the block with one OpenBLAS thread (see :func:`minideeplab.backend.blas_threads`)."""
    with blas_threads(1):
        yield
