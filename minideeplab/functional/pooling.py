r"""Global average pooling: one number per channel, the mean over the whole map.

.. math:: out[n, c, 0, 0] = \frac{1}{HW} \sum_{h, w} x[n, c, h, w]

DeepLab's ASPP uses it as the "image pooling" branch: a 1x1 summary of the
whole image that gives every pixel global context.

Every input pixel contributes ``1 / (H W)`` to its channel's mean, so the
backward pass spreads each channel's gradient evenly over the map:

.. math:: dx[n, c, h, w] = \frac{dout[n, c, 0, 0]}{HW}

Shapes: ``x`` (N, C, H, W); ``out`` and ``dout`` (N, C, 1, 1); ``dx`` like x.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ._checks import check_array, check_grad

__all__ = ["global_avg_pool2d_forward", "global_avg_pool2d_backward", "GlobalAvgPoolCache"]


@dataclass
class GlobalAvgPoolCache:
    """Only the input's shape and dtype are needed: the mean is linear."""

    x_shape: tuple
    dtype: np.dtype


def global_avg_pool2d_forward(x):
    """Mean of ``x`` (N, C, H, W) over H and W; returns ``(out, cache)`` with out (N, C, 1, 1)."""
    check_array(x, "x", 4, "(N, C, H, W)")
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise InputError(f"x must have a non-empty (H, W) to average over, got shape {x.shape}")
    out = x.mean(axis=(2, 3), keepdims=True)
    return out, GlobalAvgPoolCache(x.shape, x.dtype)


def global_avg_pool2d_backward(dout, cache: GlobalAvgPoolCache):
    """``dx[n, c, h, w] = dout[n, c, 0, 0] / (H * W)`` for every pixel."""
    n, c, h, w = cache.x_shape
    check_grad(dout, (n, c, 1, 1), cache.dtype)
    return np.broadcast_to(dout / cache.dtype.type(h * w), cache.x_shape).copy()
