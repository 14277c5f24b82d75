"""Numba-compiled twins of the hot loops in :mod:`minideeplab.functional`.

Each module here mirrors one functional module (``kernels/conv.py`` mirrors
``functional/conv.py``): the same function signatures, the same numbers, only
faster. The convolution has helpers of its own: its depthwise route
(``depthwise.py``), its Winograd route for 3x3 convolutions at stride 1
(``winograd.py``) and the copies of its matrix-product route (``im2col.py``).
The functional op imports its kernel module lazily, when ``get_backend() ==
"numba"``, so ``import minideeplab`` never imports Numba.

Rules every kernel file follows:

* ``@njit(cache=True, nogil=True)``: compiled once, then loaded from the on-disk
  cache; ``nogil`` so that the threads run at the same time;
* a kernel is a loop over a slice of tasks, ``for task in range(first, stop)``,
  and a task writes only outputs it owns; ``_threads.parallel_for`` hands each
  thread a slice (never ``+=`` into a shared array from two tasks: a data race);
  all the threading lives in ``_threads.py``;
* the loop nest a kernel computes is written out in its docstring, with the
  reference function it twins in ``functional/`` and why its route differs;
* ``error_model="numpy"`` (no Python exceptions for division by zero: the
  divisors are shapes) and few specialisations (ints rather than tuples,
  C-contiguous arrays, float32 or float64), so the first training step does
  not wait long for the compiler.

This file holds no imports on purpose: kernel files are independent.
"""
