"""Resizing one picture for making and augmenting data: images bilinearly, label maps by nearest.

The bilinear weights are the library's own (:func:`minideeplab.functional.resize.bilinear_taps`,
the taps the model's resize layer uses); only the loop differs. The model's resize works on
(N, C, H, W) batches with a backward pass and a Numba twin; here one array of any leading shape
is resized with two NumPy gathers (rows, then columns), the same on every backend, so a
generated dataset does not depend on which backend made it.
"""

from __future__ import annotations

import numpy as np

from ..functional.resize import bilinear_taps


def resize_bilinear(image: np.ndarray, out_h: int, out_w: int,
                    align_corners: bool = False) -> np.ndarray:
    """Bilinear resize of the last two axes: (..., H, W) -> (..., out_h, out_w), same dtype.

    Bilinear interpolation is separable: interpolate between rows, then between columns.
    """
    rows0, rows1, row_weight0, row_weight1 = bilinear_taps(image.shape[-2], out_h, align_corners,
                                                           image.dtype)
    cols0, cols1, col_weight0, col_weight1 = bilinear_taps(image.shape[-1], out_w, align_corners,
                                                           image.dtype)
    rows = (image[..., rows0, :] * row_weight0[:, None]
            + image[..., rows1, :] * row_weight1[:, None])
    return rows[..., cols0] * col_weight0 + rows[..., cols1] * col_weight1


def resize_nearest(labels: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Nearest-neighbour resize of the last two axes, for label maps (never invent a class)."""
    rows = np.minimum(((np.arange(out_h) + 0.5) * labels.shape[-2] / out_h).astype(np.int64),
                      labels.shape[-2] - 1)
    cols = np.minimum(((np.arange(out_w) + 0.5) * labels.shape[-1] / out_w).astype(np.int64),
                      labels.shape[-1] - 1)
    return labels[..., rows[:, None], cols[None, :]]
