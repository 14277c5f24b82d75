"""Numba twins of ReLU's forward and backward passes (see :mod:`minideeplab.functional.activation`).

Same numbers as the NumPy reference: ``out = max(x, 0)`` with NaN passed
through (``not x <= 0`` is true for NaN), the mask ``x > 0`` (False for NaN),
and ``dx = dout`` where the mask is set, else 0. The arrays are seen flat and
cut into blocks; each parallel iteration owns one block of every array.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import _threads  # noqa: F401  (chooses the threading layer before any prange)

__all__ = ["relu_forward", "relu_backward"]

# Elements per parallel iteration: big enough that starting one costs little.
BLOCK = 16384


@njit(cache=True, parallel=True)
def _relu_forward(x, out, positive):
    """for every element k (blocks in parallel):
        positive[k] = x[k] > 0;   out[k] = x[k] if not x[k] <= 0 else 0   (NaN stays NaN)
    """
    size = x.size
    zero = x.dtype.type(0)
    for block in prange((size + BLOCK - 1) // BLOCK):
        for k in range(block * BLOCK, min(size, (block + 1) * BLOCK)):
            value = x[k]
            positive[k] = value > 0
            out[k] = zero if value <= 0 else value


@njit(cache=True, parallel=True)
def _relu_backward(dout, positive, dx):
    """for every element k (blocks in parallel):  dx[k] = dout[k] if positive[k] else 0"""
    size = dout.size
    zero = dout.dtype.type(0)
    for block in prange((size + BLOCK - 1) // BLOCK):
        for k in range(block * BLOCK, min(size, (block + 1) * BLOCK)):
            # both values are loaded before choosing, so the choice compiles to a
            # branch-free select (a branch on a random mask mispredicts half the time)
            gradient = dout[k]
            dx[k] = gradient if positive[k] else zero


def relu_forward(x):
    """``(out, positive)`` of ``max(x, 0)``; ``positive`` is the boolean mask ``x > 0``.

    Twin of ``functional/activation.py: _forward_numpy``: one pass writes both
    arrays (NumPy makes two), on every core.
    """
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    positive = np.empty(x.shape, dtype=np.bool_)
    _relu_forward(x.reshape(-1), out.reshape(-1), positive.reshape(-1))
    return out, positive


def relu_backward(dout, positive):
    """``dx = dout * positive``, shaped and typed like ``dout``.

    Twin of ``functional/activation.py: _backward_numpy`` (``np.where``), as a
    branch-free select in parallel blocks.
    """
    dout = np.ascontiguousarray(dout)
    dx = np.empty_like(dout)
    _relu_backward(dout.reshape(-1), np.ascontiguousarray(positive).reshape(-1), dx.reshape(-1))
    return dx
