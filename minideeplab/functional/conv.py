r"""2-D convolution: standard, strided, atrous (dilated), grouped, depthwise, pointwise.

One formula covers every kind. With stride ``s``, padding ``p``, dilation ``d``
and ``groups`` G (input channel ``c`` of output channel ``f`` counted inside
``f``'s group):

.. math::

    out[n, f, i, j] = b[f] + \sum_{c, u, v} x_{pad}[n, g(f)\cdot C_g + c,\;
                      i s + u d,\; j s + v d] \; w[f, c, u, v]

* **atrous** (DeepLab): ``d > 1`` spreads the ``k x k`` taps ``d`` pixels apart,
  so the field of view grows to ``d(k-1)+1`` with the same ``k*k`` weights;
* **depthwise**: ``groups == C_in == C_out``, every channel has its own filter;
* **pointwise**: a 1x1 kernel, a per-pixel linear map across channels;
* **atrous separable** (DeepLabV3+): depthwise with ``d`` then pointwise.

Shapes: ``x`` (N, C_in, H, W); ``w`` (C_out, C_in // groups, kH, kW); ``b``
(C_out,) or None; ``out`` (N, C_out, H_out, W_out) with
``H_out = (H + 2p - d(kH-1) - 1) // s + 1`` (see :mod:`minideeplab.geometry`).

The backward pass, read off the same sum:

* ``dW[f, c, u, v] = sum_{n,i,j} dout[n, f, i, j] * x_pad[n, c, i s + u d, j s + v d]``
  is a **correlation of x with dout**: dout plays the kernel, dilated by ``s``.
* ``dX_pad[n, c, i s + u d, j s + v d] += sum_f dout[n, f, i, j] * w[f, c, u, v]``
  scatters every output's gradient back through the taps that produced it.
  That is a **transposed convolution** of dout with the same weights: insert
  ``s - 1`` zeros between dout's pixels, pad, and correlate with the kernel
  flipped in both axes and transposed in channels. Cropping the padding from
  dX_pad gives dX.
* ``db[f] = sum_{n,i,j} dout[n, f, i, j]``.

The NumPy code below is the reference: readable and vectorised, with no
Python loop. The forward pass copies every input window into a column
(*im2col*, from the strided view :func:`conv2d_windows`) and multiplies by
the weights in one matrix product; dW is one matrix product with the same
columns; dX is computed as the transposed convolution above, by the forward pass. The
Numba backend (:mod:`minideeplab.kernels.conv`) implements the same three hot
loops (forward, dX, dW) and must give the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..errors import InputError
from ..geometry import conv_output_size, effective_kernel, pair
from ._checks import check_array, check_grad, check_same_dtype
from ._dispatch import hot_loop

__all__ = ["conv2d_forward", "conv2d_backward", "Conv2dCache", "conv2d_windows", "zero_pad"]


@dataclass
class Conv2dCache:
    """What the backward pass needs from the forward pass."""

    x: np.ndarray           # (N, C_in, H, W), not padded (each hot loop pads what it reads)
    w: np.ndarray           # (C_out, C_in // groups, kH, kW)
    has_bias: bool
    stride: tuple
    padding: tuple
    dilation: tuple
    groups: int
    out_shape: tuple        # (N, C_out, H_out, W_out)

    # read-only views a hand-written backward pass may want (computed, not stored)
    @property
    def x_shape(self) -> tuple:
        """(N, C_in, H, W), the input's shape."""
        return self.x.shape

    @property
    def x_padded(self) -> np.ndarray:
        """The zero-padded input (N, C_in, H + 2ph, W + 2pw), made on each access."""
        return zero_pad(self.x, self.padding)


# --------------------------------------------------------------------------- checks

