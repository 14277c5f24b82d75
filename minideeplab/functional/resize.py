r"""Bilinear resize of (N, C, H, W) maps, exactly as ``torch.nn.functional.interpolate``.

DeepLabV3+ resizes twice: the ASPP output is upsampled 4x to meet the decoder's
low-level features, and the logits are upsampled to the image size. Bilinear
interpolation is *separable*: interpolate along rows, then along columns.

**Where does output pixel ``i`` look?** Along one axis of input size ``L_in``
and output size ``L_out``, output index ``i`` reads the source coordinate

* ``align_corners=False`` (torch's default, "half-pixel centres"): pixel ``i``
  covers ``[i, i + 1)`` and its centre ``i + 0.5`` maps to
  ``src = (i + 0.5) * L_in / L_out - 0.5``, clamped below at 0;
* ``align_corners=True``: the corner pixels of input and output coincide,
  ``src = i * (L_in - 1) / (L_out - 1)``, and ``src = 0`` when ``L_out == 1``.

With ``i0 = floor(src)``, ``i1 = min(i0 + 1, L_in - 1)`` and ``lam = src - i0`` the
output mixes two neighbours, ``(1 - lam) * in[i0] + lam * in[i1]``. In 2-D the
four neighbours get the products of the row and column weights:

.. math::

    out[n,c,i,j] = \sum_{a \in \{0,1\}} \sum_{b \in \{0,1\}}
                   w^{h}_a(i)\, w^{w}_b(j)\; x[n, c, h_a(i), w_b(j)]

Downsampling does *not* antialias (torch's ``antialias=False``): each output
still reads only its (up to) four nearest source pixels. A 6 -> 3 resize happens
to average the pairs (0, 1), (2, 3), (4, 5); an 8 -> 2 resize reads pixels 1, 2
and 5, 6 and ignores 0, 3, 4 and 7 entirely (their gradient is zero).

**As matrices.** Collect the weights of one axis in a sparse matrix ``A`` of shape
(L_out, L_in) with two non-zeros per row (``A[i, i0] = 1 - lam``,
``A[i, i1] += lam``). Then for every (n, c) plane

.. math::  out = A_h \, x \, A_w^T  \qquad\text{and therefore}\qquad
           dx = A_h^T \, dout \, A_w

because the map is linear and the gradient of a linear map is its transpose.
Read element-wise, the transpose says: *each output pixel's gradient is
scattered back to its four source pixels with the same weights.*

The NumPy reference below uses exactly this formulation (dense ``A``, since it is
tiny: L_out x L_in; two matrix products run in BLAS). It is the clearest way to
see why the backward pass is right. The Numba twin
(:mod:`minideeplab.kernels.resize`) loops over the four taps instead, gathering
in the forward pass and scattering in the backward pass, one (n, c) plane per
parallel iteration.

Shapes: ``x`` (N, C, H, W); ``size = (H_out, W_out)``; ``out`` (N, C, H_out, W_out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError, InputTypeError
from ..geometry import pair
from ._checks import check_array, check_grad
from ._dispatch import hot_loop

__all__ = ["bilinear_resize_forward", "bilinear_resize_backward", "BilinearCache",
           "bilinear_taps", "interpolation_matrix"]


@dataclass
class BilinearCache:
    """What the backward pass needs: the input's shape and both axes' taps."""

    x_shape: tuple      # (N, C, H, W)
    rows: tuple         # bilinear_taps(H, H_out, align_corners)
    cols: tuple         # bilinear_taps(W, W_out, align_corners)
    out_shape: tuple    # (N, C, H_out, W_out)
    dtype: np.dtype


def bilinear_taps(in_size: int, out_size: int, align_corners: bool, dtype=np.float64):
    """The two taps of every output index along one axis: where it reads, and with what weight.

    The project's one set of bilinear taps: this resize, its Numba twin and the
    datasets (the smooth background noise, the digit glyphs, augmentation's
    rescale) all interpolate with them, so they all agree on where a pixel reads.

    Args:
        in_size: ``L_in``, the length of the axis before resizing (>= 1).
        out_size: ``L_out``, its length after resizing (>= 1).
        align_corners: the source-coordinate rule of the module docstring.
        dtype: dtype of the two weight arrays (computed in float64, then cast).

    Returns ``(index0, index1, weight0, weight1)``, each of length ``out_size``:
    output ``i`` is ``weight0[i] * in[index0[i]] + weight1[i] * in[index1[i]]``,
    with ``index1 = index0 + 1`` except at the last pixel, which repeats.
    The arithmetic follows torch's ``area_pixel_compute_source_index`` (in
    float64), so the same source coordinates come out.

    >>> bilinear_taps(2, 4, align_corners=True)[3]      # weight1 of a 2 -> 4 ramp
    array([0.        , 0.33333333, 0.66666667, 0.        ])
    """
    destination = np.arange(out_size, dtype=np.float64)
    if align_corners:
        scale = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
        source = scale * destination
    else:
        scale = in_size / out_size
        source = np.maximum(scale * (destination + 0.5) - 0.5, 0.0)
    index0 = np.minimum(source.astype(np.intp), in_size - 1)     # floor, since source >= 0
    index1 = np.where(index0 < in_size - 1, index0 + 1, index0)  # the last pixel repeats
    # where both taps read the same pixel (the last one), all the weight goes to the first:
    # the same value, but exact (w0*v + w1*v can round; a 1x1 map then upsamples to a
    # map of exactly equal values, as ASPP's image pooling expects)
    weight1 = np.where(index1 == index0, 0.0, source - index0)
    weight0 = 1.0 - weight1
    return index0, index1, weight0.astype(dtype), weight1.astype(dtype)


def interpolation_matrix(axis, in_size: int) -> np.ndarray:
    """The dense (L_out, L_in) matrix ``A`` of one axis, from :func:`bilinear_taps`.

    Each row has the two weights of one output index (summed where both taps are
    the same pixel), so ``A @ signal`` resizes a 1-D signal.
    """
    index0, index1, weight0, weight1 = axis
    matrix = np.zeros((len(index0), in_size), dtype=weight0.dtype)
    outputs = np.arange(len(index0))
    np.add.at(matrix, (outputs, index0), weight0)    # add.at: index0 == index1 must sum
    np.add.at(matrix, (outputs, index1), weight1)
    return matrix


# --------------------------------------------------------------------------- checks

def _check_resize_args(x, size, align_corners):
    check_array(x, "x", 4, "(N, C, H, W)")
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise InputError(f"x must have a non-empty (H, W), got shape {x.shape}")
    size = pair(size, "size", minimum=1)
    if not isinstance(align_corners, (bool, np.bool_)):
        raise InputTypeError(f"align_corners must be a bool, got {align_corners!r}")
    return size


# --------------------------------------------------------------- reference hot loops

def _forward_numpy(x, rows, cols):
    """``out = A_h @ x @ A_w^T`` for every (n, c) plane."""
    n, c, h, w = x.shape
    a_h = interpolation_matrix(rows, h)
    a_w = interpolation_matrix(cols, w)
    # the right factor first, as one (N*C*H, W) @ (W, W_out) product: a single BLAS call
    # is much faster than N*C small ones; then A_h @ (...) broadcasts over the planes
    along_w = (x.reshape(-1, w) @ a_w.T).reshape(n, c, h, a_w.shape[0])
    return a_h @ along_w


def _backward_numpy(dout, rows, cols, x_shape):
    """``dx = A_h^T @ dout @ A_w``: the transpose of the forward map."""
    n, c, h, w = x_shape
    a_h = interpolation_matrix(rows, h)
    a_w = interpolation_matrix(cols, w)
    h_out, w_out = dout.shape[2:]
    along_w = (dout.reshape(-1, w_out) @ a_w).reshape(n, c, h_out, w)
    return a_h.T @ along_w


# ------------------------------------------------------------------------ public API

def bilinear_resize_forward(x, size, align_corners=False):
    """Resize ``x`` (N, C, H, W) bilinearly to ``size = (H_out, W_out)`` (or an int).

    Up or down, any sizes >= 1; matches ``torch.nn.functional.interpolate(x, size,
    mode="bilinear", align_corners=align_corners)`` (no antialiasing). Returns
    ``(out, cache)`` with ``out`` (N, C, H_out, W_out) in x's dtype.
    """
    h_out, w_out = _check_resize_args(x, size, align_corners)
    n, c, h, w = x.shape
    rows = bilinear_taps(h, h_out, bool(align_corners), x.dtype)
    cols = bilinear_taps(w, w_out, bool(align_corners), x.dtype)
    forward = hot_loop("resize", "forward", _forward_numpy)
    out = forward(np.ascontiguousarray(x), rows, cols)
    cache = BilinearCache(x.shape, rows, cols, (n, c, h_out, w_out), x.dtype)
    return out, cache


def bilinear_resize_backward(dout, cache: BilinearCache):
    """Gradient ``dx`` (N, C, H, W) given ``dout`` = dL/d(out) of shape (N, C, H_out, W_out).

    Each output pixel's gradient is scattered back to its four source pixels with
    the same weights the forward pass used (``dx = A_h^T dout A_w``).
    """
    check_grad(dout, cache.out_shape, cache.dtype)
    dout = np.ascontiguousarray(dout)
    backward = hot_loop("resize", "backward", _backward_numpy)
    return backward(dout, cache.rows, cache.cols, cache.x_shape)
