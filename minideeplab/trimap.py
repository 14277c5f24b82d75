"""The trimap experiment of the DeepLabV3+ paper (Fig. 5): mIoU in a band around object boundaries.

The paper measures how much its decoder sharpens boundaries by scoring only the pixels within a
band of width ``w`` around the objects' outlines (a "trimap"), for widths from a few pixels to
tens, and plotting mIoU against ``w``. A narrow band holds almost only boundary pixels, where a
coarse output (DeepLabV3's stride-16 map upsampled x16) goes wrong; as ``w`` grows the band
takes in the objects' easy interiors and the curve climbs towards the mIoU of the whole image.

The band is :func:`minideeplab.metrics.boundary_mask` (pixels whose ``(2w+1) x (2w+1)``
neighbourhood holds another ground-truth label); :func:`trimap_miou` counts one confusion
matrix over every image's band per width, so the score is the dataset's IoU in the band, not a
mean of per-image scores.
"""

from __future__ import annotations

import numbers

import numpy as np

from .errors import InputError, InputTypeError
from .functional.loss import IGNORE_INDEX
from .metrics import boundary_confusion_matrix, mean_iou

__all__ = ["trimap_miou"]


def _check_widths(widths) -> tuple:
    if isinstance(widths, numbers.Integral) and not isinstance(widths, bool):
        widths = (widths,)
    try:
        widths = tuple(widths)
    except TypeError:
        raise InputTypeError(f"widths must be an int or a sequence of ints, got "
                             f"{type(widths).__name__}") from None
    if not widths or not all(isinstance(w, numbers.Integral) and not isinstance(w, bool)
                             and w >= 1 for w in widths):
        raise InputError(f"widths must be a non-empty sequence of ints >= 1, got {widths!r}")
    return tuple(int(w) for w in widths)


def trimap_miou(predictions, targets, num_classes: int, widths,
                ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """mIoU counted only within ``w`` px of a ground-truth boundary, for each ``w`` in ``widths``.

    Args:
        predictions: (N, H, W) (or (H, W)) predicted class indices, e.g. ``model.predict(x)``.
        targets: ground-truth labels of the same shape; ``ignore_index`` pixels are never counted
            and make no boundary.
        num_classes: number of classes C.
        widths: band half-widths in pixels (ints >= 1), e.g. ``range(1, 41)``.

    Returns:
        (len(widths),) float64: the mIoU of the pixels in each band (NaN for a band that holds
        no pixel, e.g. images with one label only).

    >>> target = np.zeros((6, 6), dtype=np.int64); target[2:4, 2:4] = 1
    >>> float(trimap_miou(target, target, 2, [1])[0])        # a perfect prediction
    1.0
    """
    widths = _check_widths(widths)
    predictions, targets = np.asarray(predictions), np.asarray(targets)
    if predictions.shape != targets.shape:
        raise InputError(f"predictions must have the shape of targets {targets.shape}, "
                         f"got {predictions.shape}")
    if targets.ndim not in (2, 3):
        raise InputError(f"targets must be (H, W) or (N, H, W) labels, got shape {targets.shape}")
    return np.array([mean_iou(boundary_confusion_matrix(predictions, targets, num_classes,
                                                        width=w, ignore_index=ignore_index))
                     for w in widths])