def _check_conv_args(x, w, b, stride, padding, dilation, groups):
    check_array(x, "x", 4, "(N, C_in, H, W)")
    check_array(w, "w", 4, "(C_out, C_in // groups, kH, kW)")
    if b is not None:
        check_array(b, "b", 1, "(C_out,)")
    check_same_dtype(x=x, w=w, b=b)
    stride = pair(stride, "stride", minimum=1)
    padding = pair(padding, "padding", minimum=0)
    dilation = pair(dilation, "dilation", minimum=1)
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise InputError(f"groups must be a positive int, got {groups!r}")
    groups = int(groups)
    n, c_in, h, width = x.shape
    c_out, c_per_group, kh, kw = w.shape
    if c_in % groups != 0:
        raise InputError(f"groups={groups} must divide the input channels C_in={c_in}")
    if c_out % groups != 0:
        raise InputError(f"groups={groups} must divide the output channels C_out={c_out}")
    if c_per_group != c_in // groups:
        raise InputError(
            f"channel mismatch: w has {c_per_group} input channels per group, but x has "
            f"C_in={c_in} channels and groups={groups} (expected w.shape[1] == {c_in // groups})"
        )
    if b is not None and b.shape != (c_out,):
        raise InputError(f"b must have shape (C_out,) = ({c_out},), got {b.shape}")
    h_out, w_out = conv_output_size((h, width), (kh, kw), stride, padding, dilation)
    if h_out < 1 or w_out < 1:
        span = effective_kernel((kh, kw), dilation)
        raise InputError(
            f"output size would be ({h_out}, {w_out}) < 1: input (H, W)=({h}, {width}) with "
            f"padding {padding} is smaller than the effective kernel {span} = d*(k-1)+1"
        )
    return stride, padding, dilation, groups, (n, c_out, h_out, w_out)


# --------------------------------------------------------------- reference hot loops

def zero_pad(x, padding):
    """``x`` (N, C, H, W) with ``padding = (ph, pw)`` rows and columns of zeros on each side.

    The same as ``np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))``, written out
    because np.pad's generality costs more than the copy on small maps.
    Always returns a C-contiguous array (``x`` itself when it already is one
    and there is no padding).
    """
    ph, pw = padding
    if not (ph or pw):
        return np.ascontiguousarray(x)
    n, c, h, w = x.shape
    x_padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    x_padded[:, :, ph:ph + h, pw:pw + w] = x
    return x_padded


def conv2d_windows(x_padded, kernel_size, out_size, stride, dilation):
    """A read-only view ``windows[n, c, u, v, i, j] = x_padded[n, c, i*s + u*d, j*s + v*d]``.

    This is im2col without copying: ``as_strided`` reuses x_padded's memory with
    strides that step ``d`` pixels per tap and ``s`` pixels per output. Shape
    (N, C, kH, kW, H_out, W_out).
    """
    n, c, _, _ = x_padded.shape
    kh, kw = kernel_size
    h_out, w_out = out_size
    sn, sc, sh, sw = x_padded.strides
    return as_strided(
        x_padded,
        shape=(n, c, kh, kw, h_out, w_out),
        strides=(sn, sc, sh * dilation[0], sw * dilation[1], sh * stride[0], sw * stride[1]),
        writeable=False,
    )


