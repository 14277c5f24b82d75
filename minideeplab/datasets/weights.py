"""Class weights against class imbalance: inverse frequency and median-frequency balancing.

A background that covers 90% of the pixels dominates the mean cross-entropy; a weight per class
(``softmax_cross_entropy_forward(..., weight=w)``) makes every pixel of class k count ``w[k]``
times. Two common choices, both computed from the training masks' pixel counts:

* ``inverse``: ``w[k] = N / (K * n[k])`` (N labelled pixels, n[k] of class k, K classes that
  occur): every class then carries the same total weight; a class of 1% gets 100x a class of
  100%.
* ``median`` (median-frequency balancing, Eigen & Fergus, ICCV 2015):
  ``freq[k] = n[k] / (pixels of the training images that contain class k)``,
  ``w[k] = median(freq) / freq[k]``. Classes as frequent as the median get 1, rarer ones more.

A class that never occurs in the training masks gets weight 0 (it cannot appear in the loss).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

__all__ = ["CLASS_WEIGHTS", "class_weights"]

#: The choices of ``--class-weights``.
CLASS_WEIGHTS = ("none", "inverse", "median")


def class_weights(method: str, pixel_counts, image_pixels=None):
    """Weights (K,) float64 for ``method`` in :data:`CLASS_WEIGHTS`; None for ``"none"``.

    Args:
        method: "none", "inverse" or "median".
        pixel_counts: (K,) labelled pixels of each class in the training masks (ignore excluded).
        image_pixels: (K,) total pixels of the training images that contain class k (needed
            for "median").

    >>> class_weights("inverse", [300, 100]).tolist()
    [0.6666666666666666, 2.0]
    >>> class_weights("median", [300, 100], [400, 400]).tolist()
    [0.6666666666666666, 2.0]
    """
    if method not in CLASS_WEIGHTS:
        raise InputError(f"class_weights must be one of {CLASS_WEIGHTS}, got {method!r}")
    if method == "none":
        return None
    counts = np.asarray(pixel_counts, dtype=np.float64)
    present = counts > 0
    if not present.any():
        raise InputError("class weights need labelled pixels, but the training masks have none")
    weights = np.zeros_like(counts)
    if method == "inverse":
        weights[present] = counts.sum() / (present.sum() * counts[present])
        return weights
    if image_pixels is None:
        raise InputError("median-frequency weights need image_pixels (pixels of the images "
                         "that contain each class)")
    frequency = counts[present] / np.asarray(image_pixels, dtype=np.float64)[present]
    weights[present] = np.median(frequency) / frequency
    return weights
