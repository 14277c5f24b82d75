"""Image layout: CHW <-> HWC, nothing else.

The library stores an image channels-first, ``(C, H, W)`` (a batch is ``(N, C, H, W)``), the
layout of the models and of PyTorch. Image files (Pillow) and ``imshow`` use channels-last,
``(H, W, C)``. These two functions move the channel axis and do nothing more: no copy of the
values beyond what the layout needs, no change of dtype or range (figures that rescale values
do so themselves, see :func:`minideeplab.viz.style.as_image`).
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

__all__ = ["to_hwc", "hwc_to_chw"]

# A leading axis of this length is read as channels: grey (1) or RGB (3).
_CHANNEL_COUNTS = (1, 3)


def to_hwc(image, name: str = "image") -> np.ndarray:
    """One image in either layout -> channels-last ``(H, W, C)``; an ``(H, W)`` map unchanged.

    ``(C, H, W)`` with C = 1 or 3 becomes ``(H, W, C)``; an image already ``(H, W, C)`` is
    returned as it is. An array whose first and last axes could both be channels, such as
    ``(3, 5, 3)``, is taken to be channels-last already.

    Args:
        image: array-like of rank 2 or 3.
        name: the argument's name, for the error message.

    Returns:
        a view of ``image`` (no copy), rank 2 or 3.

    >>> to_hwc(np.zeros((3, 4, 5))).shape
    (4, 5, 3)
    >>> to_hwc(np.zeros((4, 5, 3))).shape
    (4, 5, 3)
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise InputError(f"{name} must be (H, W), (H, W, C) or (C, H, W), got shape "
                         f"{image.shape}")
    if (image.ndim == 3 and image.shape[0] in _CHANNEL_COUNTS
            and image.shape[-1] not in _CHANNEL_COUNTS):
        return np.moveaxis(image, 0, -1)
    return image


def hwc_to_chw(image) -> np.ndarray:
    """Channels-last ``(..., H, W, C)`` -> channels-first ``(..., C, H, W)``, contiguous.

    Works on one image ``(H, W, C)`` or a batch ``(N, H, W, C)``; the result is a contiguous
    copy, so later per-channel work walks memory in order.

    >>> hwc_to_chw(np.zeros((2, 4, 5, 3))).shape
    (2, 3, 4, 5)
    """
    image = np.asarray(image)
    if image.ndim < 3:
        raise InputError(f"image must be (H, W, C) or (N, H, W, C), got shape {image.shape}")
    return np.ascontiguousarray(np.moveaxis(image, -1, -3))