def _columns(x_padded, kernel_size, out_size, stride, dilation, groups):
    """im2col: ``cols[g, (c, u, v), (n, i, j)] = x_pad[n, g*C_g + c, i*s + u*d, j*s + v*d]``.

    The windows view of :func:`conv2d_windows`, with channels split into groups
    and each window flattened into a column, the columns of all images side by
    side: shape (G, C_g*kH*kW, N*H_out*W_out), so that one matrix product per
    group covers the whole batch. A copy (a reshape of a strided view cannot be
    a view), ``kH*kW`` times the input's size: the memory price of handing the
    sum to a matrix product.
    """
    n, c_in = x_padded.shape[:2]
    windows = conv2d_windows(x_padded, kernel_size, out_size, stride, dilation)
    windows = windows.reshape(n, groups, c_in // groups, *kernel_size, *out_size)
    return windows.transpose(1, 2, 3, 4, 0, 5, 6).reshape(
        groups, c_in // groups * kernel_size[0] * kernel_size[1], n * out_size[0] * out_size[1])


def _forward_numpy(x, w, stride, padding, dilation, groups, out_size):
    # out[:, g] = W_g @ cols[g]: (F_g, C_g*kH*kW) @ (C_g*kH*kW, N*H_out*W_out)
    n = x.shape[0]
    c_out, _, kh, kw = w.shape
    cols = _columns(zero_pad(x, padding), (kh, kw), out_size, stride, dilation, groups)
    out = np.matmul(w.reshape(groups, c_out // groups, -1), cols)      # (G, F_g, N*H*W)
    out = out.reshape(c_out, n, *out_size).transpose(1, 0, 2, 3)
    return np.ascontiguousarray(out)


def _backward_weight_numpy(grad_out, x, w_shape, stride, padding, dilation, groups):
    # dW_g = dout[:, g] @ cols[g]^T, summed over the batch and the pixels: the
    # correlation of x with dout
    c_out, _, kh, kw = w_shape
    cols = _columns(zero_pad(x, padding), (kh, kw), grad_out.shape[2:], stride, dilation, groups)
    grad_grouped = grad_out.transpose(1, 0, 2, 3).reshape(groups, c_out // groups, -1)
    dw = np.matmul(grad_grouped, cols.transpose(0, 2, 1))             # (G, F_g, C_g*kH*kW)
    return dw.reshape(w_shape)


def _backward_input_numpy(grad_out, w, x_shape, stride, padding, dilation, groups):
    # dX is a convolution (the module docstring): dout with s - 1 zeros between
    # its pixels, padded by d*(k-1), correlated at stride 1 with the kernel
    # flipped in both axes and transposed in channels. That gives dX_pad, the
    # gradient of the padded input, of which dX is the centre: so only the part
    # of the spread dout that the centre reads is convolved.
    n, c_in, h, width = x_shape
    hp, wp = h + 2 * padding[0], width + 2 * padding[1]
    c_out, c_per_group, kh, kw = w.shape
    h_out, w_out = grad_out.shape[2:]
    pad_h, pad_w = dilation[0] * (kh - 1), dilation[1] * (kw - 1)
    # dout spread out by the stride, with d*(k-1) zeros around it (and zeros for
    # the last rows / columns of x_pad when no window reached them)
    spread = np.zeros((n, c_out, hp + pad_h, wp + pad_w), dtype=grad_out.dtype)
    spread[:, :, pad_h:pad_h + stride[0] * (h_out - 1) + 1:stride[0],
           pad_w:pad_w + stride[1] * (w_out - 1) + 1:stride[1]] = grad_out
    # w_flipped[g*C_g + c, f, u, v] = w[g*F_g + f, c, kH-1-u, kW-1-v]
    w_grouped = w[:, :, ::-1, ::-1].reshape(groups, c_out // groups, c_per_group, kh, kw)
    w_flipped = w_grouped.transpose(0, 2, 1, 3, 4).reshape(c_in, c_out // groups, kh, kw)
    centre = spread[:, :, padding[0]:padding[0] + h + pad_h, padding[1]:padding[1] + width + pad_w]
    return _forward_numpy(centre, w_flipped, (1, 1), (0, 0), dilation, groups, (h, width))


# ------------------------------------------------------------------------ public API

def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Convolve ``x`` (N, C_in, H, W) with ``w`` (C_out, C_in // groups, kH, kW).

    Returns ``(out, cache)`` with ``out`` of shape (N, C_out, H_out, W_out) and
    ``cache`` for :func:`conv2d_backward`. ``stride``, ``padding`` and
    ``dilation`` are ints or ``(h, w)`` pairs; zero padding.
    """
    stride, padding, dilation, groups, out_shape = _check_conv_args(
        x, w, b, stride, padding, dilation, groups
    )
    x = np.ascontiguousarray(x)
    forward = hot_loop("conv", "forward", _forward_numpy)
    out = forward(x, np.ascontiguousarray(w), stride, padding, dilation, groups, out_shape[2:])
    if b is not None:
        out += b[None, :, None, None]
    cache = Conv2dCache(x, w, b is not None, stride, padding, dilation, groups, out_shape)
    return out, cache


def conv2d_backward(dout, cache: Conv2dCache):
    """Gradients ``(dx, dw, db)`` of the loss given ``dout`` = dL/d(out).

    ``dx`` has x's shape, ``dw`` w's shape and ``db`` is (C_out,) or None when
    the forward pass had no bias.
    """
    check_grad(dout, cache.out_shape, cache.w.dtype)
    dout = np.ascontiguousarray(dout)
    backward_weight = hot_loop("conv", "backward_weight", _backward_weight_numpy)
    backward_input = hot_loop("conv", "backward_input", _backward_input_numpy)
    geometry = (cache.stride, cache.padding, cache.dilation, cache.groups)
    dw = backward_weight(dout, cache.x, cache.w.shape, *geometry)
    dx = backward_input(dout, np.ascontiguousarray(cache.w), cache.x.shape, *geometry)
    db = dout.sum(axis=(0, 2, 3)) if cache.has_bias else None
    return dx, dw, db
