"""The colour-only baseline: proof that one pixel's colour does not give its class away.

If a per-pixel classifier that sees nothing but the pixel's own RGB value scored well, a
segmentation network could do the same and never learn shapes. On ``shapes`` it scores about
0.2 mIoU, so what a network learns beyond that it learns from neighbourhoods (stripes, outlines,
context). ``benchmarks/colour_baseline.py`` prints the numbers for a whole split.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..functional.loss import IGNORE_INDEX
from ..metrics import confusion_matrix, iou_summary
from ._checks import check_int

_CHUNK = 256   # images per step: bounds the (pixels, classes, 3) arrays of the prediction


def _labelled_pixels(images: np.ndarray, masks: np.ndarray):
    """Yield (colours (P, 3) float64, labels (P,) int64) a few hundred images at a time,
    leaving out the ignore pixels."""
    for start in range(0, images.shape[0], _CHUNK):
        colours = images[start:start + _CHUNK].transpose(0, 2, 3, 1).reshape(-1, 3)
        labels = masks[start:start + _CHUNK].reshape(-1).astype(np.int64)
        keep = labels != IGNORE_INDEX
        yield colours[keep].astype(np.float64), labels[keep]


def _check_split_arrays(name: str, images, masks, num_classes: int) -> None:
    if not isinstance(images, np.ndarray) or images.ndim != 4 or images.shape[1] != 3:
        raise InputError(f"{name}_images must be an (N, 3, H, W) array, got "
                         f"{getattr(images, 'shape', type(images).__name__)}")
    if not isinstance(masks, np.ndarray) or masks.shape != images.shape[:1] + images.shape[2:]:
        raise InputError(f"{name}_masks must be an (N, H, W) array matching {name}_images, "
                         f"got {getattr(masks, 'shape', type(masks).__name__)}")
    bad = (masks < 0) | ((masks >= num_classes) & (masks != IGNORE_INDEX))
    if bad.any():
        raise InputError(f"{name}_masks has labels {np.unique(masks[bad])[:10].tolist()} outside "
                         f"[0, {num_classes}) that are not {IGNORE_INDEX} (ignore)")


def colour_only_baseline(train_images, train_masks, test_images, test_masks,
                         num_classes: int) -> dict:
    """Classify every pixel from its own RGB value alone, and score it on the test set.

    Two classifiers, both fitted on the train pixels:

    * nearest class mean: predict the class whose mean colour is closest (Euclidean);
    * a Gaussian per class: mean, full 3x3 covariance and prior (pixel frequency) per class;
      predict the class with the largest log p(class) + log N(colour; mean, covariance).

    If the data were "colour names the class", these would score high. On shapes they score about
    0.2 mIoU: the class is only visible in a neighbourhood (stripes, outline), which is what a
    convolutional network is for.

    Args:
        train_images, test_images: (N, 3, H, W) floating arrays.
        train_masks, test_masks: (N, H, W) integer arrays, labels in [0, num_classes); 255
            (ignore) pixels are skipped.
        num_classes: number of classes.

    Returns:
        {"nearest_mean": {...}, "gaussian": {...}}, each the scores of
        :func:`minideeplab.metrics.iou_summary`: "miou", "iou_per_class" (list, NaN for a class
        absent from both prediction and truth) and "pixel_accuracy".
    """
    num_classes = check_int(num_classes, "num_classes", minimum=1)
    _check_split_arrays("train", train_images, train_masks, num_classes)
    _check_split_arrays("test", test_images, test_masks, num_classes)

    # Fit: per-class pixel count, sum of colours and sum of outer products, accumulated with
    # np.bincount (one weighted histogram per statistic) so no pixel array is copied per class.
    count = np.zeros(num_classes)
    total = np.zeros((num_classes, 3))
    outer = np.zeros((num_classes, 3, 3))
    for colours, labels in _labelled_pixels(train_images, train_masks):
        count += np.bincount(labels, minlength=num_classes)
        for a in range(3):
            total[:, a] += np.bincount(labels, weights=colours[:, a], minlength=num_classes)
            for b in range(a, 3):
                products = np.bincount(labels, weights=colours[:, a] * colours[:, b],
                                       minlength=num_classes)
                outer[:, a, b] += products
                outer[:, b, a] = outer[:, a, b]
    seen = count > 0
    safe_count = np.maximum(count, 1)
    mean = total / safe_count[:, None]
    # Covariance = E[x x^T] - mean mean^T; a tiny ridge keeps it invertible for a flat class.
    covariance = outer / safe_count[:, None, None] - mean[:, :, None] * mean[:, None, :]
    covariance += 1e-6 * np.eye(3)
    precision = np.linalg.inv(covariance)
    _, log_det = np.linalg.slogdet(covariance)
    log_prior = np.log(np.where(seen, count / max(count.sum(), 1), 1.0))

    # Predict on the test pixels, chunk by chunk, and count a confusion matrix for each method.
    confusions = {"nearest_mean": np.zeros((num_classes, num_classes), dtype=np.int64),
                  "gaussian": np.zeros((num_classes, num_classes), dtype=np.int64)}
    for colours, labels in _labelled_pixels(test_images, test_masks):
        difference = colours[:, None, :] - mean[None, :, :]              # (P, K, 3)
        squared_distance = (difference ** 2).sum(axis=2)                  # (P, K)
        mahalanobis = np.einsum("pki,kij,pkj->pk", difference, precision, difference)
        log_posterior = log_prior - 0.5 * (log_det + mahalanobis)
        squared_distance[:, ~seen] = np.inf      # a class never seen in training is never chosen
        log_posterior[:, ~seen] = -np.inf
        for method, prediction in (("nearest_mean", squared_distance.argmin(axis=1)),
                                   ("gaussian", log_posterior.argmax(axis=1))):
            confusions[method] += confusion_matrix(prediction, labels, num_classes)
    return {method: iou_summary(confusion) for method, confusion in confusions.items()}
