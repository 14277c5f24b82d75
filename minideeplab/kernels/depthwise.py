r"""The depthwise route of the Numba conv2d (:mod:`minideeplab.kernels.conv` calls these).

A depthwise convolution (one input channel per group, ``w.shape[1] == 1``)
gives each output channel ``f`` a single input channel ``c = f // multiplier``
(``multiplier = C_out // C_in``, 1 for the usual depthwise conv). There is no
sum over channels to hand to a matrix product (its inner dimension would be
only ``kH*kW = 9``), so these are direct loops. Every ``(n, c)`` plane is
independent: the threads share the planes (``_threads.parallel_for``) and no
two write the same one.

**One long row per plane.** At stride 1, output pixel ``(i, j)`` with tap
``(u, v)`` reads ``x_pad[i + u*d_h, j + v*d_w]``, whose index in the flattened
padded plane (``W_pad`` pixels per row) is::

    (i + u*d_h) * W_pad + (j + v*d_w)  =  (i*W_pad + j)  +  (u*d_h*W_pad + v*d_w)
                                             k = "wide" index    offset of the tap

So if a plane's outputs are kept in a *wide* row of ``W_pad`` values per output
row (``wide[i*W_pad + j]``), every tap is ONE loop over ``k``:
``wide[k] += w[u, v] * x_flat[offset + k]``. The columns ``j >= W_out`` of the
wide row are scratch nobody reads, and every read stays inside the plane (the
largest is the plane's last pixel). On a 16x16 map a loop over a row runs 16
steps, the wide loop about 290, which LLVM turns into SIMD instructions: 2-3x
faster on every depthwise shape of the default model (measured).

**3x3 kernels** (every depthwise kernel of DeepLab) take the same loops
unrolled: the nine taps in one pass over the wide row, so each value is
written once instead of read and written nine times (``_three_by_three``).
The terms are added in the loops' order: the same numbers. They are functions
of their own (``..._3x3``), so that a model of 3x3 kernels compiles only them;
other sizes run the general loops. A 1x1 kernel without padding (what a 3x3
one becomes when only its centre reads the image, see ``kernels/conv.py``) is
a product per channel, computed with NumPy: nothing to compile.

**dX is a forward pass.** The gradient of the input is the convolution of
dout, spread out by the stride, with the kernel flipped (the identity the
NumPy reference's module docstring derives, :func:`_spread_for_flipped` here):
so dX runs the forward kernels above, and there is no dX kernel to write,
test and compile (one fewer kernel: 0.8-1.3 s less compiling before the first
training step, and dX 0.5-0.8x the time of the former kernel of its own at
stride 1; 1.0-1.6x at stride 2, where the spread dout is built first).

**Strides.** A convolution with stride ``s`` is the stride-1 convolution read
every ``s`` pixels. So the forward pass computes the stride-1 ("dense") output
in the wide row and keeps pixels ``(i*s_h, j*s_w)``; dW puts the gradient of
output ``(i, j)`` at wide position ``(i*s_h, j*s_w)`` and zeros elsewhere (the
zero-inserted gradient of the module docstring of ``functional/conv.py``). One
loop nest serves every stride; a strided layer (the first block of a backbone
stage) does ``s_h*s_w`` times the work of the pixels it keeps, in SIMD loops.

**Padding.** The input arrives unpadded. Each thread keeps one padded plane
of scratch: its border stays zero, and each task copies its plane into the
centre. The padded batch is never built, nor cropped.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._threads import parallel_for

__all__ = ["forward", "backward_input", "backward_weight"]  # called by kernels/conv.py


# Every plane arrives flattened: ``x_flat`` (N, C, H*W), ``out_flat`` (N, C, H_out*W_out).
# A padded plane is (height + 2*pad_h) x w_pad with w_pad = width + 2*pad_w, and
# ``span``, the length of the wide row, is (H_dense - 1)*w_pad + W_dense for the
# stride-1 output H_dense x W_dense. (Flat views cost nothing in Python; inside Numba,
# slicing and reshaping generate a lot of code, and the first training step waits
# for the compiler.)

@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _pad_into(plane, height, width, pad_h, pad_w, padded):
    """Copy ``plane`` (height*width values) into the centre of ``padded`` (border untouched)."""
    w_pad = width + 2 * pad_w
    for y in range(height):
        row = padded[(y + pad_h) * w_pad + pad_w:]
        for x in range(width):
            row[x] = plane[y * width + x]


@njit(cache=True, nogil=True, error_model="numpy")
def depthwise_forward(first, stop, x_flat, w, height, width, pad_h, pad_w, span, stride_h,
                      stride_w, dilation_h, dilation_w, out_flat, h_out, w_out):
    """Depthwise forward, written into ``out`` (N, C_out, H_out, W_out)::

        for (n, f) in planes first ... stop - 1:      # this thread's planes
            for u in range(kH), v in range(kW):
                for i in range(H_out), j in range(W_out):
                    out[n, f, i, j] += w[f, 0, u, v] * x_pad[n, c, i*sh + u*dh, j*sw + v*dw]

    computed as the stride-1 output in a wide row, read every ``s`` pixels.
    """
    c_out = out_flat.shape[1]
    multiplier = c_out // x_flat.shape[1]
    kh, kw = w.shape[2], w.shape[3]
    w_pad = width + 2 * pad_w
    x_padded = np.zeros((height + 2 * pad_h) * w_pad, dtype=x_flat.dtype)   # border stays 0
    wide = np.empty(span, dtype=out_flat.dtype)
    for task in range(first, stop):
        n, f = task // c_out, task % c_out
        _pad_into(x_flat[n, f // multiplier], height, width, pad_h, pad_w, x_padded)
        for k in range(span):
            wide[k] = 0.0
        for u in range(kh):
            for v in range(kw):
                weight = w[f, 0, u, v]
                x_tap = x_padded[u * dilation_h * w_pad + v * dilation_w:]
                for k in range(span):    # k from 0 on a slice: no negative-index checks, SIMD
                    wide[k] += weight * x_tap[k]
        _keep_strided(wide, w_pad, stride_h, stride_w, h_out, w_out, out_flat[n, f])


@njit(cache=True, nogil=True, error_model="numpy")
def depthwise_forward_3x3(first, stop, x_flat, w, height, width, pad_h, pad_w, span, stride_h,
                          stride_w, dilation_h, dilation_w, out_flat, h_out, w_out):
    """:func:`depthwise_forward` for 3x3 kernels, the nine taps in one pass (``_three_by_three``).

    A function of its own (and not a branch of the one above), so that a model
    whose depthwise kernels are all 3x3 compiles only this one.
    """
    c_out = out_flat.shape[1]
    multiplier = c_out // x_flat.shape[1]
    w_pad = width + 2 * pad_w
    x_padded = np.zeros((height + 2 * pad_h) * w_pad, dtype=x_flat.dtype)   # border stays 0
    wide = np.empty(span, dtype=out_flat.dtype)
    for task in range(first, stop):
        n, f = task // c_out, task % c_out
        _pad_into(x_flat[n, f // multiplier], height, width, pad_h, pad_w, x_padded)
        _three_by_three(w[f, 0], x_padded, w_pad, dilation_h, dilation_w, wide)
        _keep_strided(wide, w_pad, stride_h, stride_w, h_out, w_out, out_flat[n, f])


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _keep_strided(wide, w_pad, stride_h, stride_w, h_out, w_out, out_plane):
    """``out[i, j] = wide[i*sh*W_pad + j*sw]``: the stride-1 output read every ``s`` pixels."""
    for i in range(h_out):
        if stride_w == 1:      # a unit step: the row is one SIMD copy
            out_row, wide_row = out_plane[i * w_out:], wide[i * stride_h * w_pad:]
            for j in range(w_out):
                out_row[j] = wide_row[j]
        else:
            for j in range(w_out):
                out_plane[i * w_out + j] = wide[i * stride_h * w_pad + j * stride_w]


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _three_by_three(w, x_padded, w_pad, dilation_h, dilation_w, wide):
    """The nine taps of a 3x3 kernel in ONE pass over the wide row (the loops above, unrolled)::

        wide[k] = w[0,0]*x_pad[k] + w[0,1]*x_pad[k + dw] + ... + w[2,2]*x_pad[k + 2*dh*W_pad + 2*dw]

    added in the same order as the tap-by-tap loops (so the same numbers), but
    each ``wide[k]`` is written once instead of read and written nine times:
    1.6-2x faster on the depthwise convolutions of the default model (measured).
    """
    row, col = dilation_h * w_pad, dilation_w
    x00, x01, x02 = x_padded, x_padded[col:], x_padded[2 * col:]
    x10, x11, x12 = x_padded[row:], x_padded[row + col:], x_padded[row + 2 * col:]
    x20, x21, x22 = x_padded[2 * row:], x_padded[2 * row + col:], x_padded[2 * row + 2 * col:]
    w00, w01, w02 = w[0, 0], w[0, 1], w[0, 2]
    w10, w11, w12 = w[1, 0], w[1, 1], w[1, 2]
    w20, w21, w22 = w[2, 0], w[2, 1], w[2, 2]
    for k in range(wide.shape[0]):
        wide[k] = (w00 * x00[k] + w01 * x01[k] + w02 * x02[k]
                   + w10 * x10[k] + w11 * x11[k] + w12 * x12[k]
                   + w20 * x20[k] + w21 * x21[k] + w22 * x22[k])


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _spread(grad_plane, h_out, w_out, w_pad, stride_h, stride_w, grad_wide):
    """Gradient of output (i, j) at wide position (i*sh, j*sw); zeros everywhere else."""
    for k in range(grad_wide.shape[0]):
        grad_wide[k] = 0.0
    for i in range(h_out):
        for j in range(w_out):
            grad_wide[i * stride_h * w_pad + j * stride_w] = grad_plane[i * w_out + j]


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def depthwise_backward_weight(first, stop, grad_flat, x_flat, h_out, w_out, height, width,
                              pad_h, pad_w, span, stride_h, stride_w, dilation_h, dilation_w,
                              dw_per_image):
    """Depthwise dW, one partial sum per image, into ``dw_per_image`` (N, C_out, 1, kH, kW)::

        for (n, f) in planes first ... stop - 1:      # one image's share of dW[f]
            for u in range(kH), v in range(kW):
                dw_per_image[n, f, 0, u, v] = sum_{i, j} grad_out[n, f, i, j] * \
                    x_pad[n, c, i*sh + u*dh, j*sw + v*dw]

    dW[f] sums over the batch, and threads sharing the images may not ``+=``
    into one shared dW (two threads would read, add and write the same entry:
    a data race). So each (n, f) plane owns its slot of ``dw_per_image`` and
    the caller sums over ``n`` afterwards. In the wide row, each sum is one dot
    product of ``grad_wide`` with the tap's part of the padded plane.

    ``fastmath={"reassoc"}`` lets LLVM add the terms of a sum in another order
    (in SIMD lanes, then the lanes together): the same sum up to rounding, and
    the only way a floating-point sum becomes SIMD code.
    """
    c_out = grad_flat.shape[1]
    multiplier = c_out // x_flat.shape[1]
    kh, kw = dw_per_image.shape[3], dw_per_image.shape[4]
    w_pad = width + 2 * pad_w
    x_padded = np.zeros((height + 2 * pad_h) * w_pad, dtype=x_flat.dtype)   # border stays 0
    grad_wide = np.empty(span, dtype=grad_flat.dtype)
    for task in range(first, stop):
        n, f = task // c_out, task % c_out
        _pad_into(x_flat[n, f // multiplier], height, width, pad_h, pad_w, x_padded)
        _spread(grad_flat[n, f], h_out, w_out, w_pad, stride_h, stride_w, grad_wide)
        for u in range(kh):
            for v in range(kw):
                x_tap = x_padded[u * dilation_h * w_pad + v * dilation_w:]
                total = 0.0
                for k in range(span):
                    total += grad_wide[k] * x_tap[k]
                dw_per_image[n, f, 0, u, v] = total


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def depthwise_backward_weight_3x3(first, stop, grad_flat, x_flat, h_out, w_out, height, width,
                                  pad_h, pad_w, span, stride_h, stride_w, dilation_h,
                                  dilation_w, dw_per_image):
    """:func:`depthwise_backward_weight` for 3x3 kernels: the nine sums in one pass
    (``_three_by_three_weight``); compiled only when a model has such kernels."""
    c_out = grad_flat.shape[1]
    multiplier = c_out // x_flat.shape[1]
    w_pad = width + 2 * pad_w
    x_padded = np.zeros((height + 2 * pad_h) * w_pad, dtype=x_flat.dtype)   # border stays 0
    grad_wide = np.empty(span, dtype=grad_flat.dtype)
    for task in range(first, stop):
        n, f = task // c_out, task % c_out
        _pad_into(x_flat[n, f // multiplier], height, width, pad_h, pad_w, x_padded)
        _spread(grad_flat[n, f], h_out, w_out, w_pad, stride_h, stride_w, grad_wide)
        _three_by_three_weight(grad_wide, x_padded, w_pad, dilation_h, dilation_w,
                               dw_per_image[n, f, 0])


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _three_by_three_weight(grad_wide, x_padded, w_pad, dilation_h, dilation_w, dw):
    """The nine dot products of a 3x3 kernel's dW in ONE pass over ``grad_wide``
    (each gradient read once, nine running sums) instead of nine passes. Inlined
    into a ``fastmath={"reassoc"}`` kernel, so that the sums become SIMD code (a
    function inlined takes its caller's flags)."""
    row, col = dilation_h * w_pad, dilation_w
    x00, x01, x02 = x_padded, x_padded[col:], x_padded[2 * col:]
    x10, x11, x12 = x_padded[row:], x_padded[row + col:], x_padded[row + 2 * col:]
    x20, x21, x22 = x_padded[2 * row:], x_padded[2 * row + col:], x_padded[2 * row + 2 * col:]
    t00 = t01 = t02 = t10 = t11 = t12 = t20 = t21 = t22 = 0.0
    for k in range(grad_wide.shape[0]):
        g = grad_wide[k]
        t00 += g * x00[k]
        t01 += g * x01[k]
        t02 += g * x02[k]
        t10 += g * x10[k]
        t11 += g * x11[k]
        t12 += g * x12[k]
        t20 += g * x20[k]
        t21 += g * x21[k]
        t22 += g * x22[k]
    dw[0, 0], dw[0, 1], dw[0, 2] = t00, t01, t02
    dw[1, 0], dw[1, 1], dw[1, 2] = t10, t11, t12
    dw[2, 0], dw[2, 1], dw[2, 2] = t20, t21, t22


# ------------------------------------------------------------ called by kernels/conv.py

def _flat(a):
    """View (N, C, H, W) as (N, C, H*W): every plane one contiguous row."""
    return a.reshape(a.shape[0], a.shape[1], -1)


def _plane(x_shape, kernel_size, padding, dilation):
    """``(height, width, pad_h, pad_w, span)``: a plane, its padding, and the wide row's length
    (up to the last pixel of the stride-1, "dense", output)."""
    height, width = x_shape[2:]
    h_dense = height + 2 * padding[0] - dilation[0] * (kernel_size[0] - 1)
    w_dense = width + 2 * padding[1] - dilation[1] * (kernel_size[1] - 1)
    return height, width, *padding, (h_dense - 1) * (width + 2 * padding[1]) + w_dense


def _route(general, three_by_three, kernel_size):
    """The 3x3 kernel function for 3x3 kernels, the general one for any other size."""
    return three_by_three if tuple(kernel_size) == (3, 3) else general


def _is_scale(kernel_size, padding):
    # 1x1 without padding: each output is one input value times one weight (what a 3x3
    # kernel becomes when only its centre reads the image, kernels/conv.py)
    return tuple(kernel_size) == (1, 1) and tuple(padding) == (0, 0)


def _read_every(x, stride, out_size):
    """The input values a 1x1 kernel reads at ``stride``: ``x[:, :, i*sh, j*sw]``."""
    return x[:, :, ::stride[0], ::stride[1]][:, :, :out_size[0], :out_size[1]]


def _per_output_channel(read, c_out):
    """``read`` (N, C_in, ...) as seen by each of the C_out output channels (f reads f // m)."""
    multiplier = c_out // read.shape[1]
    return read if multiplier == 1 else np.repeat(read, multiplier, axis=1)


def forward(x, w, stride, padding, dilation, out_size):
    """``out`` (N, C_out, H_out, W_out) of a depthwise convolution, threads sharing the planes."""
    n_images, c_out = x.shape[0], w.shape[0]
    if _is_scale(w.shape[2:], padding):   # a product per channel: NumPy, nothing to compile
        scale = w[:, 0, 0, 0].reshape(1, c_out, 1, 1)
        return _per_output_channel(_read_every(x, stride, out_size), c_out) * scale
    out = np.empty((n_images, c_out, *out_size), dtype=x.dtype)
    parallel_for(_route(depthwise_forward, depthwise_forward_3x3, w.shape[2:]),
                 n_images * c_out, _flat(x), w,
                 *_plane(x.shape, w.shape[2:], padding, dilation), *stride, *dilation,
                 _flat(out), *out_size, work=out.size * w.shape[2] * w.shape[3])
    return out


def backward_input(grad_out, w, x_shape, stride, padding, dilation):
    """``dx`` (``x_shape``) of a depthwise convolution: the forward pass of dout with
    the kernel flipped (see :func:`_spread_for_flipped`). A 1x1 kernel without padding
    takes the same way: its forward pass is a product per channel, in NumPy."""
    n_images, c_in, height, width = x_shape
    c_out = w.shape[0]
    flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1])
    spread, spread_padding = _spread_for_flipped(grad_out, w.shape[2:], (height, width), stride,
                                                 padding, dilation)
    # output channel f of the flipped pass reads dout's channel f: a "multiplier" of 1
    dx_per_output = forward(spread, flipped, (1, 1), spread_padding, dilation, (height, width))
    if c_out == c_in:
        return dx_per_output
    # a depth multiplier m: the m output channels of input channel c all send it gradient
    return dx_per_output.reshape(n_images, c_in, c_out // c_in, height, width).sum(axis=2)


def _spread_for_flipped(grad_out, kernel_size, x_size, stride, padding, dilation):
    """``(spread, padding)``: what the flipped kernel reads to give dX, and its padding.

    Output pixel ``i`` read input ``i*s + u*d - p`` through tap ``u``; so input ``y``
    receives ``sum_u w[u] * dout[i]`` over the ``i`` with ``i*s = y + p - u*d``. With
    the taps flipped (``u' = k - 1 - u``) that is a plain stride-1 convolution,
    ``dx[y] = sum_u' w_flipped[u'] * G[y + u'*d]``, of the array ``G`` that holds
    ``dout[i]`` at ``i*s + (d*(k - 1) - p)`` and zeros everywhere else (dout spread
    out by the stride, shifted by the flipped kernel's padding). At stride 1 with
    'same' padding (``2p = d*(k - 1)``), ``G`` is dout with ``p`` zeros around it:
    dout itself is passed, padded by the kernel; otherwise ``G`` is built here,
    cropped to the part that reaches dX (``H + d*(k - 1)`` rows), padding 0.
    """
    spans = [dilation[a] * (kernel_size[a] - 1) for a in range(2)]
    if stride == (1, 1) and all(2 * padding[a] == spans[a] for a in range(2)):
        return grad_out, padding
    n_images, c_out, h_out, w_out = grad_out.shape
    size = [x_size[a] + spans[a] for a in range(2)]
    spread = np.zeros((n_images, c_out, *size), dtype=grad_out.dtype)
    # dout[i] goes to i*s + shift, kept where that lies in [0, size)
    reads = []
    for a, out in enumerate((h_out, w_out)):
        shift = spans[a] - padding[a]
        first = max(0, -(shift // stride[a]))                  # first i with i*s + shift >= 0
        stop = min(out, (size[a] - 1 - shift) // stride[a] + 1)
        reads.append((first, stop, first * stride[a] + shift))
    (i0, i1, y0), (j0, j1, x0) = reads
    if i1 > i0 and j1 > j0:
        spread[:, :, y0:y0 + (i1 - i0) * stride[0]:stride[0],
               x0:x0 + (j1 - j0) * stride[1]:stride[1]] = grad_out[:, :, i0:i1, j0:j1]
    return spread, (0, 0)


def backward_weight(grad_out, x, w_shape, stride, padding, dilation):
    """``dw`` (``w_shape``) of a depthwise convolution: per-image slots, summed in order."""
    n_images = x.shape[0]
    if _is_scale(w_shape[2:], padding):
        read = _per_output_channel(_read_every(x, stride, grad_out.shape[2:]), w_shape[0])
        per_image = (grad_out * read).sum(axis=(2, 3))            # (N, C_out), then in order
        return per_image.sum(axis=0).reshape(w_shape).astype(grad_out.dtype, copy=False)
    dw_per_image = np.empty((n_images, *w_shape), dtype=grad_out.dtype)
    parallel_for(_route(depthwise_backward_weight, depthwise_backward_weight_3x3, w_shape[2:]),
                 n_images * w_shape[0], _flat(grad_out), _flat(x),
                 *grad_out.shape[2:], *_plane(x.shape, w_shape[2:], padding, dilation),
                 *stride, *dilation, dw_per_image, work=grad_out.size * w_shape[2] * w_shape[3])
    return dw_per_image.sum(axis=0)
