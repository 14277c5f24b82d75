"""Numba twins of ReLU's forward and backward passes (see :mod:`minideeplab.functional.activation`).

Same numbers as the NumPy reference: ``out = max(x, 0)`` with NaN passed
through (``not x <= 0`` is true for NaN), the mask ``x > 0`` (False for NaN),
and ``dx = dout`` where the mask is set, else 0. The arrays are seen flat and
cut into blocks; each thread's slice of blocks (``_threads.parallel_for``) owns
those blocks of every array.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._threads import parallel_for

__all__ = ["relu_forward", "relu_backward"]

# Elements per task: the slices of a small array stay whole blocks.
BLOCK = 16384


def _blocks(size):
    return (size + BLOCK - 1) // BLOCK


@njit(cache=True, nogil=True)
def _relu_forward(first, stop, x, out, positive):
    """for every element k of blocks first ... stop - 1 (one slice of blocks per thread):
        positive[k] = x[k] > 0;   out[k] = x[k] if not x[k] <= 0 else 0   (NaN stays NaN)
    """
    size = x.size
    zero = x.dtype.type(0)
    for block in range(first, stop):
        for k in range(block * BLOCK, min(size, (block + 1) * BLOCK)):
            value = x[k]
            positive[k] = value > 0
            out[k] = zero if value <= 0 else value


@njit(cache=True, nogil=True)
def _relu_backward(first, stop, dout, positive, dx):
    """for every element k of blocks first ... stop - 1:  dx[k] = dout[k] if positive[k] else 0"""
    size = dout.size
    zero = dout.dtype.type(0)
    for block in range(first, stop):
        for k in range(block * BLOCK, min(size, (block + 1) * BLOCK)):
            # both values are loaded before choosing, so the choice compiles to a
            # branch-free select (a branch on a random mask mispredicts half the time)
            gradient = dout[k]
            dx[k] = gradient if positive[k] else zero


def relu_forward(x):
    """``(out, positive)`` of ``max(x, 0)``; ``positive`` is the boolean mask ``x > 0``.

    Twin of ``functional/activation.py: _forward_numpy``: one pass writes both
    arrays (NumPy makes two), on every thread.
    """
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    positive = np.empty(x.shape, dtype=np.bool_)
    parallel_for(_relu_forward, _blocks(x.size), x.reshape(-1), out.reshape(-1),
                 positive.reshape(-1))
    return out, positive


def relu_backward(dout, positive):
    """``dx = dout * positive``, shaped and typed like ``dout``.

    Twin of ``functional/activation.py: _backward_numpy`` (``np.where``), as a
    branch-free select in parallel blocks.
    """
    dout = np.ascontiguousarray(dout)
    dx = np.empty_like(dout)
    parallel_for(_relu_backward, _blocks(dout.size), dout.reshape(-1),
                 np.ascontiguousarray(positive).reshape(-1), dx.reshape(-1))
    return dx
