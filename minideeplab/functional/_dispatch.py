"""How a functional op reaches its hot loop: the NumPy reference or its Numba twin.

Every op in :mod:`minideeplab.functional` computes its heavy part in a small
function written in NumPy (``_forward_numpy``, ``_backward_numpy``, ...), the
reference. The module ``minideeplab/kernels/<op>.py`` holds a Numba twin with
the same signature and the same numbers. :func:`hot_loop` picks one of the two
for the active backend (:mod:`minideeplab.backend`), at every call, so
``mdl.use_backend("numpy")`` takes effect at once. Numba is imported only when
the first kernel is asked for, so ``import minideeplab`` stays fast.
"""

from __future__ import annotations

import importlib
import sys

from ..backend import get_backend

__all__ = ["hot_loop"]


def hot_loop(kernel_module: str, name: str, reference):
    """``reference`` on the numpy backend; ``kernels/<kernel_module>.py``'s ``name`` on numba.

        >>> from minideeplab.functional._dispatch import hot_loop
        >>> import minideeplab as mdl
        >>> with mdl.use_backend("numpy"):
        ...     hot_loop("conv", "forward", len) is len
        True
    """
    if get_backend() == "numba":
        module_name = f"minideeplab.kernels.{kernel_module}"
        # sys.modules first: a dictionary look-up, where import_module costs
        # microseconds on each of the ~500 hot-loop calls of a training step
        kernels = sys.modules.get(module_name) or importlib.import_module(module_name)
        return getattr(kernels, name)
    return reference
