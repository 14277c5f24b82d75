r"""Per-pixel softmax cross-entropy for segmentation, with an ``ignore_index``.

For logits ``z`` (N, C, H, W) and integer labels ``y`` (N, H, W), every pixel
``(n, h, w)`` gets a softmax over its C class scores and pays the negative log
probability of its true class:

.. math::

    \ell_{nhw} = -\log \mathrm{softmax}(z_{n,:,h,w})_{y_{nhw}}
               = \log \sum_k e^{z_{n,k,h,w}} - z_{n,y_{nhw},h,w}

    L = \frac{1}{|V|} \sum_{(n,h,w) \in V} \ell_{nhw}, \qquad
    V = \{(n,h,w) : y_{nhw} \ne \text{ignore\_index}\}

Pixels labelled ``ignore_index`` (255: object borders in Pascal VOC, "void")
are left out of the sum *and* of the count. If every pixel is ignored, ``L = 0``
and the gradient is zero (not 0/0 = NaN).

**Stability.** ``exp(1e4)`` overflows, but softmax does not change when a
constant is subtracted from all C scores, so we subtract each pixel's maximum
first (the log-sum-exp trick): ``log sum_k e^{z_k} = m + log sum_k e^{z_k - m}``
with ``m = max_k z_k``. Every exponent is then <= 0 and the largest term is 1.

**Backward.** Differentiating ``log sum_k e^{z_k} - z_y`` with respect to ``z_k``
gives ``softmax(z)_k - [k == y]``: the predicted probabilities minus the one-hot
label. Averaging over ``|V|`` pixels divides by ``|V|``; ignored pixels get 0:

.. math:: \frac{\partial L}{\partial z_{n,k,h,w}} =
          \frac{[\,(n,h,w) \in V\,]}{|V|}\,\big(p_{n,k,h,w} - [k = y_{nhw}]\big)

An optional per-class ``weight`` (C,) makes it a weighted mean like torch's
``cross_entropy(weight=...)``: pixel ``(n,h,w)`` counts ``weight[y]`` times, and
the sum is divided by ``sum_V weight[y]`` instead of ``|V|``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from ..errors import InputError, InputTypeError
from ._checks import check_array
from ._dispatch import hot_loop

__all__ = ["softmax_cross_entropy_forward", "softmax_cross_entropy_backward",
           "SoftmaxCrossEntropyCache", "IGNORE_INDEX"]

#: The label that means "do not learn from (or score) this pixel". Defined once, here at the
#: bottom of the house: metrics, datasets and figures import it from this module.
IGNORE_INDEX = 255


@dataclass
class SoftmaxCrossEntropyCache:
    """What the backward pass needs from the forward pass."""

    probs: np.ndarray           # (N, C, H, W) softmax over classes
    target: np.ndarray          # (N, H, W) intp, ignored pixels replaced by class 0
    pixel_weight: np.ndarray    # (N, H, W) 0 where ignored, else 1 (or weight[target])
    total_weight: float         # |V| (or sum of pixel_weight); the mean's denominator


def _check_loss_args(logits, target, ignore_index, weight):
    check_array(logits, "logits", 4, "(N, C, H, W)")
    if not isinstance(target, np.ndarray):
        raise InputTypeError(f"target must be a numpy array of integer labels, got "
                             f"{type(target).__name__}")
    if not np.issubdtype(target.dtype, np.integer):
        raise InputTypeError(
            f"target must have an integer dtype (class labels), got {target.dtype}")
    n, c, h, w = logits.shape
    if target.shape != (n, h, w):
        raise InputError(f"target must have shape (N, H, W) = {(n, h, w)} to match logits "
                         f"{logits.shape}, got {target.shape}")
    if not isinstance(ignore_index, numbers.Integral) or isinstance(ignore_index, bool):
        raise InputTypeError(f"ignore_index must be an int, got {ignore_index!r}")
    if weight is not None:
        check_array(weight, "weight", 1, "(C,)")
        if weight.shape != (c,):
            raise InputError(f"weight must have shape (C,) = ({c},), got {weight.shape}")
        if not np.isfinite(weight).all() or (weight < 0).any():
            raise InputError(f"weight must hold finite class weights >= 0, got {weight}")


# --------------------------------------------------------------- reference hot loops

def _forward_numpy(logits, labels, pixel_weight):
    """``(sum of pixel_weight * -log softmax(logits)[label], softmax probabilities)``.

    ``labels`` and ``pixel_weight`` are (N, H, W); the sum is a Python float.
    """
    # log-softmax with the maximum subtracted: every exponent <= 0
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_sum_exp = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_probs = shifted - log_sum_exp
    true_log_prob = np.take_along_axis(log_probs, labels[:, None], axis=1)[:, 0]
    weighted_sum = float(-(true_log_prob * pixel_weight).sum(dtype=np.float64))
    return weighted_sum, np.exp(log_probs)


def _backward_numpy(probs, labels, pixel_weight, scale):
    """``scale * pixel_weight * (probs - one_hot(labels))``, shaped like ``probs``."""
    dlogits = probs.copy()
    true_prob = np.take_along_axis(dlogits, labels[:, None], axis=1)
    np.put_along_axis(dlogits, labels[:, None], true_prob - 1, axis=1)     # softmax - one_hot
    dlogits *= (pixel_weight * probs.dtype.type(scale))[:, None]
    return dlogits


# ------------------------------------------------------------------------ public API

def softmax_cross_entropy_forward(logits, target, ignore_index=IGNORE_INDEX, weight=None):
    """Mean cross-entropy of ``logits`` (N, C, H, W) against labels ``target`` (N, H, W).

    ``target`` holds integers in ``[0, C)`` or ``ignore_index``; anything else
    raises a ``ValueError``. ``weight`` (C,) optionally weights the classes.
    Returns ``(loss, cache)`` with ``loss`` a Python float.
    """
    _check_loss_args(logits, target, ignore_index, weight)
    classes = logits.shape[1]
    labels = target.astype(np.int64)
    valid = labels != ignore_index
    bad = valid & ((labels < 0) | (labels >= classes))
    if bad.any():
        bad_values = np.unique(labels[bad])
        shown = ", ".join(str(v) for v in bad_values[:10]) + (" ..." if len(bad_values) > 10
                                                              else "")
        raise InputError(f"target has labels outside [0, C={classes}) that are not "
                         f"ignore_index={ignore_index}: {shown} ({int(bad.sum())} pixels)")
    safe_labels = np.where(valid, labels, 0).astype(np.intp)   # any class works: weight 0

    if weight is None:
        pixel_weight = valid.astype(logits.dtype)
    else:
        pixel_weight = np.where(valid, weight.astype(logits.dtype)[safe_labels],
                                np.zeros((), dtype=logits.dtype))
    total_weight = float(pixel_weight.sum(dtype=np.float64))
    forward = hot_loop("loss", "forward", _forward_numpy)
    weighted_sum, probs = forward(np.ascontiguousarray(logits), safe_labels, pixel_weight)
    # every pixel ignored: no signal, a loss of 0 (not 0/0)
    loss = 0.0 if total_weight == 0.0 else weighted_sum / total_weight
    cache = SoftmaxCrossEntropyCache(probs, safe_labels, pixel_weight, total_weight)
    return loss, cache


def softmax_cross_entropy_backward(dloss, cache: SoftmaxCrossEntropyCache):
    """``dlogits`` (N, C, H, W) given ``dloss`` = dL'/dL, a number (1.0 for the loss itself).

    ``dlogits = dloss * pixel_weight / total_weight * (softmax - one_hot(target))``;
    zero for ignored pixels, and everywhere when all pixels were ignored.
    """
    if isinstance(dloss, np.ndarray) and dloss.size == 1:
        dloss = dloss.item()
    if not isinstance(dloss, numbers.Real) or isinstance(dloss, bool):
        raise InputTypeError(f"dloss must be a real number (usually 1.0), got {dloss!r}")
    if cache.total_weight == 0.0:
        return np.zeros_like(cache.probs)
    backward = hot_loop("loss", "backward", _backward_numpy)
    return backward(cache.probs, cache.target, cache.pixel_weight,
                    float(dloss) / cache.total_weight)
