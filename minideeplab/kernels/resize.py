"""Numba twins of the bilinear resize hot loops (see :mod:`minideeplab.functional.resize`).

Same signatures and the same numbers as the NumPy reference, which multiplies by
dense interpolation matrices; here we visit only the two taps per axis of every
output pixel. ``rows`` and ``cols`` are the per-axis taps
``(index0, index1, weight0, weight1)`` from
:func:`minideeplab.functional.resize.bilinear_taps`.

Both loop nests run over (n, c) planes, each thread a slice of them
(``_threads.parallel_for``), and both use that
bilinear interpolation is separable: interpolate along the rows, then combine
rows. The forward pass gathers (each output pixel is written once by its own
plane). The backward pass *scatters*: several output pixels add into the same
input pixel, so the threads must not share input pixels. Planes do not:
plane (n, c) of ``dout`` only ever touches plane (n, c) of ``dx``, so sharing
the planes among threads is race-free, while sharing output rows would not be.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._threads import parallel_for

__all__ = ["forward", "backward"]


@njit(cache=True, nogil=True, error_model="numpy")
def _forward(first, stop, x, row_index0, row_index1, row_weight0, row_weight1,
             col_index0, col_index1, col_weight0, col_weight1, out):
    """Bilinear interpolation is separable: first along the rows, then along the columns::

        for plane (n, c) in range(first, stop):                   # this thread's planes
            rows_done[h, j] = ww0[j] x[n,c,h,w0[j]] + ww1[j] x[n,c,h,w1[j]]   for every input row h
            out[n,c,i, :]   = wh0[i] rows_done[h0[i], :] + wh1[i] rows_done[h1[i], :]

    which is the four-tap formula ``wh0 (ww0 x00 + ww1 x01) + wh1 (ww0 x10 + ww1 x11)``
    with the same operations in the same order, but each input row is interpolated
    once rather than once per output row that reads it, and the second pass
    combines whole rows (unit steps, so it compiles to SIMD instructions).
    """
    channels, h_in = x.shape[1], x.shape[2]
    h_out, w_out = out.shape[2], out.shape[3]
    rows_done = np.empty((h_in, w_out), dtype=out.dtype)         # one per thread
    for plane in range(first, stop):
        n = plane // channels
        c = plane % channels
        for h in range(h_in):
            x_row = x[n, c, h]
            for j in range(w_out):
                rows_done[h, j] = (col_weight0[j] * x_row[col_index0[j]]
                                   + col_weight1[j] * x_row[col_index1[j]])
        for i in range(h_out):
            top, bottom = row_index0[i], row_index1[i]
            weight_top, weight_bottom = row_weight0[i], row_weight1[i]
            for j in range(w_out):
                out[n, c, i, j] = (weight_top * rows_done[top, j]
                                   + weight_bottom * rows_done[bottom, j])


@njit(cache=True, nogil=True, error_model="numpy")
def _backward(first, stop, dout, row_index0, row_index1, row_weight0, row_weight1,
              col_index0, col_index1, col_weight0, col_weight1, dx):
    """The two passes of the forward, transposed and in reverse order::

        for plane (n, c) in range(first, stop):                   # this thread's planes
            grad_rows[h0[i], :] += wh0[i] dout[n,c,i,:]    (and wh1[i] into row h1[i])
            dx[n,c,h,w0[j]] += ww0[j] grad_rows[h, j]      (and ww1[j] into column w1[j])

    Both passes *scatter* (several outputs add into one input), so the
    threads must not share inputs: plane (n, c) of ``dout`` only ever
    touches plane (n, c) of ``dx``, so slices of planes are race-free.
    ``dx`` must start at zero.
    """
    channels, h_in = dx.shape[1], dx.shape[2]
    h_out, w_out = dout.shape[2], dout.shape[3]
    grad_rows = np.empty((h_in, w_out), dtype=dx.dtype)          # one per thread
    for plane in range(first, stop):
        n = plane // channels
        c = plane % channels
        for h in range(h_in):
            for j in range(w_out):
                grad_rows[h, j] = 0.0
        for i in range(h_out):
            top, bottom = row_index0[i], row_index1[i]
            weight_top, weight_bottom = row_weight0[i], row_weight1[i]
            for j in range(w_out):
                grad = dout[n, c, i, j]
                grad_rows[top, j] += weight_top * grad
                grad_rows[bottom, j] += weight_bottom * grad
        for h in range(h_in):
            dx_row = dx[n, c, h]
            for j in range(w_out):
                dx_row[col_index0[j]] += col_weight0[j] * grad_rows[h, j]
                dx_row[col_index1[j]] += col_weight1[j] * grad_rows[h, j]


def forward(x, rows, cols):
    """Bilinear resize of ``x`` (N, C, H, W) to (N, C, len(rows[0]), len(cols[0])).

    Twin of ``functional/resize.py: _forward_numpy``, which multiplies by two
    interpolation matrices (``A_h @ x @ A_w^T``, mostly zeros); here each output
    reads only its two source rows and two source columns, in two passes.
    """
    out = np.empty((x.shape[0], x.shape[1], len(rows[0]), len(cols[0])), dtype=x.dtype)
    parallel_for(_forward, x.shape[0] * x.shape[1], x, *rows, *cols, out,
                 work=max(x.size, out.size))
    return out


def backward(dout, rows, cols, x_shape):
    """Gradient of the input, shaped ``x_shape``, given ``dout`` (N, C, H_out, W_out).

    Twin of ``functional/resize.py: _backward_numpy`` (``A_h^T @ dout @ A_w``):
    the same transpose, as a scatter of each output's gradient onto its two
    source rows and columns instead of products with mostly-zero matrices.
    """
    dx = np.zeros(x_shape, dtype=dout.dtype)
    parallel_for(_backward, dout.shape[0] * dout.shape[1], dout, *rows, *cols, dx,
                 work=max(dout.size, dx.size))
    return dx
