r"""Winograd's minimal filtering F(2x2, 3x3): a dense 3x3 convolution in 16 products per 4 outputs.

A route of :mod:`minideeplab.kernels.conv` for 3x3 convolutions at stride 1 and
dilation 1 (no groups): same numbers as the NumPy reference up to rounding,
2.25x fewer multiplications than the direct sum (Lavin and Gray, "Fast
Algorithms for Convolutional Neural Networks", CVPR 2016).

**The 1-D idea.** Two outputs of a 3-tap filter ``g`` on four inputs ``d``,
``y0 = d0 g0 + d1 g1 + d2 g2`` and ``y1 = d1 g0 + d2 g1 + d3 g2``, take 6
multiplications. Winograd computes them with 4::

    m0 = (d0 - d2) g0          m1 = (d1 + d2) (g0 + g1 + g2) / 2
    m3 = (d1 - d3) g2          m2 = (d2 - d1) (g0 - g1 + g2) / 2
    y0 = m0 + m1 + m2          y1 = m1 - m2 - m3

(expand to check). In matrices: ``y = A^T [(G g) * (B^T d)]`` with ``*``
elementwise and::

    B^T = [[1, 0, -1, 0],   G = [[1,    0,   0 ],   A^T = [[1, 1,  1,  0],
           [0, 1,  1, 0],        [1/2, 1/2, 1/2],          [0, 1, -1, -1]]
           [0, -1, 1, 0],        [1/2,-1/2, 1/2],
           [0, 1,  0, -1]]       [0,    0,   1 ]]

**In 2-D** the same matrices act on the rows and the columns: a 2x2 tile of
outputs reads a 4x4 tile ``d`` of the input, and
``Y = A^T [U * V] A`` with ``U = G g G^T`` (the 3x3 weights made 4x4) and
``V = B^T d B``: 16 multiplications instead of 36. Summed over the input
channels, the 16 elementwise products become 16 matrix products, one per
position ``(a, e)`` of the 4x4 tile::

    M[a, e] = U[a, e] @ V[a, e]      (C_out, C_in) @ (C_in, tiles)

so the arithmetic still runs in BLAS, on 2.25x fewer multiply-adds than
im2col's single product. The price: transforms before and after (additions
only), and rounding that differs a little from the direct sum (about 1e-7
relative in float32, 1e-15 in float64).

**dX** is the forward pass of ``dout`` with the kernel flipped and its
channels swapped, padded ``2 - p`` (the transposed convolution of a stride-1
conv is again a stride-1 conv), so it takes this route too. **dW** stays on
im2col: differentiating ``Y = A^T M A`` gives ``dU[a, e] = dM[a, e] @ V[a, e]^T``
summed over the tiles, a product BLAS ran at 66-69 GFLOP/s in that transposed
form (111 for the forward's), and the whole dW measured 0.86x im2col's time on
64 channels at 64x64 but 1.2-1.6x on 16x16 and 8x8 maps: not worth a third route.

**Layout.** The tiles of one image are taken a band of tile rows at a time
(about :data:`BAND_TILES` tiles, so that V and M stay in the core's cache);
tile ``t`` of a band is (tile row ``i``, tile column ``b``), reading the
padded input's rows ``2i ... 2i+3`` and columns ``2b ... 2b+3``; the padded
image is one zeroed buffer per thread, whose centre is refilled for each image.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._threads import parallel_for, single_threaded_blas

__all__ = ["applies", "forward", "backward_input"]

# Tiles per band: V and M of a band (16 x 64 channels x 128 tiles in float32: 0.5 MB
# each) stay in cache; the 16 products ran at 111 GFLOP/s on one core at 128 tiles,
# 90 at 256 (measured on a dense 3x3 conv of 64 channels).
BAND_TILES = 128
# With fewer channels or smaller maps the transforms and the 16 small products cost
# more than the multiplications they save. Measured forward time against im2col's,
# 2 threads, batch 8, C in = C out: 0.57x at 64 channels on 64x64, 0.76x on 32x32,
# 1.28x on 16x16, 1.85x on 8x8; 0.85x at 16 channels on 32x32, 1.03x at 8 on 64x64.
MIN_CHANNELS = 16
MIN_SIZE = 32


def applies(w_shape, stride, padding, dilation, groups, out_size):
    """Whether this route computes the convolution: 3x3, stride 1, dilation 1, no groups,
    padding 0-2 (dX's padding ``2 - p`` must not be negative), at least
    :data:`MIN_CHANNELS` channels in and out, an output of at least :data:`MIN_SIZE`
    pixels a side."""
    return (tuple(w_shape[2:]) == (3, 3) and stride == (1, 1) and dilation == (1, 1)
            and groups == 1 and max(padding) <= 2 and min(w_shape[:2]) >= MIN_CHANNELS
            and min(out_size) >= MIN_SIZE)


# ============================================================== the transforms

@njit(cache=True, nogil=True, error_model="numpy")
def _input_transform(x_pad, first_tile_row, tile_rows, tile_cols, rows4, v):
    """``v[4a + e, c, t] = (B^T d B)[a, e]`` for the tiles ``t`` of a band.

    ``d`` is tile ``t = i*tile_cols + b``'s 4x4 window of ``x_pad[c]``, rows
    ``2(first_tile_row + i) ...`` and columns ``2b ...``. First ``B^T`` down
    the window's columns (each of its 4 rows in ``rows4``: ``rows4[k, e, b] =
    (d B)[k, e]``, every tile of the tile row at once), then ``B^T`` across::

        (d B)[:, 0] = d[:, 0] - d[:, 2]      (B^T d)[0] = d[0] - d[2]
        (d B)[:, 1] = d[:, 1] + d[:, 2]      (B^T d)[1] = d[1] + d[2]
        (d B)[:, 2] = d[:, 2] - d[:, 1]      (B^T d)[2] = d[2] - d[1]
        (d B)[:, 3] = d[:, 1] - d[:, 3]      (B^T d)[3] = d[1] - d[3]
    """
    for c in range(x_pad.shape[0]):
        for i in range(tile_rows):
            for k in range(4):
                row = x_pad[c, 2 * (first_tile_row + i) + k]
                r0, r1, r2, r3 = rows4[k, 0], rows4[k, 1], rows4[k, 2], rows4[k, 3]
                for b in range(tile_cols):
                    r0[b] = row[2 * b] - row[2 * b + 2]
                    r1[b] = row[2 * b + 1] + row[2 * b + 2]
                    r2[b] = row[2 * b + 2] - row[2 * b + 1]
                    r3[b] = row[2 * b + 1] - row[2 * b + 3]
            t = i * tile_cols
            for e in range(4):
                d0, d1, d2, d3 = rows4[0, e], rows4[1, e], rows4[2, e], rows4[3, e]
                v0, v1, v2, v3 = v[e, c, t:], v[4 + e, c, t:], v[8 + e, c, t:], v[12 + e, c, t:]
                for b in range(tile_cols):
                    v0[b] = d0[b] - d2[b]
                    v1[b] = d1[b] + d2[b]
                    v2[b] = d2[b] - d1[b]
                    v3[b] = d1[b] - d3[b]


@njit(cache=True, nogil=True, error_model="numpy")
def _output_transform(m, first_tile_row, tile_rows, tile_cols, rows2, out):
    """``out[k]``'s 2x2 tiles of the band: ``Y = A^T M A``, clipped to ``out``'s size.

    First ``A^T`` down the tile (``rows2[a, e, b] = (A^T M)[a, e]``), then across::

        (A^T M)[0] = M[0] + M[1] + M[2]      Y[:, 0] = S[:, 0] + S[:, 1] + S[:, 2]
        (A^T M)[1] = M[1] - M[2] - M[3]      Y[:, 1] = S[:, 1] - S[:, 2] - S[:, 3]
    """
    k_out, h_out, w_out = out.shape
    pairs = min(tile_cols, w_out // 2)       # tiles whose two columns lie in out
    for k in range(k_out):
        for i in range(tile_rows):
            t = i * tile_cols
            for e in range(4):
                m0, m1, m2, m3 = m[e, k, t:], m[4 + e, k, t:], m[8 + e, k, t:], m[12 + e, k, t:]
                top, bottom = rows2[0, e], rows2[1, e]
                for b in range(tile_cols):
                    top[b] = m0[b] + m1[b] + m2[b]
                    bottom[b] = m1[b] - m2[b] - m3[b]
            for a in range(2):
                y = 2 * (first_tile_row + i) + a
                if y >= h_out:
                    break
                s0, s1, s2, s3 = rows2[a, 0], rows2[a, 1], rows2[a, 2], rows2[a, 3]
                row = out[k, y]
                for b in range(pairs):
                    row[2 * b] = s0[b] + s1[b] + s2[b]
                    row[2 * b + 1] = s1[b] - s2[b] - s3[b]
                if w_out % 2 == 1:                 # an odd width: the last tile's left column
                    row[w_out - 1] = s0[pairs] + s1[pairs] + s2[pairs]


# ===================================================== the weights' transform

@njit(cache=True, nogil=True, error_model="numpy")
def _weight_transform(w, u):
    """``u[4a + e, k, c] = (G g G^T)[a, e]`` for every 3x3 kernel ``g = w[k, c]``.

    ``G`` turns 3 taps into 4: ``G [g0, g1, g2] = [g0, (g0+g1+g2)/2, (g0-g1+g2)/2, g2]``,
    down each of g's columns, then across each row of the result.
    """
    gg = np.empty((4, 3), dtype=u.dtype)
    for k in range(w.shape[0]):
        for c in range(w.shape[1]):
            g = w[k, c]
            for v in range(3):
                gg[0, v] = g[0, v]
                gg[1, v] = (g[0, v] + g[1, v] + g[2, v]) * 0.5
                gg[2, v] = (g[0, v] - g[1, v] + g[2, v]) * 0.5
                gg[3, v] = g[2, v]
            for a in range(4):
                u[4 * a, k, c] = gg[a, 0]
                u[4 * a + 1, k, c] = (gg[a, 0] + gg[a, 1] + gg[a, 2]) * 0.5
                u[4 * a + 2, k, c] = (gg[a, 0] - gg[a, 1] + gg[a, 2]) * 0.5
                u[4 * a + 3, k, c] = gg[a, 2]


# ================================================================ the passes

def _tiles(out_size):
    """Tile rows and tile columns: 2x2 tiles covering the output (the last may overhang)."""
    return -(-out_size[0] // 2), -(-out_size[1] // 2)


def _bands(tile_rows, tile_cols, band_tiles):
    """``(first tile row, tile rows)`` of each band of about ``band_tiles`` tiles."""
    per_band = max(1, band_tiles // tile_cols)
    for first in range(0, tile_rows, per_band):
        yield first, min(per_band, tile_rows - first)


def _mult_adds(n_images, c_out, c_in, tiles):
    # the 16 products per tile: what the thread rule is told to expect
    return n_images * 16 * c_out * c_in * tiles[0] * tiles[1]


def forward(x, w, padding, out_size):
    """``out`` (N, C_out, H_out, W_out): the convolution of ``x`` with the 3x3 ``w``."""
    n_images, c_in, _, _ = x.shape
    c_out = w.shape[0]
    tiles = _tiles(out_size)
    # U[4a + e] = (G g G^T)[a, e]. A compiled loop: written with np.tensordot it ran in
    # OpenBLAS's own threads, which kept spinning after it and held our second thread back
    # 1-3 ms (the whole call ran on one core, measured); NumPy's elementwise form took 2 ms
    u = np.empty((16, c_out, c_in), dtype=x.dtype)
    _weight_transform(np.ascontiguousarray(w), u)
    out = np.empty((n_images, c_out, *out_size), dtype=x.dtype)
    per_band = max(1, BAND_TILES // tiles[1]) * tiles[1]

    def images(first, stop):
        # room for every tile's 4x4 window (at least x with its padding); the border stays 0
        x_pad = np.zeros((c_in, 2 * tiles[0] + 2, 2 * tiles[1] + 2), dtype=x.dtype)
        centre = x_pad[:, padding[0]:padding[0] + x.shape[2], padding[1]:padding[1] + x.shape[3]]
        v_buffer = np.empty(16 * c_in * per_band, dtype=x.dtype)
        m_buffer = np.empty(16 * c_out * per_band, dtype=x.dtype)
        rows = np.empty((4, 4, tiles[1]), dtype=x.dtype)
        for n in range(first, stop):
            centre[...] = x[n]
            for row, n_rows in _bands(*tiles, BAND_TILES):
                t = n_rows * tiles[1]
                v = v_buffer[:16 * c_in * t].reshape(16, c_in, t)
                m = m_buffer[:16 * c_out * t].reshape(16, c_out, t)
                _input_transform(x_pad, row, n_rows, tiles[1], rows, v)
                np.matmul(u, v, out=m)
                _output_transform(m, row, n_rows, tiles[1], rows, out[n])

    with single_threaded_blas():
        parallel_for(images, n_images, work=_mult_adds(n_images, c_out, c_in, tiles))
    return out


def backward_input(grad_out, w, x_shape, padding):
    """``dx``: the forward pass of ``dout`` with ``w`` flipped and transposed, padded ``2 - p``."""
    w_flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    return forward(grad_out, w_flipped, (2 - padding[0], 2 - padding[1]), tuple(x_shape[2:]))
