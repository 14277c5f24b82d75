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

__all__ = []          # used by kernels/conv.py only


@njit(cache=True, nogil=True)
def _to_wide(plane, wide, w_pad):
    """Copy ``plane`` (H, W) into ``wide`` with ``w_pad`` values per row (scratch untouched)."""
    for i in range(plane.shape[0]):
        wide_row = wide[i * w_pad:]
        for j in range(plane.shape[1]):
            wide_row[j] = plane[i, j]


@njit(cache=True, nogil=True)
def depthwise_forward(first, stop, x_padded, w, stride_h, stride_w, dilation_h, dilation_w,
                      out):
    """Depthwise forward, written into ``out`` (N, C_out, H_out, W_out)::

        for (n, f) in planes first ... stop - 1:      # this thread's planes
            for u in range(kH), v in range(kW):
                for i in range(H_out), j in range(W_out):
                    out[n, f, i, j] += w[f, 0, u, v] * x_padded[n, c, i*sh + u*dh, j*sw + v*dw]

    (stride 1: each tap one loop over the wide row, see the module docstring).
    """
    c_out, h_out, w_out = out.shape[1], out.shape[2], out.shape[3]
    multiplier = c_out // x_padded.shape[1]
    kh, kw, w_pad = w.shape[2], w.shape[3], x_padded.shape[3]
    unit_stride = stride_h == 1 and stride_w == 1
    span = (h_out - 1) * w_pad + w_out               # wide positions up to the last output
    wide = np.empty(span, dtype=out.dtype)
    for task in range(first, stop):
        n, f = task // c_out, task % c_out
        x_plane = x_padded[n, f // multiplier]
        plane = out[n, f]
        if unit_stride:
            x_flat = x_plane.ravel()
            wide[:] = 0.0
            for u in range(kh):
                for v in range(kw):
                    weight = w[f, 0, u, v]
                    x_tap = x_flat[u * dilation_h * w_pad + v * dilation_w:]
                    for k in range(span):
                        wide[k] += weight * x_tap[k]
            for i in range(h_out):
                plane[i, :] = wide[i * w_pad:i * w_pad + w_out]
        else:
            plane[:, :] = 0.0
            for u in range(kh):
                for v in range(kw):
                    weight = w[f, 0, u, v]
                    for i in range(h_out):
                        x_row = x_plane[i * stride_h + u * dilation_h]
                        for j in range(w_out):
                            plane[i, j] += weight * x_row[j * stride_w + v * dilation_w]


@njit(cache=True, nogil=True)
def depthwise_backward_input(first, stop, grad_out, w, stride_h, stride_w, dilation_h,
                             dilation_w, dx_padded):
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
    c_in = dx_padded.shape[1]
    c_out, h_out, w_out = grad_out.shape[1], grad_out.shape[2], grad_out.shape[3]
    multiplier = c_out // c_in
    kh, kw, w_pad = w.shape[2], w.shape[3], dx_padded.shape[3]
    unit_stride = stride_h == 1 and stride_w == 1
    span = (h_out - 1) * w_pad + w_out
    grad_wide = np.zeros(span, dtype=grad_out.dtype)   # its scratch columns stay 0
    for task in range(first, stop):
        n, c = task // c_in, task % c_in
        plane = dx_padded[n, c]
        plane[:, :] = 0.0
        dx_flat = plane.ravel()
        for f in range(c * multiplier, (c + 1) * multiplier):
            if unit_stride:
                _to_wide(grad_out[n, f], grad_wide, w_pad)
                for u in range(kh):
                    for v in range(kw):
                        weight = w[f, 0, u, v]
                        dx_tap = dx_flat[u * dilation_h * w_pad + v * dilation_w:]
                        for k in range(span):
                            dx_tap[k] += weight * grad_wide[k]
            else:
                for u in range(kh):
                    for v in range(kw):
                        weight = w[f, 0, u, v]
                        for i in range(h_out):
                            grad_row = grad_out[n, f, i]
                            dx_row = plane[i * stride_h + u * dilation_h]
                            for j in range(w_out):
                                dx_row[j * stride_w + v * dilation_w] += weight * grad_row[j]


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def depthwise_backward_weight(first, stop, grad_out, x_padded, stride_h, stride_w, dilation_h,
                              dilation_w, dw_per_image):
    """Depthwise dW, one partial sum per image, into ``dw_per_image`` (N, C_out, 1, kH, kW)::

        for (n, f) in planes first ... stop - 1:      # one image's share of dW[f]
            for u in range(kH), v in range(kW):
                dw_per_image[n, f, 0, u, v] = sum_{i, j} grad_out[n, f, i, j] * \
                    x_padded[n, c, i*sh + u*dh, j*sw + v*dw]

    dW[f] sums over the batch, and threads sharing the images may not ``+=``
    into one shared dW (two threads would read, add and write the same entry:
    a data race). So each (n, f) plane owns its slot of ``dw_per_image`` and
    the caller sums over ``n`` afterwards. Stride 1: each sum is one dot
    product of ``grad_wide`` with the tap's slice of the flat plane.

    ``fastmath={"reassoc"}`` lets LLVM add the terms of a sum in a different
    order (in SIMD lanes, then the lanes together): the same sum to rounding,
    and the only way a floating-point sum becomes SIMD code.
    """
    c_out, h_out, w_out = grad_out.shape[1], grad_out.shape[2], grad_out.shape[3]
    multiplier = c_out // x_padded.shape[1]
    kh, kw, w_pad = dw_per_image.shape[3], dw_per_image.shape[4], x_padded.shape[3]
    unit_stride = stride_h == 1 and stride_w == 1
    span = (h_out - 1) * w_pad + w_out
    grad_wide = np.zeros(span, dtype=grad_out.dtype)
    for task in range(first, stop):
        n, f = task // c_out, task % c_out
        x_plane = x_padded[n, f // multiplier]
        x_flat = x_plane.ravel()
        if unit_stride:
            _to_wide(grad_out[n, f], grad_wide, w_pad)
        for u in range(kh):
            for v in range(kw):
                total = 0.0
                if unit_stride:
                    x_tap = x_flat[u * dilation_h * w_pad + v * dilation_w:]
                    for k in range(span):
                        total += grad_wide[k] * x_tap[k]
                else:
                    for i in range(h_out):
                        grad_row = grad_out[n, f, i]
                        x_row = x_plane[i * stride_h + u * dilation_h]
                        for j in range(w_out):
                            total += grad_row[j] * x_row[j * stride_w + v * dilation_w]
                dw_per_image[n, f, 0, u, v] = total
