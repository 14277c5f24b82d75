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

The NumPy code below is the reference: vectorised, its only Python loops
over the ``kH*kW`` taps of the kernel. It takes one of two routes:

* **im2col** (dense, grouped, pointwise): the forward pass copies every input
  window into a column (from the strided view :func:`conv2d_windows`), the
  batch first so the copy needs no transpose, and multiplies each image's
  columns by the weights (an unpadded 1x1 kernel at stride 1 needs no copy:
  its columns are x). dW is a matrix product with the same columns; dX is
  *col2im*, the scatter formula above: ``W^T @ dout`` gives the columns'
  gradient, and each tap adds its part back onto the pixels it was read from.
* **depthwise** (one input channel per group): no sum over channels, so no
  matrix product; each pass sums the taps as whole-array multiply-adds,
  ``out += w[:, u, v] * window(u, v)``, over rows that hold a channel's whole
  batch (see the comment above :func:`_depthwise_forward_numpy`).

The Numba backend (:mod:`minideeplab.kernels.conv`) implements the same three
hot loops (forward, dX, dW) and must give the same numbers.
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
    """im2col: ``cols[n, g, (c, u, v), (i, j)] = x_pad[n, g*C_g + c, i*s + u*d, j*s + v*d]``.

    The windows view of :func:`conv2d_windows`, with channels split into groups
    and each window flattened into a column: shape (N, G, C_g*kH*kW, H_out*W_out),
    so that one matrix product per image and group gives that image's outputs,
    already in (N, C_out, H_out, W_out) order. The axes keep the order of the
    view (batch first), so the copy reads x_pad in order: no transpose. It is a
    copy, ``kH*kW`` times the input's size (a reshape of a strided view cannot
    be a view), except for an unpadded 1x1 kernel at stride 1, where the
    columns are the input itself.
    """
    n, c_in = x_padded.shape[:2]
    windows = conv2d_windows(x_padded, kernel_size, out_size, stride, dilation)
    return windows.reshape(n, groups, c_in // groups * kernel_size[0] * kernel_size[1],
                           out_size[0] * out_size[1])


def _is_depthwise(w_shape, groups):
    """One input channel per group: the sums over channels have a single term."""
    return w_shape[1] == 1 and groups > 1


def _tap_slices(u, v, out_size, stride, dilation):
    """The pixels of x_pad that tap ``(u, v)`` reads: rows ``i*s + u*d``, columns ``j*s + v*d``."""
    rows = slice(u * dilation[0], u * dilation[0] + stride[0] * (out_size[0] - 1) + 1, stride[0])
    cols = slice(v * dilation[1], v * dilation[1] + stride[1] * (out_size[1] - 1) + 1, stride[1])
    return rows, cols


def _forward_numpy(x, w, stride, padding, dilation, groups, out_size):
    if _is_depthwise(w.shape, groups):
        return _depthwise_forward_numpy(x, w, stride, padding, dilation, out_size)
    return _im2col_forward_numpy(x, w, stride, padding, dilation, groups, out_size)


def _backward_weight_numpy(grad_out, x, w_shape, stride, padding, dilation, groups):
    if _is_depthwise(w_shape, groups):
        return _depthwise_backward_weight_numpy(grad_out, x, w_shape, stride, padding, dilation)
    return _im2col_backward_weight_numpy(grad_out, x, w_shape, stride, padding, dilation, groups)


def _backward_input_numpy(grad_out, w, x_shape, stride, padding, dilation, groups):
    if _is_depthwise(w.shape, groups):
        return _depthwise_backward_input_numpy(grad_out, w, x_shape, stride, padding, dilation)
    return _im2col_backward_input_numpy(grad_out, w, x_shape, stride, padding, dilation, groups)


# Every other convolution (dense, grouped, pointwise) hands its sum over
# (c, u, v) to matrix products over the im2col columns.

