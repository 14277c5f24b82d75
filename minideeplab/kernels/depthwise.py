r"""The depthwise route of the Numba conv2d (:mod:`minideeplab.kernels.conv` calls these).

A depthwise convolution (one input channel per group, ``w.shape[1] == 1``)
gives each output channel ``f`` a single input channel ``c = f // multiplier``
(``multiplier = C_out // C_in``, 1 for the usual depthwise conv). There is no
sum over channels to hand to a matrix product (its inner dimension would be
only ``kH*kW = 9``), so these are direct loops. Every ``(n, c)`` plane is
independent: the threads share the planes (``_threads.parallel_for``) and no
two write the same one.

**One long row per plane (stride 1).** Output pixel ``(i, j)`` with tap
``(u, v)`` reads ``x_pad[i + u*d_h, j + v*d_w]``, whose index in the flattened
padded plane (``W_pad`` pixels per row) is::

    (i + u*d_h) * W_pad + (j + v*d_w)  =  (i*W_pad + j)  +  (u*d_h*W_pad + v*d_w)
                                             k = "wide" index    offset of the tap

So if a plane's outputs are kept in a *wide* row of ``W_pad`` values per output
row (``wide[i*W_pad + j]``), every tap is ONE loop over ``k``:
``wide[k] += w[u, v] * x_flat[offset + k]``. The columns ``j >= W_out`` of the
wide row are scratch nobody reads, and every read stays inside the plane (the
largest is ``(H_out - 1 + (kH-1)*d_h) * W_pad + W_pad - 1``, the plane's last
pixel). On a 16x16 map a loop over a row runs 16 steps, the wide loop about 290,
which LLVM turns into SIMD instructions: 2-3x faster on every depthwise shape
of the default model (measured). The backward passes use the same wide rows
(the gradient copied into one, with zeros in the scratch columns).

Strided depthwise convs (the first block of a backbone stage) take the plain
route: the loop nest of the docstring, row by row.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._threads import parallel_for

__all__ = ["forward", "backward_input", "backward_weight"]  # called by kernels/conv.py


# Every plane arrives flattened: ``x_flat`` (N, C, H_pad*W_pad), ``out_flat`` (N, C,
# H_out*W_out), ``w_pad`` the width of a padded row. (Flat views are made in
# Python for free; inside Numba, slicing and reshaping generate a lot of code,
# and the first training step waits for the compiler.)

@njit(cache=True, nogil=True, error_model="numpy")
def _to_wide(grad_flat, h_out, w_out, w_pad, grad_wide):
    """Copy one output plane (H_out*W_out values) into ``grad_wide``, ``w_pad`` per row."""
    for i in range(h_out):
        for j in range(w_out):
            grad_wide[i * w_pad + j] = grad_flat[i * w_out + j]


@njit(cache=True, nogil=True, error_model="numpy")
def depthwise_forward(first, stop, x_flat, w, w_pad, h_out, w_out, stride_h, stride_w,
                      dilation_h, dilation_w, out_flat):
    """Depthwise forward, written into ``out`` (N, C_out, H_out, W_out)::

        for (n, f) in planes first ... stop - 1:      # this thread's planes
            for u in range(kH), v in range(kW):
                for i in range(H_out), j in range(W_out):
                    out[n, f, i, j] += w[f, 0, u, v] * x_padded[n, c, i*sh + u*dh, j*sw + v*dw]

    (stride 1: each tap one loop over the wide row, see the module docstring).
    """
    c_out = out_flat.shape[1]
    multiplier = c_out // x_flat.shape[1]
    kh, kw = w.shape[2], w.shape[3]
    unit_stride = stride_h == 1 and stride_w == 1
    span = (h_out - 1) * w_pad + w_out               # wide positions up to the last output
    wide = np.empty(span, dtype=out_flat.dtype)
    for task in range(first, stop):
        n, f = task // c_out, task % c_out
        x_plane, out_plane = x_flat[n, f // multiplier], out_flat[n, f]
        if unit_stride:
            for k in range(span):
                wide[k] = 0.0
            for u in range(kh):
                for v in range(kw):
                    weight = w[f, 0, u, v]
                    x_tap = x_plane[u * dilation_h * w_pad + v * dilation_w:]
                    for k in range(span):    # k from 0 on a slice: no negative-index checks
                        wide[k] += weight * x_tap[k]
            for i in range(h_out):
                for j in range(w_out):
                    out_plane[i * w_out + j] = wide[i * w_pad + j]
        else:
            for k in range(h_out * w_out):
                out_plane[k] = 0.0
            for u in range(kh):
                for v in range(kw):
                    weight = w[f, 0, u, v]
                    for i in range(h_out):
                        row = (i * stride_h + u * dilation_h) * w_pad + v * dilation_w
                        for j in range(w_out):
                            out_plane[i * w_out + j] += weight * x_plane[row + j * stride_w]


@njit(cache=True, nogil=True, error_model="numpy")
def depthwise_backward_input(first, stop, grad_flat, w, h_out, w_out, w_pad, stride_h,
                             stride_w, dilation_h, dilation_w, dx_flat):
    """Depthwise dX, written into ``dx_padded`` (N, C_in, H_pad, W_pad).

    Every output pixel sends its gradient back through the taps that read it::

        for (n, c) in planes first ... stop - 1:      # this thread's planes of dX
            dx_padded[n, c] = 0
            for f in output channels reading c:      # c*multiplier ... (c+1)*multiplier - 1
                for u in range(kH), v in range(kW):
                    for i in range(H_out), j in range(W_out):
                        dx_padded[n, c, i*sh + u*dh, j*sw + v*dw] += \
                            w[f, 0, u, v] * grad_out[n, f, i, j]

    Iterating over the *input* plane that receives the sum (rather than over
    output pixels) means each thread writes only its own planes: the ``+=``
    never races. Stride 1: ``dx_flat[offset + k] += w[u, v] * grad_wide[k]``.
    """
    c_in, plane_size = dx_flat.shape[1], dx_flat.shape[2]
    multiplier = grad_flat.shape[1] // c_in
    kh, kw = w.shape[2], w.shape[3]
    unit_stride = stride_h == 1 and stride_w == 1
    span = (h_out - 1) * w_pad + w_out
    grad_wide = np.zeros(span, dtype=grad_flat.dtype)  # its scratch columns stay 0
    for task in range(first, stop):
        n, c = task // c_in, task % c_in
        dx_plane = dx_flat[n, c]
        for k in range(plane_size):
            dx_plane[k] = 0.0
        for f in range(c * multiplier, (c + 1) * multiplier):
            grad_plane = grad_flat[n, f]
            if unit_stride:
                _to_wide(grad_plane, h_out, w_out, w_pad, grad_wide)
                for u in range(kh):
                    for v in range(kw):
                        weight = w[f, 0, u, v]
                        dx_tap = dx_plane[u * dilation_h * w_pad + v * dilation_w:]
                        for k in range(span):
                            dx_tap[k] += weight * grad_wide[k]
            else:
                for u in range(kh):
                    for v in range(kw):
                        weight = w[f, 0, u, v]
                        for i in range(h_out):
                            row = (i * stride_h + u * dilation_h) * w_pad + v * dilation_w
                            for j in range(w_out):
                                dx_plane[row + j * stride_w] += weight * grad_plane[i * w_out + j]


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def depthwise_backward_weight(first, stop, grad_flat, x_flat, h_out, w_out, w_pad, stride_h,
                              stride_w, dilation_h, dilation_w, dw_per_image):
    """Depthwise dW, one partial sum per image, into ``dw_per_image`` (N, C_out, 1, kH, kW)::

        for (n, f) in planes first ... stop - 1:      # one image's share of dW[f]
            for u in range(kH), v in range(kW):
                dw_per_image[n, f, 0, u, v] = sum_{i, j} grad_out[n, f, i, j] * \
                    x_padded[n, c, i*sh + u*dh, j*sw + v*dw]

    dW[f] sums over the batch, and threads sharing the images may not ``+=``
    into one shared dW (two threads would read, add and write the same entry:
    a data race). So each (n, f) plane owns its slot of ``dw_per_image`` and
    the caller sums over ``n`` afterwards. Stride 1: each sum is one dot
    product of ``grad_wide`` with the tap's part of the flat plane.

    ``fastmath={"reassoc"}`` lets LLVM add the terms of a sum in another order
    (in SIMD lanes, then the lanes together): the same sum up to rounding, and
    the only way a floating-point sum becomes SIMD code.
    """
    c_out = grad_flat.shape[1]
    multiplier = c_out // x_flat.shape[1]
    kh, kw = dw_per_image.shape[3], dw_per_image.shape[4]
    unit_stride = stride_h == 1 and stride_w == 1
    span = (h_out - 1) * w_pad + w_out
    grad_wide = np.zeros(span, dtype=grad_flat.dtype)
    for task in range(first, stop):
        n, f = task // c_out, task % c_out
        x_plane, grad_plane = x_flat[n, f // multiplier], grad_flat[n, f]
        if unit_stride:
            _to_wide(grad_plane, h_out, w_out, w_pad, grad_wide)
        for u in range(kh):
            for v in range(kw):
                total = 0.0
                if unit_stride:
                    x_tap = x_plane[u * dilation_h * w_pad + v * dilation_w:]
                    for k in range(span):
                        total += grad_wide[k] * x_tap[k]
                else:
                    for i in range(h_out):
                        row = (i * stride_h + u * dilation_h) * w_pad + v * dilation_w
                        for j in range(w_out):
                            total += grad_plane[i * w_out + j] * x_plane[row + j * stride_w]
                dw_per_image[n, f, 0, u, v] = total


# ------------------------------------------------------------ called by kernels/conv.py

def _flat(a):
    """View (N, C, H, W) as (N, C, H*W): every plane one contiguous row."""
    return a.reshape(a.shape[0], a.shape[1], -1)


def forward(x_padded, w, stride, dilation, out_size):
    """``out`` (N, C_out, H_out, W_out) of a depthwise convolution, threads sharing the planes."""
    n_images, c_out = x_padded.shape[0], w.shape[0]
    out = np.empty((n_images, c_out, *out_size), dtype=x_padded.dtype)
    parallel_for(depthwise_forward, n_images * c_out, _flat(x_padded), w, x_padded.shape[3],
                 *out_size, *stride, *dilation, _flat(out), values=max(x_padded.size, out.size))
    return out


def backward_input(grad_out, w, x_padded_shape, stride, dilation):
    """``dx_padded`` (``x_padded_shape``) of a depthwise convolution."""
    dx_padded = np.empty(x_padded_shape, dtype=grad_out.dtype)
    parallel_for(depthwise_backward_input, x_padded_shape[0] * x_padded_shape[1],
                 _flat(grad_out), w, *grad_out.shape[2:], x_padded_shape[3], *stride, *dilation,
                 _flat(dx_padded), values=dx_padded.size)
    return dx_padded


def backward_weight(grad_out, x_padded, w_shape, stride, dilation):
    """``dw`` (``w_shape``) of a depthwise convolution: per-image slots, summed in order."""
    n_images = x_padded.shape[0]
    dw_per_image = np.empty((n_images, *w_shape), dtype=grad_out.dtype)
    parallel_for(depthwise_backward_weight, n_images * w_shape[0], _flat(grad_out),
                 _flat(x_padded), *grad_out.shape[2:], x_padded.shape[3], *stride, *dilation,
                 dw_per_image, values=x_padded.size)
    return dw_per_image.sum(axis=0)
