"""Counting parameters (and, in :func:`summary`, mult-adds per layer)."""

from __future__ import annotations

__all__ = ["count_parameters"]


def count_parameters(module) -> int:
    """Number of learnable scalars in ``module`` (weights and biases; not buffers).

    >>> from minideeplab import nn
    >>> count_parameters(nn.Conv2d(3, 16, 3, bias=False))
    432
    """
    return int(sum(p.data.size for p in module.parameters()))