def _im2col_forward_numpy(x, w, stride, padding, dilation, groups, out_size):
    # out[n, g] = W_g @ cols[n, g]: (F_g, C_g*kH*kW) @ (C_g*kH*kW, H_out*W_out)
    n = x.shape[0]
    c_out, _, kh, kw = w.shape
    cols = _columns(zero_pad(x, padding), (kh, kw), out_size, stride, dilation, groups)
    out = np.matmul(w.reshape(groups, c_out // groups, -1), cols)   # (N, G, F_g, H*W)
    return out.reshape(n, c_out, *out_size)


def _im2col_backward_weight_numpy(grad_out, x, w_shape, stride, padding, dilation, groups):
    # dW_g = sum_n dout[n, g] @ cols[n, g]^T, summed over the batch and the pixels:
    # the correlation of x with dout
    n, c_out = grad_out.shape[:2]
    kh, kw = w_shape[2:]
    cols = _columns(zero_pad(x, padding), (kh, kw), grad_out.shape[2:], stride, dilation, groups)
    grad_grouped = grad_out.reshape(n, groups, c_out // groups, -1)     # (N, G, F_g, H*W)
    dw = np.matmul(grad_grouped, cols.transpose(0, 1, 3, 2))          # (N, G, F_g, C_g*kH*kW)
    return dw.sum(axis=0).reshape(w_shape)


def _im2col_backward_input_numpy(grad_out, w, x_shape, stride, padding, dilation, groups):
    # col2im, the forward pass read backwards: the gradient of the columns is
    # dcols[n, g] = W_g^T @ dout[n, g], and each column entry goes back, added,
    # to the pixel it was copied from:
    # dX_pad[n, c, i s + u d, j s + v d] += dcols[n, c, u, v, i, j], one tap at a time
    n, c_in, h, width = x_shape
    c_out, c_per_group, kh, kw = w.shape
    out_size = grad_out.shape[2:]
    w_grouped = w.reshape(groups, c_out // groups, -1)                 # (G, F_g, C_g*kH*kW)
    grad_grouped = grad_out.reshape(n, groups, c_out // groups, -1)    # (N, G, F_g, H*W)
    grad_cols = np.matmul(w_grouped.transpose(0, 2, 1), grad_grouped)  # (N, G, C_g*kH*kW, H*W)
    grad_cols = grad_cols.reshape(n, c_in, kh, kw, *out_size)
    if (kh, kw, stride, padding) == (1, 1, (1, 1), (0, 0)):
        return grad_cols.reshape(x_shape)                              # the columns were x
    dx_padded = np.zeros((n, c_in, h + 2 * padding[0], width + 2 * padding[1]), dtype=w.dtype)
    for u in range(kh):
        for v in range(kw):
            rows, cols = _tap_slices(u, v, out_size, stride, dilation)
            dx_padded[:, :, rows, cols] += grad_cols[:, :, u, v]
    return _crop(dx_padded, padding, (h, width))


def _crop(x_padded, padding, size):
    """The centre ``size`` = (H, W) of a padded batch, as a contiguous array."""
    (ph, pw), (h, width) = padding, size
    return np.ascontiguousarray(x_padded[:, :, ph:ph + h, pw:pw + width])


# Depthwise (``w.shape[1] == 1``): output channel f reads only input channel
# c = f // m (m = C_out / C_in, the multiplier, usually 1), so the sum over
# channels has a single term and a matrix product would have an inner dimension
# of only kH*kW. Instead each pass sums over the kH*kW taps, one whole-array
# multiply-add per tap: ``out += w[:, u, v] * window(u, v)``.
#
# A window view (conv2d_windows) of a 4x4 map makes NumPy loop 4 values at a
# time, so the taps read *shifted rows* instead. Every channel's padded planes,
# the whole batch end to end, form one long row; tap (u, v) of output pixel
# (i, j) reads ``row[k + offset]``, with k = (n*H_pad + i)*W_pad + j the pixel's
# own place in the row and ``offset = u*d_h*W_pad + v*d_w`` the same for every
# pixel. So the tap is ONE slice of the row, ``row[offset:offset + len]``, and
# the product runs over the whole batch at once. The result, kept "wide" (one
# value per padded pixel), is the stride-1 output; the pixels at (i*s, j*s) are
# the strided output, the rest (past the right and bottom edges) is scratch.

def _channel_rows(values, padded_size, rows, cols, tail):
    """Channel rows: (C, N*H_pad*W_pad + tail), each channel's padded planes end to end.

    Every plane is zero but for ``values`` (N, C, h, w), written at ``[rows, cols]``
    (two slices) of the padded plane; ``tail`` zeros follow the last plane, so
    that the last pixels' taps may read past it.
    """
    n, c = values.shape[:2]
    length = n * padded_size[0] * padded_size[1]
    channel_rows = np.zeros((c, length + tail), dtype=values.dtype)
    planes = channel_rows[:, :length].reshape(c, n, *padded_size)
    planes[:, :, rows, cols] = values.transpose(1, 0, 2, 3)
    return channel_rows


def _padded_rows(x, padding, tail):
    """x zero-padded, as channel rows: ``x_pad[n, c, p, q]`` at ``[c, (n*H_pad + p)*W_pad + q]``."""
    (ph, pw), (h, width) = padding, x.shape[2:]
    padded_size = (h + 2 * ph, width + 2 * pw)
    return _channel_rows(x, padded_size, slice(ph, ph + h), slice(pw, pw + width), tail)


def _spread_rows(grad_out, padded_size, stride):
    """dout at its wide places (i*s, j*s) of zero padded planes, as channel rows (no tail)."""
    (sh, sw), (h_out, w_out) = stride, grad_out.shape[2:]
    return _channel_rows(grad_out, padded_size, slice(0, sh * h_out, sh), slice(0, sw * w_out, sw),
                         tail=0)


def _tap_offsets(kernel_size, dilation, w_padded):
    """``(u, v, offset)`` per tap: tap (u, v) reads ``offset = u*d_h*W_pad + v*d_w`` further on."""
    return [(u, v, u * dilation[0] * w_padded + v * dilation[1])
            for u in range(kernel_size[0]) for v in range(kernel_size[1])]


def _depthwise_forward_numpy(x, w, stride, padding, dilation, out_size):
    # out[n, f] = sum_{u,v} w[f, 0, u, v] * window(u, v)[n, f // m]
    n, c_in, h, width = x.shape
    c_out, _, kh, kw = w.shape
    h_pad, w_pad = h + 2 * padding[0], width + 2 * padding[1]
    offsets = _tap_offsets((kh, kw), dilation, w_pad)
    length = n * h_pad * w_pad
    x_rows = _padded_rows(x, padding, tail=offsets[-1][2])        # (C_in, length + tail)
    w_split = w.reshape(c_in, c_out // c_in, kh, kw)               # f = c*m + (0..m-1)
    wide = np.zeros((c_in, c_out // c_in, length), dtype=x.dtype)
    tap = np.empty_like(wide)
    for u, v, offset in offsets:
        # wide += w[:, u, v] * window(u, v), the product in a reused buffer
        np.multiply(w_split[:, :, u, v, None], x_rows[:, None, offset:offset + length], out=tap)
        wide += tap
    # keep the pixels (i*s, j*s) of the stride-1 output, back in (N, C_out, ...) order
    wide = wide.reshape(c_out, n, h_pad, w_pad)
    out = wide[:, :, :stride[0] * out_size[0]:stride[0], :stride[1] * out_size[1]:stride[1]]
    return np.ascontiguousarray(out.transpose(1, 0, 2, 3))


def _depthwise_backward_weight_numpy(grad_out, x, w_shape, stride, padding, dilation):
    # dW[f, 0, u, v] = sum_{n,i,j} dout[n, f, i, j] * window(u, v)[n, f // m, i, j]:
    # dout spread to its wide places (zeros elsewhere), dotted with the shifted row
    n, c_in, h, width = x.shape
    c_out, _, kh, kw = w_shape
    h_pad, w_pad = h + 2 * padding[0], width + 2 * padding[1]
    offsets = _tap_offsets((kh, kw), dilation, w_pad)
    length = n * h_pad * w_pad
    x_rows = _padded_rows(x, padding, tail=offsets[-1][2])
    grad_rows = _spread_rows(grad_out, (h_pad, w_pad), stride).reshape(c_in, c_out // c_in, length)
    dw = np.empty((c_in, c_out // c_in, kh, kw), dtype=grad_out.dtype)
    for u, v, offset in offsets:
        dw[:, :, u, v] = np.einsum("cmk,ck->cm", grad_rows, x_rows[:, offset:offset + length])
    return dw.reshape(w_shape)


def _depthwise_backward_input_numpy(grad_out, w, x_shape, stride, padding, dilation):
    # dX_pad[n, c, i s + u d, j s + v d] += sum_{f in c's group} w[f, 0, u, v] * dout[n, f, i, j]:
    # the forward pass read backwards, each tap ADDING into the shifted row it read
    n, c_in, h, width = x_shape
    c_out, _, kh, kw = w.shape
    h_pad, w_pad = h + 2 * padding[0], width + 2 * padding[1]
    offsets = _tap_offsets((kh, kw), dilation, w_pad)
    length = n * h_pad * w_pad
    grad_rows = _spread_rows(grad_out, (h_pad, w_pad), stride).reshape(c_in, c_out // c_in, length)
    w_split = w.reshape(c_in, c_out // c_in, kh, kw)
    dx_rows = np.zeros((c_in, length + offsets[-1][2]), dtype=w.dtype)
    tap = np.empty((c_in, length), dtype=w.dtype)
    for u, v, offset in offsets:
        # the multiplier's m output channels all read channel c: their terms add up
        np.einsum("cm,cmk->ck", w_split[:, :, u, v], grad_rows, out=tap)
        dx_rows[:, offset:offset + length] += tap
    dx_padded = dx_rows[:, :length].reshape(c_in, n, h_pad, w_pad).transpose(1, 0, 2, 3)
    return _crop(dx_padded, padding, (h, width))


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


def conv2d_backward(dout, cache: Conv2dCache, input_grad=True):
    """Gradients ``(dx, dw, db)`` of the loss given ``dout`` = dL/d(out).

    ``dx`` has x's shape, ``dw`` w's shape and ``db`` is (C_out,) or None when
    the forward pass had no bias. ``input_grad=False`` skips ``dx`` (None in its
    place): the first layer of a network in training, whose input is the data.
    """
    check_grad(dout, cache.out_shape, cache.w.dtype)
    dout = np.ascontiguousarray(dout)
    backward_weight = hot_loop("conv", "backward_weight", _backward_weight_numpy)
    backward_input = hot_loop("conv", "backward_input", _backward_input_numpy)
    geometry = (cache.stride, cache.padding, cache.dilation, cache.groups)
    dw = backward_weight(dout, cache.x, cache.w.shape, *geometry)
    dx = backward_input(dout, np.ascontiguousarray(cache.w), cache.x.shape, *geometry) \
        if input_grad else None
    db = dout.sum(axis=(0, 2, 3)) if cache.has_bias else None
    return dx, dw, db


# nn.Conv2d asks for input_grad=False only from a function that says it takes it (a
# learner's conv2d_backward, swapped in by mdl.use_implementation, takes (dout, cache))
conv2d_backward.can_skip_input_grad = True
