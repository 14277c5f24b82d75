"""Taps on padding: how many of an atrous kernel's taps land on a small feature map.

With stride 1 and 'same' padding, a ``k x k`` kernel at rate ``r`` reads
``r`` pixels apart around each output. As ``r`` approaches the map's size,
the outer taps fall on the zero padding and their weights are wasted; once
``r`` reaches the size only the centre tap is left and the kernel is a 1x1 --
DeepLabV3's reason (Chen et al., 2017, Sec. 3.3, Fig. 4) for giving ASPP an
image-pooling branch. :func:`valid_tap_map` gives the fraction per output
position, :func:`valid_tap_fraction` its mean.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import InputError
from ..geometry import check_kernel_size, pair

__all__ = ["valid_tap_map", "valid_tap_fraction"]


def _valid_taps_1d(rate: int, size: int, kernel_size: int) -> np.ndarray:
    """Per output position: how many of the k taps land inside [0, size)."""
    offsets = (np.arange(kernel_size) - (kernel_size - 1) // 2) * rate
    positions = np.arange(size)[:, None] + offsets[None, :]
    return np.count_nonzero((positions >= 0) & (positions < size), axis=1)


def valid_tap_map(rate: int, map_size, kernel_size: int = 3) -> np.ndarray:
    """Fraction of a ``k x k`` atrous kernel's taps that land inside the map, per position.

    With stride 1 and 'same' padding ``p = rate (k - 1) / 2``, output ``(i, j)``
    reads ``(i + u rate, j + v rate)`` for ``u, v in -(k-1)/2 .. (k-1)/2``. Taps
    outside ``[0, H) x [0, W)`` multiply padding zeros: wasted weights. A tap is
    valid when both coordinates are inside, so the count is a product of one
    count per axis. Returns an (H, W) array of fractions in ``[1/k^2, 1]``.
    """
    if not isinstance(rate, numbers.Integral) or isinstance(rate, bool) or rate < 1:
        raise InputError(f"rate must be an int >= 1, got {rate!r}")
    kernel_size = check_kernel_size(kernel_size)
    if kernel_size % 2 == 0:
        raise InputError(f"kernel_size must be odd so that 'same' padding centres it, "
                         f"got {kernel_size}")
    height, width = pair(map_size, "map_size", minimum=1)
    rows = _valid_taps_1d(int(rate), height, kernel_size)
    cols = _valid_taps_1d(int(rate), width, kernel_size)
    return np.outer(rows, cols) / kernel_size ** 2


def valid_tap_fraction(rate: int, map_size, kernel_size: int = 3) -> float:
    """Mean of :func:`valid_tap_map` over all positions: the share of weights that see data.

    The DeepLabV3 argument (Chen et al., 2017, Fig. 4) for adding image pooling
    to ASPP: as the rate approaches the map size, fewer taps land on the map;
    once ``rate >= map_size`` only the centre tap does, and a 3x3 atrous
    convolution degenerates to a 1x1 (fraction ``1/9``).
    """
    return float(valid_tap_map(rate, map_size, kernel_size).mean())
