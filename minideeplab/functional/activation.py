r"""The rectified linear unit, ``relu(x) = max(x, 0)``, element-wise.

.. math:: out = \max(x, 0), \qquad dx = dout \cdot [x > 0]

The derivative is 1 where the input was positive and 0 elsewhere; at exactly
``x == 0`` we take 0, like PyTorch. So the backward pass only needs to remember
*where* the input was positive: a boolean mask of x's shape.

Shapes: ``x``, ``out``, ``dout`` and ``dx`` all (any shape, usually N, C, H, W).

With the Numba backend both passes run in :mod:`minideeplab.kernels.activation`
(one pass over memory instead of NumPy's two, on every core).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import check_array, check_grad
from ._dispatch import hot_loop

__all__ = ["relu_forward", "relu_backward", "ReluCache"]


@dataclass
class ReluCache:
    """Where the input was positive (the only inputs that pass a gradient)."""

    positive: np.ndarray    # bool, x's shape
    dtype: np.dtype


def _forward_numpy(x):
    """(out, positive): ``max(x, 0)`` and the mask of positive inputs."""
    # np.maximum propagates NaN (as torch.relu does), so a diverging network
    # shows NaN in its loss instead of silently turning NaN into 0
    return np.maximum(x, np.zeros((), dtype=x.dtype)), x > 0


def _backward_numpy(dout, positive):
    """``dout`` where the input was positive, 0 elsewhere: ``dout * [x > 0]``."""
    # a product with the mask (True = 1, False = 0), not np.where: np.where on a
    # random mask is ~10x slower (a mispredicted branch per element). The two
    # differ only where dout is inf or NaN at a non-positive input (0 * inf is NaN)
    return np.multiply(dout, positive, dtype=dout.dtype)


def relu_forward(x):
    """``max(x, 0)`` element-wise; returns ``(out, cache)`` with ``out`` shaped and typed like x."""
    check_array(x, "x")
    out, positive = hot_loop("activation", "relu_forward", _forward_numpy)(x)
    return out, ReluCache(positive, x.dtype)


def relu_backward(dout, cache: ReluCache):
    """``dx = dout * [x > 0]``: the gradient passes where the input was positive."""
    check_grad(dout, cache.positive.shape, cache.dtype)
    return hot_loop("activation", "relu_backward", _backward_numpy)(dout, cache.positive)
