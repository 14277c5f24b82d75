"""Numba-compiled twins of the hot loops in :mod:`minideeplab.functional`.

Each module here mirrors one functional module (``kernels/conv.py`` mirrors
``functional/conv.py``): the same function signatures, the same numbers, only
faster. The functional op imports its kernel module lazily, when
``get_backend() == "numba"``, so ``import minideeplab`` never imports Numba.

Rules every kernel file follows:

* ``@njit(cache=True)``: compiled once, then loaded from the on-disk cache;
* ``parallel=True`` with ``prange`` only over outputs that one iteration owns
  (never ``+=`` into a shared array from a parallel loop: a data race);
* the loop nest a kernel computes is written out in its docstring;
* few specialisations (ints rather than tuples, C-contiguous arrays, float32 or
  float64), so the first training step does not wait long for the compiler.

This file holds no imports on purpose: kernel files are independent.
"""
