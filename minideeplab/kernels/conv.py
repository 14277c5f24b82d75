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
faster; they live in :mod:`minideeplab.kernels.depthwise`.

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
copied from. ``cols`` of a whole batch would be ``kH*kW = 9`` times larger
than the batch itself, so it is built one image at a time, in a buffer each
thread reuses: the memory stays bounded by one image's columns per thread.

Every route shares its work among threads the same way: a slice of the
images or planes per thread (``_threads.parallel_for``), OpenBLAS on one
thread meanwhile (``_threads.single_threaded_blas``).

Numba compiles each kernel once per dtype on first use (``cache=True`` keeps
the machine code on disk for the next process). Strides and dilations are
passed as separate ints and arrays always C-contiguous, so each kernel has
exactly one specialisation per dtype.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import depthwise
from ._threads import parallel_for, single_threaded_blas

__all__ = ["forward", "backward_input", "backward_weight"]


# ============================================================ im2col and col2im

@njit(cache=True, nogil=True, error_model="numpy")
def _im2col(x_image, kh, kw, stride_h, stride_w, dilation_h, dilation_w, h_out, w_out, cols):
    """Copy every input window of one image into ``cols`` (C_in*kH*kW, H_out*W_out).

    ::

        for c in range(C_in), u in range(kH), v in range(kW):
            for i in range(H_out), j in range(W_out):
                cols[(c*kH + u)*kW + v, i*W_out + j] = x_image[c, i*sh + u*dh, j*sw + v*dw]

    Row ``(c, u, v)`` of ``cols`` is tap ``(u, v)`` of channel ``c`` seen by
    every output pixel, the order in which ``w[f].reshape(-1)`` lists the
    weights: so ``w.reshape(C_out, -1) @ cols`` is the convolution. Rows of
    one channel are contiguous, so group ``g`` owns a contiguous block of
    rows. Called once per image by the thread that owns the image (``nogil``:
    it releases Python's lock, so the threads copy their images at the same time).
    """
    c_in = x_image.shape[0]
    for c in range(c_in):
        for u in range(kh):
            for v in range(kw):
                col_row = cols[(c * kh + u) * kw + v]
                x_start = v * dilation_w
                for i in range(h_out):
                    x_row = x_image[c, i * stride_h + u * dilation_h]
                    col_seg = col_row[i * w_out:(i + 1) * w_out]
                    if stride_w == 1:  # a unit step compiles to SIMD code, a run-time step not
                        x_seg = x_row[x_start:x_start + w_out]
                        for j in range(w_out):
                            col_seg[j] = x_seg[j]
                    else:
                        for j in range(w_out):
                            col_seg[j] = x_row[x_start + j * stride_w]


@njit(cache=True, nogil=True, error_model="numpy")
def _col2im(cols, kh, kw, stride_h, stride_w, dilation_h, dilation_w, h_out, w_out, dx_image):
    """Add every entry of ``cols`` back onto the pixel it came from: the adjoint of im2col.

    ::

        dx_image[:] = 0
        for c, u, v, i, j:
            dx_image[c, i*sh + u*dh, j*sw + v*dw] += cols[(c*kH + u)*kW + v, i*W_out + j]

    A pixel read by several windows (overlapping taps) receives several
    gradients, hence ``+=``. One call handles one image, and each image is
    handled by one thread, so the ``+=`` never races.
    """
    c_in, h_pad, w_pad = dx_image.shape
    for c in range(c_in):
        plane = dx_image[c]
        for y in range(h_pad):
            for x in range(w_pad):
                plane[y, x] = 0.0
        for u in range(kh):
            for v in range(kw):
                col_row = cols[(c * kh + u) * kw + v]
                x_start = v * dilation_w
                for i in range(h_out):
                    dx_row = plane[i * stride_h + u * dilation_h]
                    col_seg = col_row[i * w_out:(i + 1) * w_out]
                    if stride_w == 1:  # a unit step compiles to SIMD code, a run-time step not
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


def _biggest(image_batch, grad_or_out, w_shape, out_size):
    """The biggest array a GEMM route reads or writes: the batch, or its columns."""
    n_images, c_in = image_batch.shape[:2]
    columns = n_images * c_in * w_shape[2] * w_shape[3] * out_size[0] * out_size[1]
    return max(image_batch.size, grad_or_out.size, columns)


