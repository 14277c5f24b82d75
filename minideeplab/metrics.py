"""Segmentation metrics: confusion matrix, pixel accuracy, IoU, and IoU near object boundaries.

Everything starts from the confusion matrix ``cm`` of shape (C, C):
``cm[t, p]`` = number of pixels whose ground truth is class t and whose prediction is class p
(rows = truth, columns = prediction). From it, for class k:

    TP_k = cm[k, k]
    FN_k = row sum - TP_k      (truth k, predicted something else)
    FP_k = column sum - TP_k   (predicted k, truth something else)
    IoU_k = TP_k / (TP_k + FP_k + FN_k)      |pred_k AND truth_k| / |pred_k OR truth_k|
    mIoU = mean of IoU_k over the classes that occur (in the prediction or the truth)

Beside IoU, the report of ``minideeplab evaluate`` gives (FCN, Long et al. 2015, Sec. 5):

    class accuracy_k = TP_k / (TP_k + FN_k)          recall of class k (row-normalised diagonal)
    mean class accuracy = mean of class accuracy_k over the classes in the truth
    frequency-weighted IoU = sum_k (truth pixels of k / all pixels) * IoU_k

Pixel accuracy is dominated by the background (80% of a shapes image); mIoU weighs every class
equally, so a model that predicts only background scores 0.8 accuracy but about 0.16 mIoU.

**Boundary IoU.** Most pixels of an object are easy; the errors a coarse model makes (no decoder)
sit on its outline and in thin structures. Restricting the confusion matrix to a band of pixels
within ``width`` px of a ground-truth boundary (a "trimap") measures exactly that.

Pixels whose ground truth is ``ignore_index`` (255) are never counted.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError, InputTypeError
from .functional.loss import IGNORE_INDEX


def _check_num_classes(num_classes) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise InputTypeError(f"num_classes must be an int, got {type(num_classes).__name__}")
    if num_classes < 1:
        raise InputError(f"num_classes must be >= 1, got {num_classes}")
    return int(num_classes)


def _check_labels(labels, name: str) -> np.ndarray:
    if not isinstance(labels, np.ndarray):
        raise InputTypeError(f"{name} must be a numpy array of integer labels, "
                             f"got {type(labels).__name__}")
    if not np.issubdtype(labels.dtype, np.integer):
        hint = " (take argmax over the class axis first)" if name == "pred" else ""
        raise InputTypeError(f"{name} must have an integer dtype, got {labels.dtype}{hint}")
    return labels


def _check_cm(cm) -> np.ndarray:
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise InputError(f"cm must be a square (C, C) confusion matrix, got shape {cm.shape}")
    return cm


def confusion_matrix(pred, target, num_classes: int, ignore_index: int = IGNORE_INDEX):
    """Count (truth, prediction) pairs over all pixels whose truth is not ``ignore_index``.

    Args:
        pred: integer labels in [0, num_classes), any shape, e.g. (N, H, W).
        target: integer labels of the same shape, in [0, num_classes) or ``ignore_index``.
        num_classes: C.
        ignore_index: target value that marks a pixel not to count (its prediction is not read).

    Returns:
        cm (C, C) int64, rows = ground truth, columns = prediction.

    The whole matrix is one histogram: pixel (t, p) falls into bin ``t * C + p``, so
    ``np.bincount`` of those bin numbers, reshaped to (C, C), is the confusion matrix.
    """
    num_classes = _check_num_classes(num_classes)
    pred = _check_labels(pred, "pred")
    target = _check_labels(target, "target")
    if pred.shape != target.shape:
        raise InputError(f"pred and target must have the same shape, got pred {pred.shape} "
                         f"and target {target.shape}")
    counted = target != ignore_index
    truth = target[counted].astype(np.int64)
    guess = pred[counted].astype(np.int64)
    if truth.size and (truth.min() < 0 or truth.max() >= num_classes):
        bad = np.unique(truth[(truth < 0) | (truth >= num_classes)])
        raise InputError(f"target has labels {bad[:10].tolist()} outside [0, {num_classes}) "
                         f"that are not ignore_index={ignore_index}")
    if guess.size and (guess.min() < 0 or guess.max() >= num_classes):
        bad = np.unique(guess[(guess < 0) | (guess >= num_classes)])
        raise InputError(f"pred has labels {bad[:10].tolist()} outside [0, {num_classes}) "
                         f"(at pixels that are not ignored)")
    bins = np.bincount(truth * num_classes + guess, minlength=num_classes * num_classes)
    return bins.reshape(num_classes, num_classes).astype(np.int64)


def pixel_accuracy(cm) -> float:
    """Fraction of counted pixels predicted correctly: trace(cm) / sum(cm); NaN if cm is empty."""
    cm = _check_cm(cm)
    total = cm.sum()
    return float(np.trace(cm) / total) if total > 0 else float("nan")


def iou_per_class(cm) -> np.ndarray:
    """IoU_k = TP / (TP + FP + FN) for every class: (C,) float64.

    A class that appears in neither the truth nor the prediction has 0 / 0: it is NaN, not 0 and
    not 1, so that ``mean_iou`` leaves it out instead of rewarding or punishing its absence.
    """
    cm = _check_cm(cm).astype(np.float64)
    true_positive = np.diag(cm)
    union = cm.sum(axis=0) + cm.sum(axis=1) - true_positive
    iou = np.full(cm.shape[0], np.nan)
    np.divide(true_positive, union, out=iou, where=union > 0)
    return iou


def mean_iou(cm) -> float:
    """Mean of ``iou_per_class`` over the classes that occur (nanmean); NaN if none occurs."""
    iou = iou_per_class(cm)
    present = ~np.isnan(iou)
    return float(iou[present].mean()) if present.any() else float("nan")


def iou_summary(cm) -> dict:
    """Every score of one confusion matrix at once, as plain Python numbers.

    Returns:
        dict with ``pixel_accuracy`` (float, NaN if the matrix is empty), ``miou`` (float, NaN
        if no class occurs) and ``iou_per_class`` (list of C floats, NaN for a class in
        neither truth nor prediction).
    """
    return {
        "pixel_accuracy": pixel_accuracy(cm),
        "miou": mean_iou(cm),
        "iou_per_class": [float(v) for v in iou_per_class(cm)],
    }


def class_accuracy(cm) -> np.ndarray:
    """TP_k / (TP_k + FN_k), the fraction of class k's pixels found: (C,) float64, NaN for a
    class absent from the truth."""
    cm = _check_cm(cm).astype(np.float64)
    truth = cm.sum(axis=1)
    accuracy = np.full(cm.shape[0], np.nan)
    np.divide(np.diag(cm), truth, out=accuracy, where=truth > 0)
    return accuracy


def mean_class_accuracy(cm) -> float:
    """Mean of ``class_accuracy`` over the classes present in the truth; NaN if none is."""
    accuracy = class_accuracy(cm)
    present = ~np.isnan(accuracy)
    return float(accuracy[present].mean()) if present.any() else float("nan")


def frequency_weighted_iou(cm) -> float:
    """sum_k (truth pixels of class k / all counted pixels) * IoU_k; NaN for an empty matrix.

    Each class's IoU is weighted by how much of the image it covers, so this score, like pixel
    accuracy, follows the large classes; mIoU is the one that weighs every class equally.
    """
    cm = _check_cm(cm)
    truth = cm.sum(axis=1).astype(np.float64)
    total = truth.sum()
    if total == 0:
        return float("nan")
    iou = iou_per_class(cm)
    present = truth > 0                   # union >= truth > 0, so IoU is a number there
    return float((truth[present] / total * iou[present]).sum())


def normalized_confusion_matrix(cm) -> np.ndarray:
    """Each row divided by its sum: row t shows where the pixels of true class t went.

    (C, C) float64; a row of a class absent from the truth is NaN (nothing to divide).
    """
    cm = _check_cm(cm).astype(np.float64)
    truth = cm.sum(axis=1, keepdims=True)
    out = np.full(cm.shape, np.nan)
    np.divide(cm, truth, out=out, where=truth > 0)
    return out


def _window_extreme(labels: np.ndarray, width: int, reduce) -> np.ndarray:
    """Max (or min) of ``labels`` over the (2w+1) x (2w+1) window around each pixel.

    A square window is separable: the extreme over the window is the extreme over columns of the
    extreme over rows. Each 1-D pass takes 2w+1 shifted views of an edge-padded copy (edge
    padding repeats a value already in the window, so the image border creates no false edge).
    """
    pad = [(0, 0)] * (labels.ndim - 2) + [(width, width), (0, 0)]
    padded = np.pad(labels, pad, mode="edge")
    height = labels.shape[-2]
    rows = padded[..., 0:height, :]
    for shift in range(1, 2 * width + 1):
        rows = reduce(rows, padded[..., shift:shift + height, :])
    pad = [(0, 0)] * (labels.ndim - 1) + [(width, width)]
    padded = np.pad(rows, pad, mode="edge")
    columns = labels.shape[-1]
    out = padded[..., 0:columns]
    for shift in range(1, 2 * width + 1):
        out = reduce(out, padded[..., shift:shift + columns])
    return out


def boundary_mask(target, width: int = 3, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """Pixels within ``width`` px of a ground-truth boundary (a trimap band): bool, target's shape.

    A pixel is in the band if some pixel in its (2w+1) x (2w+1) neighbourhood has a different
    label, i.e. if the largest and the smallest label in the window differ. Ignore pixels do not
    make an edge (an object next to an ignored region has no boundary there), and are never in
    the band themselves.

    Args:
        target: (H, W) or (N, H, W) integer labels.
        width: w >= 1, the half-width of the band in pixels.
        ignore_index: label of pixels to leave out.

    Example (width=1): a 2x2 object in a 6x6 image gives a 4x4 band around and on it::

        target            band
        0 0 0 0 0 0       0 0 0 0 0 0
        0 0 0 0 0 0       0 1 1 1 1 0
        0 0 1 1 0 0       0 1 1 1 1 0
        0 0 1 1 0 0       0 1 1 1 1 0
        0 0 0 0 0 0       0 1 1 1 1 0
        0 0 0 0 0 0       0 0 0 0 0 0
    """
    target = _check_labels(target, "target")
    if target.ndim not in (2, 3):
        raise InputError(f"target must be (H, W) or (N, H, W), got shape {target.shape}")
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
        raise InputError(f"width must be an int >= 1, got {width!r}")
    labels = target.astype(np.int64)
    ignored = labels == ignore_index
    # Ignore pixels must not win the max or the min: give them a value that loses each contest.
    largest = _window_extreme(np.where(ignored, -1, labels), width, np.maximum)
    smallest = _window_extreme(np.where(ignored, np.iinfo(np.int64).max, labels), width,
                               np.minimum)
    # largest == -1 or smallest == max only when the window is all ignore; then no edge.
    return (largest != smallest) & (largest >= 0) & ~ignored


def boundary_confusion_matrix(pred, target, num_classes: int, width: int = 3,
                              ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """``confusion_matrix`` counted only on ``boundary_mask(target, width)``: (C, C) int64."""
    target = _check_labels(target, "target")
    band = boundary_mask(target, width=width, ignore_index=ignore_index)
    # Outside the band, mark the truth as ignore: the confusion matrix then skips those pixels.
    banded = np.where(band, target, ignore_index)
    return confusion_matrix(pred, banded, num_classes, ignore_index=ignore_index)


class SegmentationMetrics:
    """Accumulate confusion matrices over batches, then report every metric at once.

        metrics = SegmentationMetrics(num_classes=5)
        for images, masks in batches:
            metrics.update(model(images), masks)     # scores (N, C, H, W) or labels (N, H, W)
        result = metrics.compute()                   # {"miou": ..., "boundary_miou": ..., ...}

    Summing confusion matrices over batches and computing IoU once at the end is the dataset IoU;
    averaging per-batch IoUs would give small batches (and classes absent from them) undue weight.
    """

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX,
                 boundary_width: int = 3):
        self.num_classes = _check_num_classes(num_classes)
        self.ignore_index = ignore_index
        if isinstance(boundary_width, bool) or not isinstance(boundary_width, (int, np.integer)) \
                or boundary_width < 1:
            raise InputError(f"boundary_width must be an int >= 1, got {boundary_width!r}")
        self.boundary_width = int(boundary_width)
        self.reset()

    def reset(self) -> None:
        """Forget everything counted so far."""
        self.cm = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        self.boundary_cm = np.zeros_like(self.cm)

    def update(self, pred, target) -> None:
        """Add one batch.

        Args:
            pred: (N, H, W) integer labels, or (N, C, H, W) scores/logits whose argmax over C is
                taken; a single (H, W) label map is also accepted.
            target: (N, H, W) (or (H, W)) integer labels, ``ignore_index`` for pixels to skip.
        """
        target = _check_labels(target, "target")
        if isinstance(pred, np.ndarray) and np.issubdtype(pred.dtype, np.floating):
            if pred.ndim != target.ndim + 1 or pred.shape[1] != self.num_classes:
                raise InputError(f"pred scores must be (N, {self.num_classes}, H, W) for target "
                                 f"{target.shape}, got {pred.shape}")
            pred = pred.argmax(axis=1)
        self.cm += confusion_matrix(pred, target, self.num_classes, self.ignore_index)
        self.boundary_cm += boundary_confusion_matrix(
            pred, target, self.num_classes, width=self.boundary_width,
            ignore_index=self.ignore_index)

    def compute(self) -> dict:
        """Metrics over everything since the last ``reset``.

        Returns:
            dict with ``pixel_accuracy`` and ``miou`` (floats), ``iou_per_class`` (list of
            floats, NaN for an absent class), ``boundary_miou`` and ``boundary_iou_per_class``
            (the same, counted only within ``boundary_width`` px of a ground-truth boundary).
        """
        boundary = iou_summary(self.boundary_cm)
        return {
            **iou_summary(self.cm),
            "boundary_miou": boundary["miou"],
            "boundary_iou_per_class": boundary["iou_per_class"],
        }
