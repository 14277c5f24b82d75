r"""Numba backend of conv2d: the three hot loops of :mod:`minideeplab.functional.conv`.

Same signatures and same numbers as the NumPy reference (``_forward_numpy``,
``_backward_input_numpy``, ``_backward_weight_numpy``); only the route differs.
Every array is C-contiguous, float32 or float64 (the dtype is kept), the input
is already zero-padded, ``stride`` and ``dilation`` are ``(h, w)`` pairs:

* ``forward(x_padded, w, stride, dilation, groups, out_size) -> out``
* ``backward_input(grad_out, w, x_padded_shape, stride, dilation, groups) -> dx_padded``
* ``backward_weight(grad_out, x_padded, w_shape, stride, dilation, groups) -> dw``

Three routes, chosen from the weight's shape and the stride:

**Depthwise** (one input channel per group, ``w.shape[1] == 1``; DeepLabV3+'s
atrous separable convolutions). Each output channel reads a single input
channel, so there is no sum over channels to hand to a matrix product: a
GEMM would have an inner dimension of only ``kH*kW = 9``. Direct loops are
faster, and every ``(n, c)`` plane is independent, so ``prange`` runs over
them with no sharing.

**Pointwise** (1x1, stride 1). ``out[n] = W @ x[n]`` with ``x[n]`` read as a
``(C_in, H*W)`` matrix: one BLAS GEMM per image, no copy at all.

**Everything else** (dense, grouped, strided, atrous): *im2col*. Copy the
input windows into a matrix ``cols[(c, u, v), (i, j)] = x_pad[c, i*s + u*d,
j*s + v*d]`` of shape ``(C_in*kH*kW, H_out*W_out)``; then each group's
convolution is one GEMM ``W_g @ cols_g``. The copy costs memory traffic, but
it hands the ``2*C_out*C_in*kH*kW*H_out*W_out`` FLOPs to BLAS, which runs
them near the machine's peak. The backward passes reuse the same matrix:
``dW_g = dout_g @ cols_g^T`` and ``dcols_g = W_g^T @ dout_g``, followed by
*col2im*, which adds every entry of ``dcols`` back onto the input pixel it was
copied from. ``cols`` for a whole batch of a big atrous conv can be larger
than the batch itself (``kH*kW = 9`` times), so the batch is processed in
chunks of images whose ``cols`` fit in ``IM2COL_BUDGET_BYTES``.

Numba compiles each kernel once per dtype on first use (``cache=True`` keeps
the machine code on disk for the next process). Strides and dilations are
passed as separate ints and arrays always C-contiguous, so each kernel has
exactly one specialisation per dtype.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

# Which threads run ``prange`` loops. The default, OpenMP, leaves its threads
# spinning for milliseconds after each parallel loop, and the next work here is
# usually a BLAS GEMM: on a 2-core machine the GEMM then shares its cores with
# spinning threads and the dense 3x3 conv ran 3x slower (20x once PyTorch,
# which shares the same libgomp, was imported). Numba's own "workqueue" layer
# puts idle threads to sleep at once. Numba reads this on the first parallel
# call; a layer the user chose (NUMBA_THREADING_LAYER) is kept.
if numba.config.THREADING_LAYER == "default":
    numba.config.THREADING_LAYER = "workqueue"

__all__ = ["forward", "backward_input", "backward_weight", "IM2COL_BUDGET_BYTES"]

# Upper bound on the im2col buffer; a chunk always holds at least one image.
# For DeepLab-sized maps that means one image at a time (a 64-channel 3x3 conv
# on 64x64 needs 9.4 MB of columns per image), which measured as fast as bigger
# chunks: the buffer stays in cache between im2col and the GEMM that reads it,
# and 64 MiB chunks were 1.5x slower (past 32 MB, glibc hands out fresh pages
# on every call, and touching them costs page faults). Small maps get several
# images per chunk, so that per-call overheads do not dominate.
IM2COL_BUDGET_BYTES = 8 * 2**20


# ============================================================== depthwise: direct

@njit(parallel=True, cache=True)
def _depthwise_forward(x_padded, w, stride_h, stride_w, dilation_h, dilation_w, out):
    """Depthwise forward, written into ``out`` (N, C_out, H_out, W_out).

    Output channel ``f`` reads input channel ``c = f // multiplier`` (with
    ``multiplier = C_out // C_in``, 1 for the usual depthwise conv)::

        for n, f in prange(N, C_out):            # one (n, f) plane per iteration
            for i in range(H_out):
                out[n, f, i, :] = 0
                for u in range(kH):
                    for v in range(kW):
                        for j in range(W_out):
                            out[n, f, i, j] += w[f, 0, u, v] * \
                                x_padded[n, c, i*sh + u*dh, j*sw + v*dw]

    The innermost loop runs along an output row, so for stride 1 it reads a
    contiguous input row and LLVM turns it into SIMD instructions; the row of
    ``out`` being accumulated stays in L1 cache across the ``kH*kW`` taps.
    """
    n_images, c_out, h_out, w_out = out.shape
    multiplier = c_out // x_padded.shape[1]
    kh, kw = w.shape[2], w.shape[3]
    for task in prange(n_images * c_out):
        n = task // c_out
        f = task % c_out
        c = f // multiplier
        for i in range(h_out):
            out_row = out[n, f, i]
            for j in range(w_out):
                out_row[j] = 0.0
            for u in range(kh):
                x_row = x_padded[n, c, i * stride_h + u * dilation_h]
                for v in range(kw):
                    weight = w[f, 0, u, v]
                    x_start = v * dilation_w
                    if stride_w == 1:
                        # The same sum, written so that LLVM sees unit steps:
                        # with a step only known at run time it emits scalar
                        # code, with step 1 SIMD loads (6x faster measured).
                        x_seg = x_row[x_start:x_start + w_out]
                        for j in range(w_out):
                            out_row[j] += weight * x_seg[j]
                    else:
                        for j in range(w_out):
                            out_row[j] += weight * x_row[x_start + j * stride_w]


@njit(parallel=True, cache=True)
def _depthwise_backward_input(grad_out, w, stride_h, stride_w, dilation_h, dilation_w,
                              dx_padded):
    """Depthwise dX, written into ``dx_padded`` (N, C_in, H_pad, W_pad).

    Every output pixel sends its gradient back through the taps that read it::

        for n, c in prange(N, C_in):             # one (n, c) plane of dX per iteration
            dx_padded[n, c] = 0
            for f in output channels reading c:  # c*multiplier ... (c+1)*multiplier - 1
                for i in range(H_out):
                    for u in range(kH):
                        for v in range(kW):
                            for j in range(W_out):
                                dx_padded[n, c, i*sh + u*dh, j*sw + v*dw] += \
                                    w[f, 0, u, v] * grad_out[n, f, i, j]

    Iterating over the *input* plane that receives the sum (rather than over
    output pixels) means each parallel iteration writes only its own plane:
    the ``+=`` never races.
    """
    n_images, c_in = dx_padded.shape[0], dx_padded.shape[1]
    c_out, h_out, w_out = grad_out.shape[1], grad_out.shape[2], grad_out.shape[3]
    multiplier = c_out // c_in
    kh, kw = w.shape[2], w.shape[3]
    for task in prange(n_images * c_in):
        n = task // c_in
        c = task % c_in
        plane = dx_padded[n, c]
        plane[:, :] = 0.0
        for f in range(c * multiplier, (c + 1) * multiplier):
            for i in range(h_out):
                grad_row = grad_out[n, f, i]
                for u in range(kh):
                    dx_row = plane[i * stride_h + u * dilation_h]
                    for v in range(kw):
                        weight = w[f, 0, u, v]
                        x_start = v * dilation_w
                        if stride_w == 1:  # unit steps vectorise (see the forward)
                            dx_seg = dx_row[x_start:x_start + w_out]
                            for j in range(w_out):
                                dx_seg[j] += weight * grad_row[j]
                        else:
                            for j in range(w_out):
                                dx_row[x_start + j * stride_w] += weight * grad_row[j]


@njit(parallel=True, cache=True)
def _depthwise_backward_weight(grad_out, x_padded, stride_h, stride_w, dilation_h, dilation_w,
                               dw_per_image):
    """Depthwise dW, one partial sum per image, into ``dw_per_image`` (N, C_out, 1, kH, kW).

    ::

        for n, f in prange(N, C_out):            # one image's share of dW[f] per iteration
            for u in range(kH):
                for v in range(kW):
                    dw_per_image[n, f, 0, u, v] = sum_{i, j} grad_out[n, f, i, j] * \
                        x_padded[n, c, i*sh + u*dh, j*sw + v*dw]

    dW[f] sums over the batch, and a parallel loop over images may not ``+=``
    into one shared dW (two threads would read, add and write the same entry:
    a data race). So each (n, f) iteration owns its slot of ``dw_per_image``
    and the caller sums over ``n`` afterwards.

    The sum over ``j`` goes into an accumulator *row* ``acc[u, v, :]`` and is
    reduced only at the end: adding into a row is element-wise work LLVM can
    vectorise, a scalar running sum (without fastmath) is not.
    """
    n_images, c_out, h_out, w_out = grad_out.shape
    multiplier = c_out // x_padded.shape[1]
    kh, kw = dw_per_image.shape[3], dw_per_image.shape[4]
    for task in prange(n_images * c_out):
        n = task // c_out
        f = task % c_out
        c = f // multiplier
        acc = np.zeros((kh, kw, w_out), dtype=dw_per_image.dtype)
        for i in range(h_out):
            grad_row = grad_out[n, f, i]
            for u in range(kh):
                x_row = x_padded[n, c, i * stride_h + u * dilation_h]
                for v in range(kw):
                    acc_row = acc[u, v]
                    x_start = v * dilation_w
                    if stride_w == 1:  # unit steps vectorise (see the forward)
                        x_seg = x_row[x_start:x_start + w_out]
                        for j in range(w_out):
                            acc_row[j] += grad_row[j] * x_seg[j]
                    else:
                        for j in range(w_out):
                            acc_row[j] += grad_row[j] * x_row[x_start + j * stride_w]
        for u in range(kh):
            for v in range(kw):
                total = 0.0
                for j in range(w_out):
                    total += acc[u, v, j]
                dw_per_image[n, f, 0, u, v] = total


# ============================================================ im2col and col2im

@njit(parallel=True, cache=True)
def _im2col(x_padded, kh, kw, stride_h, stride_w, dilation_h, dilation_w, h_out, w_out, cols):
    """Copy every input window into ``cols`` (N, C_in*kH*kW, H_out*W_out).

    ::

        for n, c, u in prange(N, C_in, kH):      # kW rows of cols per iteration
            for v in range(kW):
                for i in range(H_out):
                    for j in range(W_out):
                        cols[n, (c*kH + u)*kW + v, i*W_out + j] = \
                            x_padded[n, c, i*sh + u*dh, j*sw + v*dw]

    Row ``(c, u, v)`` of ``cols`` is tap ``(u, v)`` of channel ``c`` seen by
    every output pixel, the order in which ``w[f].reshape(-1)`` lists the
    weights: so ``w.reshape(C_out, -1) @ cols[n]`` is the convolution. Rows
    of one channel are contiguous, so group ``g`` owns a contiguous block of
    rows. Parallel over ``(n, c, u)`` (not just ``n``), so that a batch of
    one image or an RGB input still keeps both cores busy.
    """
    n_images, c_in = x_padded.shape[0], x_padded.shape[1]
    for task in prange(n_images * c_in * kh):
        n = task // (c_in * kh)
        c = (task // kh) % c_in
        u = task % kh
        for v in range(kw):
            col_row = cols[n, (c * kh + u) * kw + v]
            x_start = v * dilation_w
            for i in range(h_out):
                x_row = x_padded[n, c, i * stride_h + u * dilation_h]
                col_seg = col_row[i * w_out:(i + 1) * w_out]
                if stride_w == 1:  # unit steps vectorise (see _depthwise_forward)
                    x_seg = x_row[x_start:x_start + w_out]
                    for j in range(w_out):
                        col_seg[j] = x_seg[j]
                else:
                    for j in range(w_out):
                        col_seg[j] = x_row[x_start + j * stride_w]


@njit(parallel=True, cache=True)
def _col2im(cols, kh, kw, stride_h, stride_w, dilation_h, dilation_w, h_out, w_out,
            dx_padded):
    """Add every entry of ``cols`` back onto the pixel it came from: the adjoint of im2col.

    ::

        for n, c in prange(N, C_in):             # one (n, c) plane of dX per iteration
            dx_padded[n, c] = 0
            for u, v in taps, for i in range(H_out), for j in range(W_out):
                dx_padded[n, c, i*sh + u*dh, j*sw + v*dw] += \
                    cols[n, (c*kH + u)*kW + v, i*W_out + j]

    A pixel read by several windows (overlapping taps) receives several
    gradients, hence ``+=``. All rows that land in plane ``(n, c)`` are
    handled by one iteration, so the ``+=`` never races.
    """
    n_images, c_in = dx_padded.shape[0], dx_padded.shape[1]
    for task in prange(n_images * c_in):
        n = task // c_in
        c = task % c_in
        plane = dx_padded[n, c]
        plane[:, :] = 0.0
        for u in range(kh):
            for v in range(kw):
                col_row = cols[n, (c * kh + u) * kw + v]
                x_start = v * dilation_w
                for i in range(h_out):
                    dx_row = plane[i * stride_h + u * dilation_h]
                    col_seg = col_row[i * w_out:(i + 1) * w_out]
                    if stride_w == 1:  # unit steps vectorise (see _depthwise_forward)
                        dx_seg = dx_row[x_start:x_start + w_out]
                        for j in range(w_out):
                            dx_seg[j] += col_seg[j]
                    else:
                        for j in range(w_out):
                            dx_row[x_start + j * stride_w] += col_seg[j]


# ================================================================== dispatch

def _is_depthwise(w_shape):
    # one input channel per group: every output channel reads a single input channel
    return w_shape[1] == 1


def _is_pointwise(w_shape, stride):
    # a 1x1 kernel at stride 1 reads each pixel once: x[n] is already "cols"
    # (dilation does not matter with one tap, padding only enlarges the image)
    return w_shape[2] == 1 and w_shape[3] == 1 and stride == (1, 1)


def _images_per_chunk(n_images, rows, columns, itemsize):
    """How many images' im2col matrices fit in ``IM2COL_BUDGET_BYTES`` (at least 1)."""
    per_image = rows * columns * itemsize
    return int(max(1, min(n_images, IM2COL_BUDGET_BYTES // max(per_image, 1))))


def forward(x_padded, w, stride, dilation, groups, out_size):
    """``out`` (N, C_out, H_out, W_out) of the convolution of ``x_padded`` with ``w`` (no bias)."""
    n_images, c_in, h_pad, w_pad = x_padded.shape
    c_out, c_per_group, kh, kw = w.shape
    h_out, w_out = out_size
    (stride_h, stride_w), (dilation_h, dilation_w) = stride, dilation
    out = np.empty((n_images, c_out, h_out, w_out), dtype=x_padded.dtype)
    if _is_depthwise(w.shape):
        _depthwise_forward(x_padded, w, stride_h, stride_w, dilation_h, dilation_w, out)
        return out

    f_per_group = c_out // groups
    # out[n, g] = W_g @ cols[n, g]: shapes (F_g, K) @ (K, H_out*W_out), batched over
    # images and groups by np.matmul, which calls BLAS once per (n, g) pair.
    w_grouped = w.reshape(groups, f_per_group, -1)
    out_grouped = out.reshape(n_images, groups, f_per_group, h_out * w_out)
    if _is_pointwise(w.shape, stride):
        np.matmul(w_grouped, x_padded.reshape(n_images, groups, c_per_group, h_pad * w_pad),
                  out=out_grouped)
        return out

    rows = c_in * kh * kw
    chunk = _images_per_chunk(n_images, rows, h_out * w_out, x_padded.dtype.itemsize)
    cols = np.empty((chunk, rows, h_out * w_out), dtype=x_padded.dtype)
    for start in range(0, n_images, chunk):
        stop = min(start + chunk, n_images)
        cols_chunk = cols[:stop - start]
        _im2col(x_padded[start:stop], kh, kw, stride_h, stride_w, dilation_h, dilation_w,
                h_out, w_out, cols_chunk)
        np.matmul(w_grouped, cols_chunk.reshape(stop - start, groups, -1, h_out * w_out),
                  out=out_grouped[start:stop])
    return out


def backward_input(grad_out, w, x_padded_shape, stride, dilation, groups):
    """``dx_padded`` (shape ``x_padded_shape``): the gradient with respect to the padded input."""
    n_images, c_in, h_pad, w_pad = x_padded_shape
    c_out, c_per_group, kh, kw = w.shape
    h_out, w_out = grad_out.shape[2:]
    (stride_h, stride_w), (dilation_h, dilation_w) = stride, dilation
    dx_padded = np.empty(x_padded_shape, dtype=grad_out.dtype)
    if _is_depthwise(w.shape):
        _depthwise_backward_input(grad_out, w, stride_h, stride_w, dilation_h, dilation_w,
                                  dx_padded)
        return dx_padded

    f_per_group = c_out // groups
    # dcols[n, g] = W_g^T @ dout[n, g]: (K, F_g) @ (F_g, H_out*W_out)
    w_transposed = w.reshape(groups, f_per_group, -1).transpose(0, 2, 1)
    grad_grouped = grad_out.reshape(n_images, groups, f_per_group, h_out * w_out)
    if _is_pointwise(w.shape, stride):
        # no windows to undo: dcols is dX itself
        np.matmul(w_transposed, grad_grouped,
                  out=dx_padded.reshape(n_images, groups, c_per_group, h_pad * w_pad))
        return dx_padded

    rows = c_in * kh * kw
    chunk = _images_per_chunk(n_images, rows, h_out * w_out, grad_out.dtype.itemsize)
    dcols = np.empty((chunk, rows, h_out * w_out), dtype=grad_out.dtype)
    for start in range(0, n_images, chunk):
        stop = min(start + chunk, n_images)
        dcols_chunk = dcols[:stop - start]
        np.matmul(w_transposed, grad_grouped[start:stop],
                  out=dcols_chunk.reshape(stop - start, groups, -1, h_out * w_out))
        _col2im(dcols_chunk, kh, kw, stride_h, stride_w, dilation_h, dilation_w, h_out, w_out,
                dx_padded[start:stop])
    return dx_padded


def backward_weight(grad_out, x_padded, w_shape, stride, dilation, groups):
    """``dw`` (shape ``w_shape``): the gradient with respect to the weights."""
    n_images, c_in, h_pad, w_pad = x_padded.shape
    c_out, c_per_group, kh, kw = w_shape
    h_out, w_out = grad_out.shape[2:]
    (stride_h, stride_w), (dilation_h, dilation_w) = stride, dilation
    dtype = grad_out.dtype
    if _is_depthwise(w_shape):
        dw_per_image = np.empty((n_images, *w_shape), dtype=dtype)
        _depthwise_backward_weight(grad_out, x_padded, stride_h, stride_w, dilation_h,
                                   dilation_w, dw_per_image)
        return dw_per_image.sum(axis=0)

    f_per_group = c_out // groups
    grad_grouped = grad_out.reshape(n_images, groups, f_per_group, h_out * w_out)
    # dW_g = sum_n dout[n, g] @ cols[n, g]^T: (F_g, H_out*W_out) @ (H_out*W_out, K).
    # np.matmul makes one product per image; summing the (N, G, F_g, K) stack
    # afterwards is cheap (it is N copies of dW) and keeps the loop race-free.
    if _is_pointwise(w_shape, stride):
        x_grouped = x_padded.reshape(n_images, groups, c_per_group, h_pad * w_pad)
        dw_per_image = np.matmul(grad_grouped, x_grouped.transpose(0, 1, 3, 2))
        return dw_per_image.sum(axis=0).reshape(w_shape)

    rows = c_in * kh * kw
    chunk = _images_per_chunk(n_images, rows, h_out * w_out, dtype.itemsize)
    cols = np.empty((chunk, rows, h_out * w_out), dtype=dtype)
    dw_grouped = np.zeros((groups, f_per_group, c_per_group * kh * kw), dtype=dtype)
    for start in range(0, n_images, chunk):
        stop = min(start + chunk, n_images)
        cols_chunk = cols[:stop - start]
        _im2col(x_padded[start:stop], kh, kw, stride_h, stride_w, dilation_h, dilation_w,
                h_out, w_out, cols_chunk)
        cols_grouped = cols_chunk.reshape(stop - start, groups, -1, h_out * w_out)
        dw_grouped += np.matmul(grad_grouped[start:stop],
                                cols_grouped.transpose(0, 1, 3, 2)).sum(axis=0)
    return dw_grouped.reshape(w_shape)
