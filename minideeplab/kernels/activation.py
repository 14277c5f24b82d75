"""Numba twins of ReLU's forward and backward passes (see :mod:`minideeplab.functional.activation`).

Same numbers as the NumPy reference: ``out = max(x, 0)`` with NaN passed
through (``not x <= 0`` is true for NaN), the mask ``x > 0`` (False for NaN),
and ``dx = dout`` where the mask is set, else 0. The arrays are seen flat, and
each thread takes one contiguous slice of the elements (``_threads.parallel_for``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._threads import parallel_for

__all__ = ["relu_forward", "relu_backward"]

@njit(cache=True, nogil=True, error_model="numpy")
def _relu_forward(first, stop, x, out, positive):
    """for every element k in range(first, stop) (one slice of the elements per thread):
        positive[k] = x[k] > 0;   out[k] = x[k] if not x[k] <= 0 else 0   (NaN stays NaN)

    The loop runs over this slice's views from index 0. Indexing ``x[k]`` with
    ``k`` from ``range(first, stop)`` would be the same sum, but Numba cannot
    tell that such a ``k`` is never negative, so it checks for Python's
    negative indices at every element, and the loop no longer compiles to SIMD
    instructions (measured 10x slower).
    """
    x_slice, out_slice, positive_slice = x[first:stop], out[first:stop], positive[first:stop]
    zero = x.dtype.type(0)
    for k in range(stop - first):
        value = x_slice[k]
        positive_slice[k] = value > zero
        out_slice[k] = zero if value <= zero else value


@njit(cache=True, nogil=True, error_model="numpy")
def _relu_backward(first, stop, dout, positive, dx):
    """for every element k in range(first, stop):  dx[k] = dout[k] if positive[k] else 0"""
    dout_slice, positive_slice, dx_slice = dout[first:stop], positive[first:stop], dx[first:stop]
    zero = dout.dtype.type(0)
    for k in range(stop - first):
        # both values are loaded before choosing, so the choice compiles to a
        # branch-free select (a branch on a random mask mispredicts half the time)
        gradient = dout_slice[k]
        dx_slice[k] = gradient if positive_slice[k] else zero


def relu_forward(x):
    """``(out, positive)`` of ``max(x, 0)``; ``positive`` is the boolean mask ``x > 0``.

    Twin of ``functional/activation.py: _forward_numpy``: one pass writes both
    arrays (NumPy makes two), on every thread.
    """
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    positive = np.empty(x.shape, dtype=np.bool_)
    parallel_for(_relu_forward, x.size, x.reshape(-1), out.reshape(-1), positive.reshape(-1),
                 work=x.size)
    return out, positive


def relu_backward(dout, positive):
    """``dx = dout * positive``, shaped and typed like ``dout``.

    Twin of ``functional/activation.py: _backward_numpy`` (``np.where``), as a
    branch-free select, one slice of the elements per thread.
    """
    dout = np.ascontiguousarray(dout)
    dx = np.empty_like(dout)
    parallel_for(_relu_backward, dout.size, dout.reshape(-1),
                 np.ascontiguousarray(positive).reshape(-1), dx.reshape(-1), work=dout.size)
    return dx
