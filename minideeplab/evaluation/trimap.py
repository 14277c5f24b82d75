"""The trimap curve: mIoU counted only within w pixels of object boundaries, for w = 1..40.

DeepLabV3+ (Fig. 5) shows what the decoder buys with this curve: near the boundaries, where a
coarse output stride blurs the outline, its mIoU rises most. For every width w the confusion
matrix is counted on the band of pixels within w px of a ground-truth boundary
(``metrics.boundary_mask(target, w)``: the (2w+1) x (2w+1) window around the pixel holds two
different labels), and its mIoU is the curve's value at w. As w grows the band covers whole
objects and the curve approaches the overall mIoU.

The bands of all widths come from one sweep: the largest label in a window of radius w is the
largest, over a 3x3 window, of the largest in windows of radius w-1 (windows clamped at the
image border compose the same way), so each width costs one 3x3 pass, not a (2w+1)-wide one.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import InputError, InputTypeError
from ..functional.loss import IGNORE_INDEX
from ..metrics import confusion_matrix, mean_iou

__all__ = ["TRIMAP_WIDTHS", "trimap_bands", "TrimapCurve", "trimap_miou"]

#: The band widths of the paper's Figure 5, in pixels.
TRIMAP_WIDTHS = tuple(range(1, 41))


def _extreme_3x3(labels: np.ndarray, reduce) -> np.ndarray:
    """Max (or min) over the 3x3 window of every pixel of an (H, W) map, edges clamped."""
    padded = np.pad(labels, 1, mode="edge")
    height, width = labels.shape
    rows = reduce(reduce(padded[0:height], padded[1:height + 1]), padded[2:height + 2])
    return reduce(reduce(rows[:, 0:width], rows[:, 1:width + 1]), rows[:, 2:width + 2])


def trimap_bands(target, widths=TRIMAP_WIDTHS, ignore_index: int = IGNORE_INDEX):
    """Yield ``(w, band)`` for each width in increasing order: band (H, W) bool.

    ``band`` equals ``metrics.boundary_mask(target, w)`` (checked by a test): pixels within w
    px of a boundary between two labels; ignore pixels make no edge and are never in a band.
    """
    target = np.asarray(target)
    if target.ndim != 2:
        raise InputError(f"target must be an (H, W) label map, got shape {target.shape}")
    widths = sorted(int(w) for w in widths)
    if not widths or widths[0] < 1:
        raise InputError(f"widths must be integers >= 1, got {widths}")
    labels = target.astype(np.int64)
    ignored = labels == ignore_index
    largest = np.where(ignored, -1, labels)
    smallest = np.where(ignored, np.iinfo(np.int64).max, labels)
    radius = 0
    for width in widths:
        while radius < width:
            largest = _extreme_3x3(largest, np.maximum)
            smallest = _extreme_3x3(smallest, np.minimum)
            radius += 1
        yield width, (largest != smallest) & (largest >= 0) & ~ignored


class TrimapCurve:
    """Accumulate one confusion matrix per band width over images; ``curve()`` gives mIoU(w)."""

    def __init__(self, num_classes: int, widths=TRIMAP_WIDTHS, ignore_index: int = IGNORE_INDEX):
        self.num_classes = int(num_classes)
        self.widths = tuple(sorted(int(w) for w in widths))
        self.ignore_index = ignore_index
        self.matrices = np.zeros((len(self.widths), num_classes, num_classes), dtype=np.int64)

    def update(self, pred, target) -> None:
        """Add one image: ``pred`` and ``target`` (H, W) integer labels."""
        pred = np.asarray(pred)
        for index, (_, band) in enumerate(trimap_bands(target, self.widths, self.ignore_index)):
            self.matrices[index] += confusion_matrix(pred[band], np.asarray(target)[band],
                                                     self.num_classes, self.ignore_index)

    def curve(self) -> list:
        """mIoU within each band width (NaN where a band held no pixel), as floats."""
        return [mean_iou(cm) for cm in self.matrices]


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
    if targets.ndim == 2:
        predictions, targets = predictions[None], targets[None]
    curve = TrimapCurve(num_classes, widths, ignore_index)
    for prediction, target in zip(predictions, targets, strict=True):
        curve.update(prediction, target)
    by_width = dict(zip(curve.widths, curve.curve(), strict=True))
    return np.array([by_width[w] for w in widths])
