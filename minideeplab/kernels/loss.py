"""Numba twins of the softmax cross-entropy's hot loops (see :mod:`minideeplab.functional.loss`).

Same signatures and the same numbers as the NumPy reference. The logits are
seen as (N, C, P) with ``P = H*W`` pixels per image; each thread takes a slice
of the images (``_threads.parallel_for``) and owns their probabilities,
gradients and partial loss. The loops over pixels are innermost, so every
step over classes is a whole row of pixels (SIMD instructions), the way
NumPy's ``axis=1`` reductions walk the same array.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._threads import parallel_for

__all__ = ["forward", "backward"]


@njit(cache=True, nogil=True, error_model="numpy")
def _forward(first, stop, logits, labels, pixel_weight, probs, loss_per_image):
    """``logits``, ``probs`` (N, C, P); ``labels``, ``pixel_weight`` (N, P)::

        for n in range(first, stop):                  # this thread's images
            m[p]     = max_c logits[n, c, p]          # subtracted: every exponent <= 0
            e        = exp(logits[n, c, p] - m[p]);  total[p] = sum_c e
            probs[n, c, p] = e / total[p]
            loss_per_image[n] = sum_p -(logits[n, label, p] - m[p] - log(total[p])) * weight[n, p]

    One exponential per logit: ``e`` is kept in ``probs`` and divided by the
    total afterwards. (The reference writes ``exp(logits - m - log(total))``, the
    same number; an exponential is the costliest step here, as Numba computes it
    one value at a time.)
    """
    classes, pixels = logits.shape[1], logits.shape[2]
    maximum = np.empty(pixels, dtype=logits.dtype)
    total = np.empty(pixels, dtype=logits.dtype)
    for n in range(first, stop):
        for p in range(pixels):
            maximum[p] = logits[n, 0, p]
        for c in range(1, classes):
            row = logits[n, c]
            for p in range(pixels):
                maximum[p] = max(maximum[p], row[p])
        for p in range(pixels):
            total[p] = 0.0
        for c in range(classes):
            row, prob_row = logits[n, c], probs[n, c]
            for p in range(pixels):
                prob_row[p] = np.exp(row[p] - maximum[p])
                total[p] += prob_row[p]
        for c in range(classes):
            prob_row = probs[n, c]
            for p in range(pixels):
                prob_row[p] /= total[p]
        weighted_sum = 0.0
        for p in range(pixels):
            log_prob = (logits[n, labels[n, p], p] - maximum[p]) - np.log(total[p])
            weighted_sum -= log_prob * pixel_weight[n, p]
        loss_per_image[n] = weighted_sum


@njit(cache=True, nogil=True, error_model="numpy")
def _backward(first, stop, probs, labels, pixel_weight, scale, dlogits):
    """``probs``, ``dlogits`` (N, C, P)::

        for n in range(first, stop):                  # this thread's images
            dlogits[n, c, p] = scale * pixel_weight[n, p] * (probs[n, c, p] - [c == label])
    """
    classes, pixels = probs.shape[1], probs.shape[2]
    one, scale = probs.dtype.type(1), probs.dtype.type(scale)   # in probs' dtype, as the reference
    for n in range(first, stop):
        weight_row = pixel_weight[n]
        for c in range(classes):
            prob_row, grad_row = probs[n, c], dlogits[n, c]
            for p in range(pixels):
                grad_row[p] = prob_row[p] * (weight_row[p] * scale)
        for p in range(pixels):
            label = labels[n, p]
            dlogits[n, label, p] = (probs[n, label, p] - one) * (weight_row[p] * scale)


def _pixels(a):
    """View (N, C, H, W) as (N, C, H*W), or (N, H, W) as (N, H*W)."""
    return a.reshape(a.shape[0], a.shape[1], -1) if a.ndim == 4 else a.reshape(a.shape[0], -1)


def forward(logits, labels, pixel_weight):
    """``(weighted sum of -log softmax at the labels, softmax probabilities)``.

    Twin of ``functional/loss.py: _forward_numpy`` (whole-array expressions,
    five passes with temporaries): a few passes per class over each image's
    pixels, one exponential per logit, partial sums per image added in order
    at the end.
    """
    probs = np.empty_like(logits)
    loss_per_image = np.empty(logits.shape[0], dtype=np.float64)
    parallel_for(_forward, logits.shape[0], _pixels(logits), _pixels(labels),
                 _pixels(pixel_weight), _pixels(probs), loss_per_image, work=logits.size)
    return float(loss_per_image.sum()), probs


def backward(probs, labels, pixel_weight, scale):
    """``scale * pixel_weight * (probs - one_hot(labels))``.

    Twin of ``functional/loss.py: _backward_numpy`` (a copy, a gather and a
    scatter along the class axis, a product): one pass, written once.
    """
    dlogits = np.empty_like(probs)
    parallel_for(_backward, probs.shape[0], _pixels(probs), _pixels(labels),
                 _pixels(pixel_weight), float(scale), _pixels(dlogits), work=probs.size)
    return dlogits
