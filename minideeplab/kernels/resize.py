"""Numba twins of the bilinear resize hot loops (see :mod:`minideeplab.functional.resize`).

Same signatures and the same numbers as the NumPy reference, which multiplies by
dense interpolation matrices; here we visit only the four taps of every output
pixel. ``rows`` and ``cols`` are the per-axis taps
``(index0, index1, weight0, weight1)`` from
:func:`minideeplab.functional.resize.axis_interpolation`.

Both loop nests run one (n, c) plane per parallel iteration. The forward pass
gathers (each output pixel is written once by its own plane). The backward pass
*scatters*: several output pixels add into the same input pixel, so the
iterations must not share input pixels. Planes do not: plane (n, c) of ``dout``
only ever touches plane (n, c) of ``dx``, so parallelising over planes is
race-free, while parallelising over output rows would not be.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import _threads  # noqa: F401  (chooses the threading layer before any prange)

__all__ = ["forward", "backward"]


@njit(cache=True, parallel=True)
def _forward(x, row_index0, row_index1, row_weight0, row_weight1,
             col_index0, col_index1, col_weight0, col_weight1, out):
    """for plane (n, c) (parallel), i, j:
        out[n,c,i,j] = wh0[i] (ww0[j] x[h0[i], w0[j]] + ww1[j] x[h0[i], w1[j]])
                     + wh1[i] (ww0[j] x[h1[i], w0[j]] + ww1[j] x[h1[i], w1[j]])
    """
    n_batch, channels = x.shape[0], x.shape[1]
    h_out, w_out = out.shape[2], out.shape[3]
    for plane in prange(n_batch * channels):
        n = plane // channels
        c = plane % channels
        for i in range(h_out):
            top = row_index0[i]
            bottom = row_index1[i]
            for j in range(w_out):
                left = col_index0[j]
                right = col_index1[j]
                upper = col_weight0[j] * x[n, c, top, left] + col_weight1[j] * x[n, c, top, right]
                lower = (col_weight0[j] * x[n, c, bottom, left]
                         + col_weight1[j] * x[n, c, bottom, right])
                out[n, c, i, j] = row_weight0[i] * upper + row_weight1[i] * lower


@njit(cache=True, parallel=True)
def _backward(dout, row_index0, row_index1, row_weight0, row_weight1,
              col_index0, col_index1, col_weight0, col_weight1, dx):
    """for plane (n, c) (parallel), i, j: scatter dout[n,c,i,j] to its four taps,
        dx[n,c,h_a(i),w_b(j)] += wh_a[i] ww_b[j] dout[n,c,i,j]       (a, b in {0, 1})
    dx must start at zero.
    """
    n_batch, channels = dout.shape[0], dout.shape[1]
    h_out, w_out = dout.shape[2], dout.shape[3]
    for plane in prange(n_batch * channels):
        n = plane // channels
        c = plane % channels
        for i in range(h_out):
            top = row_index0[i]
            bottom = row_index1[i]
            for j in range(w_out):
                left = col_index0[j]
                right = col_index1[j]
                grad_upper = row_weight0[i] * dout[n, c, i, j]
                grad_lower = row_weight1[i] * dout[n, c, i, j]
                dx[n, c, top, left] += col_weight0[j] * grad_upper
                dx[n, c, top, right] += col_weight1[j] * grad_upper
                dx[n, c, bottom, left] += col_weight0[j] * grad_lower
                dx[n, c, bottom, right] += col_weight1[j] * grad_lower


def forward(x, rows, cols):
    """Bilinear resize of ``x`` (N, C, H, W) to (N, C, len(rows[0]), len(cols[0]))."""
    out = np.empty((x.shape[0], x.shape[1], len(rows[0]), len(cols[0])), dtype=x.dtype)
    _forward(x, *rows, *cols, out)
    return out


def backward(dout, rows, cols, x_shape):
    """Gradient of the input, shaped ``x_shape``, given ``dout`` (N, C, H_out, W_out)."""
    dx = np.zeros(x_shape, dtype=dout.dtype)
    _backward(dout, *rows, *cols, dx)
    return dx