def forward(x_padded, w, stride, dilation, groups, out_size):
    """``out`` (N, C_out, H_out, W_out) of the convolution of ``x_padded`` with ``w`` (no bias).

    Twin of ``functional/conv.py: _forward_numpy``, which sums one einsum per
    kernel tap over strided views. Here: direct loops for depthwise, one GEMM
    per image for pointwise, im2col + GEMM for the rest (see the module docstring).
    """
    n_images, c_in, h_pad, w_pad = x_padded.shape
    c_out, c_per_group, kh, kw = w.shape
    h_out, w_out = out_size
    (stride_h, stride_w), (dilation_h, dilation_w) = stride, dilation
    if _is_depthwise(w.shape):
        return depthwise.forward(x_padded, w, stride, dilation, out_size)
    out = np.empty((n_images, c_out, h_out, w_out), dtype=x_padded.dtype)

    # out[n, g] = W_g @ cols[n, g]: (F_g, K) @ (K, H_out*W_out) per image and group
    w_grouped = w.reshape(groups, c_out // groups, -1)
    out_grouped = out.reshape(n_images, groups, c_out // groups, h_out * w_out)
    if _is_pointwise(w.shape, stride):
        x_grouped = x_padded.reshape(n_images, groups, c_per_group, h_pad * w_pad)

        def images(first, stop):
            np.matmul(w_grouped, x_grouped[first:stop], out=out_grouped[first:stop])
    else:
        def images(first, stop):
            cols = np.empty((c_in * kh * kw, h_out * w_out), dtype=x_padded.dtype)
            for n in range(first, stop):
                _im2col(x_padded[n], kh, kw, stride_h, stride_w, dilation_h, dilation_w,
                        h_out, w_out, cols)
                np.matmul(w_grouped, cols.reshape(groups, -1, h_out * w_out),
                          out=out_grouped[n])

    with single_threaded_blas():
        parallel_for(images, n_images, values=_biggest(x_padded, out, w.shape, out_size))
    return out


def backward_input(grad_out, w, x_padded_shape, stride, dilation, groups):
    """``dx_padded`` (shape ``x_padded_shape``): the gradient with respect to the padded input.

    Twin of ``functional/conv.py: _backward_input_numpy`` (a scatter-add per
    kernel tap): here ``W^T @ dout`` per image, then col2im adds each column
    back onto its pixels; direct loops for depthwise.
    """
    n_images, c_in, h_pad, w_pad = x_padded_shape
    c_out, c_per_group, kh, kw = w.shape
    h_out, w_out = grad_out.shape[2:]
    (stride_h, stride_w), (dilation_h, dilation_w) = stride, dilation
    if _is_depthwise(w.shape):
        return depthwise.backward_input(grad_out, w, x_padded_shape, stride, dilation)
    dx_padded = np.empty(x_padded_shape, dtype=grad_out.dtype)

    # dcols[n, g] = W_g^T @ dout[n, g]: (K, F_g) @ (F_g, H_out*W_out), then col2im
    w_transposed = w.reshape(groups, c_out // groups, -1).transpose(0, 2, 1)
    grad_grouped = grad_out.reshape(n_images, groups, c_out // groups, h_out * w_out)
    if _is_pointwise(w.shape, stride):
        # no windows to undo: dcols is dX itself
        dx_grouped = dx_padded.reshape(n_images, groups, c_per_group, h_pad * w_pad)

        def images(first, stop):
            np.matmul(w_transposed, grad_grouped[first:stop], out=dx_grouped[first:stop])
    else:
        def images(first, stop):
            dcols = np.empty((c_in * kh * kw, h_out * w_out), dtype=grad_out.dtype)
            for n in range(first, stop):
                np.matmul(w_transposed, grad_grouped[n],
                          out=dcols.reshape(groups, -1, h_out * w_out))
                _col2im(dcols, kh, kw, stride_h, stride_w, dilation_h, dilation_w, h_out,
                        w_out, dx_padded[n])

    with single_threaded_blas():
        parallel_for(images, n_images, values=_biggest(dx_padded, grad_out, w.shape,
                                                       (h_out, w_out)))
    return dx_padded


def backward_weight(grad_out, x_padded, w_shape, stride, dilation, groups):
    """``dw`` (shape ``w_shape``): the gradient with respect to the weights.

    Twin of ``functional/conv.py: _backward_weight_numpy`` (one einsum per
    kernel tap): here ``dout @ cols^T`` per image, one slot per image summed at
    the end in a fixed order; direct loops for depthwise.
    """
    n_images, c_in, h_pad, w_pad = x_padded.shape
    c_out, c_per_group, kh, kw = w_shape
    h_out, w_out = grad_out.shape[2:]
    (stride_h, stride_w), (dilation_h, dilation_w) = stride, dilation
    dtype = grad_out.dtype
    if _is_depthwise(w_shape):
        return depthwise.backward_weight(grad_out, x_padded, w_shape, stride, dilation)

    # dW_g = sum_n dout[n, g] @ cols[n, g]^T: (F_g, H_out*W_out) @ (H_out*W_out, K).
    # dW sums over the batch, and threads may not "+=" into one shared dW (a
    # data race): every image's product goes into its own slot of dw_per_image
    # (N copies of dW, small), summed at the end in a fixed order.
    f_per_group = c_out // groups
    grad_grouped = grad_out.reshape(n_images, groups, f_per_group, h_out * w_out)
    dw_per_image = np.empty((n_images, groups, f_per_group, c_per_group * kh * kw), dtype=dtype)
    if _is_pointwise(w_shape, stride):
        x_grouped = x_padded.reshape(n_images, groups, c_per_group, h_pad * w_pad)

        def images(first, stop):
            np.matmul(grad_grouped[first:stop], x_grouped[first:stop].transpose(0, 1, 3, 2),
                      out=dw_per_image[first:stop])
    else:
        def images(first, stop):
            cols = np.empty((c_in * kh * kw, h_out * w_out), dtype=dtype)
            for n in range(first, stop):
                _im2col(x_padded[n], kh, kw, stride_h, stride_w, dilation_h, dilation_w,
                        h_out, w_out, cols)
                cols_transposed = cols.reshape(groups, -1, h_out * w_out).transpose(0, 2, 1)
                np.matmul(grad_grouped[n], cols_transposed, out=dw_per_image[n])

    with single_threaded_blas():
        parallel_for(images, n_images, values=_biggest(x_padded, grad_out, w_shape,
                                                       (h_out, w_out)))
    return dw_per_image.sum(axis=0).reshape(w_shape)
