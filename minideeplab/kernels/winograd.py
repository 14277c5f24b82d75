r"""Winograd's minimal filtering F(3x3, 3x3): a 3x3 convolution in 25 products per 9 outputs.

A route of :mod:`minideeplab.kernels.conv` for 3x3 convolutions at stride 1,
dense or atrous (no groups): same numbers as the NumPy reference up to rounding,
with 25 multiplications for every 3x3 tile of outputs instead of the direct
sum's 81 (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks",
CVPR 2016; the points below are Toom-Cook's 0, 1, -1, 2 and infinity).

**The 1-D idea.** Three outputs of a 3-tap filter ``g`` on five inputs ``d``,
``y_i = d_i g0 + d_(i+1) g1 + d_(i+2) g2`` for i = 0, 1, 2, take 9
multiplications. Winograd computes them with 5: transform the inputs
(``b = B^T d``) and the filter (``h = G g``), multiply elementwise
(``m = b * h``: the 5 products), and transform back (``y = A^T m``)::

    b0 = 2 d0 - d1 - 2 d2 + d3          h0 = g0 / 2
    b1 = -2 d1 - d2 + d3                h1 = -(g0 + g1 + g2) / 2
    b2 = 2 d1 - 3 d2 + d3               h2 = (-g0 + g1 - g2) / 6
    b3 = -d1 + d3                       h3 = (g0 + 2 g1 + 4 g2) / 6
    b4 = 2 d1 - d2 - 2 d3 + d4          h4 = g2

    y0 = m0 + m1 + m2 + m3      y1 = m1 - m2 + 2 m3      y2 = m1 + m2 + 4 m3 + m4

(expand to check; ``tests/test_conv_winograd.py`` does, on random numbers).
The transforms of the inputs and outputs need only additions (a doubling is an
addition); the filter's transform is computed once per call.

**In 2-D** the same matrices act on the rows and the columns: a 3x3 tile of
outputs reads a 5x5 window ``d`` of the input, and ``Y = A^T [U * V] A`` with
``U = G g G^T`` (the 3x3 weights made 5x5) and ``V = B^T d B``: 25
multiplications instead of 81. Summed over the input channels, the 25
elementwise products become 25 matrix products, one per position ``(a, e)``
of the 5x5 tile::

    M[a, e] = V[a, e] @ U[a, e]      (tiles, C_in) @ (C_in, C_out)

so the arithmetic still runs in BLAS, on 3.24x fewer multiply-adds than
im2col's single product (fewer where tiles overhang the map's edge). The
price: transforms before and after, and rounding that differs a little from
the direct sum (about 1e-6 relative in float32, 1e-15 in float64).

**Atrous convolutions take the same route.** With rate ``r`` the outputs
``y, y + r, y + 2r, ...`` (one *phase* of the output, ``y mod r``) read only
the input rows ``y + r k``: restricted to one phase, an atrous convolution is
a dense one on every r-th row and column of the padded input (TensorFlow's
``atrous_conv2d`` computes it so, by "space to batch"). So a tile is 3x3
outputs ``r`` apart, read from a 5x5 window whose pixels are ``r`` apart: the
algebra does not change, only where the tiles lie (:func:`tile_origins`: the
phases in turn, each cut into tiles of 3). A rate-6 conv on a 32x32 map: 144
tiles, 3600 products per (input, output) channel pair, against 7056 for the
direct sum over the taps that read the map and 9216 over all taps.

**dX** is the forward pass of ``dout`` with the kernel flipped and its
channels swapped, padded ``2r - p`` (the transposed convolution of a stride-1
conv is again a stride-1 conv, at the same rate), so it takes this route too.
**dW** runs the forward pass's steps backwards. From ``Y = A^T M A`` and
``M[a, e] = V[a, e] @ U[a, e]``: each tile's ``dM = A dY A^T`` (its 3x3 of
dout made 5x5), ``dU[a, e] = V[a, e]^T @ dM[a, e]`` summed over the tiles and
the images (again 25 matrix products, now over the tiles), and
``dW = G^T dU G`` for every (output, input) channel pair. Against im2col's dW
(2 threads, 64 channels, measured): 9.7 against 16.6 ms on a 64x64 map, 3.9
against 4.6 ms at rate 6 on 32x32.

**Layout: channels last.** Each image is copied once into a zeroed buffer of
shape (rows, columns, channels) with its padding around it, so a tile's 25
inputs for one channel are 25 vectors of ``C_in`` numbers side by side: the
transforms' inner loops run over channels, the same for every tile however
the tiles lie (dense or atrous, at the map's edge or not). The tiles of an
image are taken in bands of at most :data:`BAND_TILES`, so that V and M stay in the
core's cache; the products land in a channels-last output image that is
copied back to (channels, rows, columns) at the end.

**Not here: stride 2.** A stride-2 3x3 conv can be cut the same way (its outer
taps read the even pixels, a 2-tap filter Winograd's F(3, 2) computes in 4
products for 3 outputs; its centre tap the odd ones: 49 products per 3x3 tile
instead of 81). Measured on a 32 -> 64 channel conv of 128x128 maps, it took
17.4 against im2col's 20.0 ms on one thread but was no faster on two (its 49 x
(C_in + C_out) values per tile leave the cache), so strided convs stay on im2col.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._threads import parallel_for, single_threaded_blas

__all__ = ["applies", "tile_use", "tile_origins", "forward", "backward_input",
           "backward_weight"]

# Tiles per band: V and M of a band (25 x 64 channels x 128 tiles in float32: 0.8 MB
# each) stay in cache. Measured, forward at 64 channels, 2 threads: 96-144 tiles
# 7.6 ms (64x64 map) and 2.2 ms (32x32, rate 6); 32 tiles 9.5 and 2.5; 256 tiles 8.4 and 2.4.
BAND_TILES = 128
# When the route pays (python benchmarks/bench_winograd.py prints the grid these come
# from: Winograd's time over im2col's, forward and dX, at 8-64 channels, 8x8 to 32x32
# maps, rates 1, 2 and 6). With 16 or more channels in and out it took 0.4-0.8x of
# im2col's time wherever its products were few, at 8-12 channels up to 1.6x.
MIN_CHANNELS = 16
# Tiles that overhang the map compute outputs that are dropped: the route is taken when
# at least this share of the tiles' outputs lie in the map. Rate 6 on a 24x24 map has 4
# outputs per phase in 2 tiles of 3 (a share of 0.44: its products, 25 per tile, are 0.69 of
# the direct sum's) and took 0.9-1.4x of im2col's time; on 32x32 (0.79) 0.6-0.9x.
MIN_TILE_USE = 0.5


def tile_use(out_size, dilation):
    """The share of the tiles' outputs (9 per tile) that lie in an output of ``out_size``."""
    tiles = len(tile_origins(out_size[0], dilation[0])) * len(tile_origins(out_size[1],
                                                                          dilation[1]))
    return out_size[0] * out_size[1] / (9 * tiles)


def applies(w_shape, stride, padding, dilation, groups, out_size):
    """Whether this route computes the convolution: 3x3, stride 1, any dilation, no groups,
    padding at most twice the dilation (dX's padding ``2r - p`` must not be negative), at
    least :data:`MIN_CHANNELS` channels in and out, and at least :data:`MIN_TILE_USE` of
    the tiles' outputs in the map."""
    return (tuple(w_shape[2:]) == (3, 3) and stride == (1, 1) and groups == 1
            and all(p <= 2 * r for p, r in zip(padding, dilation, strict=True))
            and min(w_shape[:2]) >= MIN_CHANNELS
            and tile_use(out_size, dilation) >= MIN_TILE_USE)


def tile_origins(n_out, rate):
    """The first output of each 1-D tile (3 outputs ``rate`` apart): the phases in turn.

    Phase ``a`` (``0 <= a < rate``) holds the outputs ``a, a + rate, ...`` below
    ``n_out``; its tiles start at ``a, a + 3 rate, a + 6 rate, ...`` (the last may
    overhang the map: its missing outputs are computed from zeros and dropped).
    ``tile_origins(7, 1)`` is ``[0, 3, 6]``; ``tile_origins(8, 2)`` is ``[0, 6, 1, 7]``.
    """
    starts = []
    for phase in range(min(rate, n_out)):
        outputs = -(-(n_out - phase) // rate)
        starts.extend(phase + 3 * rate * i for i in range(-(-outputs // 3)))
    return np.array(starts, dtype=np.int64)


# ============================================================== the copies

@njit(cache=True, nogil=True, error_model="numpy")
def _to_channels_last(x, pad_h, pad_w, x_last):
    """``x_last[pad_h + y, pad_w + x, c] = x[c, y, x]`` (the rest of x_last untouched).

    Eight channels at a time: x arrives from memory (not from the cache), and eight
    channels' rows are as many streams as the core's prefetcher follows, while the writes
    fill each pixel's cache line of 8-16 channels. Measured inside the passes (2 threads,
    64 channels): S2's dW 2.6 ms against 2.9 with every channel of a row at a time, a 64x64
    map's forward 6.7 against 7.3, its dW 7.4 against 8.4.
    """
    c_in, height, width = x.shape
    for c0 in range(0, c_in, 8):
        for y in range(height):
            for c in range(c0, min(c_in, c0 + 8)):
                for col in range(width):
                    x_last[pad_h + y, pad_w + col, c] = x[c, y, col]


@njit(cache=True, nogil=True, error_model="numpy")
def _to_channels_first(out_last, out):
    """``out[k, y, x] = out_last[y, x, k]``, row by row (out_last, just written, is in the
    cache: 0.02 against 0.04 ms for a 32x32 map of 64 channels, channel by channel over
    the whole map)."""
    height, width, c_out = out_last.shape
    for y in range(height):
        for k in range(c_out):
            for col in range(width):
                out[k, y, col] = out_last[y, col, k]


# ============================================================== the transforms

@njit(cache=True, nogil=True, error_model="numpy")
def _input_transform(x_last, ys, xs, rate_h, rate_w, first, stop, rows5, v):
    """``v[5a + e, t - first, :] = (B^T d B)[a, e]`` for the tiles ``first <= t < stop``.

    Tile ``t`` = (tile row ``t // len(xs)``, tile column ``t % len(xs)``) reads the 5x5
    window ``d[k, l] = x_last[ys[.] + rate_h k, xs[.] + rate_w l]`` (vectors over the
    channels). First ``B^T`` along each of the window's rows (``rows5[k, e] = (d B)[k, e]``),
    then down the columns. The doublings are written as additions: ``2 * v`` in Numba
    would turn float32 into float64.
    """
    n_cols = xs.shape[0]
    c_in = x_last.shape[2]
    for t in range(first, stop):
        y0 = ys[t // n_cols]
        x0 = xs[t % n_cols]
        for k in range(5):
            y = y0 + rate_h * k
            for c in range(c_in):
                d0 = x_last[y, x0, c]
                d1 = x_last[y, x0 + rate_w, c]
                d2 = x_last[y, x0 + 2 * rate_w, c]
                d3 = x_last[y, x0 + 3 * rate_w, c]
                d4 = x_last[y, x0 + 4 * rate_w, c]
                p, q, s = d0 - d2, d1 - d2, d1 - d3
                rows5[k, 0, c] = p + p - d1 + d3
                rows5[k, 1, c] = d3 - d1 - d1 - d2
                rows5[k, 2, c] = q + q - d2 + d3
                rows5[k, 3, c] = d3 - d1
                rows5[k, 4, c] = s + s - d2 + d4
        j = t - first
        for e in range(5):
            for c in range(c_in):
                d0, d1, d2, d3, d4 = (rows5[0, e, c], rows5[1, e, c], rows5[2, e, c],
                                      rows5[3, e, c], rows5[4, e, c])
                p, q, s = d0 - d2, d1 - d2, d1 - d3
                v[e, j, c] = p + p - d1 + d3
                v[5 + e, j, c] = d3 - d1 - d1 - d2
                v[10 + e, j, c] = q + q - d2 + d3
                v[15 + e, j, c] = d3 - d1
                v[20 + e, j, c] = s + s - d2 + d4


@njit(cache=True, nogil=True, error_model="numpy")
def _output_transform(m, ys, xs, rate_h, rate_w, first, stop, rows3, out_last):
    """The 3x3 outputs ``Y = A^T M A`` of tiles ``first <= t < stop``, into ``out_last``.

    First ``A^T`` down each column of the tile's M (``rows3[a, e] = (A^T M)[a, e]``), then
    along each of the 3 rows; outputs that overhang the map are dropped.
    """
    n_cols = xs.shape[0]
    h_out, w_out, c_out = out_last.shape
    for t in range(first, stop):
        y0 = ys[t // n_cols]
        x0 = xs[t % n_cols]
        j = t - first
        for e in range(5):
            for c in range(c_out):
                m0, m1, m2, m3, m4 = m[e, j, c], m[5 + e, j, c], m[10 + e, j, c], \
                    m[15 + e, j, c], m[20 + e, j, c]
                q = m3 + m3
                rows3[0, e, c] = m0 + m1 + m2 + m3
                rows3[1, e, c] = m1 - m2 + q
                rows3[2, e, c] = m1 + m2 + q + q + m4
        columns = min(3, (w_out - 1 - x0) // rate_w + 1)      # inside the map
        for a in range(3):
            y = y0 + rate_h * a
            if y >= h_out:
                break
            for c in range(c_out):
                m0, m1, m2, m3, m4 = (rows3[a, 0, c], rows3[a, 1, c], rows3[a, 2, c],
                                      rows3[a, 3, c], rows3[a, 4, c])
                q = m3 + m3
                out_last[y, x0, c] = m0 + m1 + m2 + m3
                if columns > 1:
                    out_last[y, x0 + rate_w, c] = m1 - m2 + q
                if columns > 2:
                    out_last[y, x0 + 2 * rate_w, c] = m1 + m2 + q + q + m4


# ===================================================== the weights' transform

@njit(cache=True, nogil=True, error_model="numpy")
def _weight_transform(w, u):
    """``u[5a + e, c, k] = (G g G^T)[a, e]`` for every 3x3 kernel ``g = w[k, c]``.

    In float64 (the 1/6 is not exact), vectors over the output channels ``k``: ``G``
    down each column of g, then along each row of the result.
    """
    c_out, c_in = w.shape[0], w.shape[1]
    g = np.empty((3, 3, c_out))
    gg = np.empty((5, 3, c_out))
    for c in range(c_in):
        for i in range(3):
            for j in range(3):
                for k in range(c_out):
                    g[i, j, k] = w[k, c, i, j]
        for j in range(3):
            for k in range(c_out):
                g0, g1, g2 = g[0, j, k], g[1, j, k], g[2, j, k]
                gg[0, j, k] = g0 / 2
                gg[1, j, k] = -(g0 + g1 + g2) / 2
                gg[2, j, k] = (-g0 + g1 - g2) / 6
                gg[3, j, k] = (g0 + 2 * g1 + 4 * g2) / 6
                gg[4, j, k] = g2
        for a in range(5):
            for k in range(c_out):
                g0, g1, g2 = gg[a, 0, k], gg[a, 1, k], gg[a, 2, k]
                u[5 * a, c, k] = g0 / 2
                u[5 * a + 1, c, k] = -(g0 + g1 + g2) / 2
                u[5 * a + 2, c, k] = (-g0 + g1 - g2) / 6
                u[5 * a + 3, c, k] = (g0 + 2 * g1 + 4 * g2) / 6
                u[5 * a + 4, c, k] = g2


# ========================================================== dW's transforms

@njit(cache=True, nogil=True, error_model="numpy")
def _grad_output_transform(dy_last, ys, xs, rate_h, rate_w, first, stop, rows5, dm):
    """``dm[5a + e, t - first, :] = (A dY A^T)[a, e]`` for the tiles ``first <= t < stop``.

    ``dY`` is tile ``t``'s 3x3 of dout (``dy_last`` is zero beyond the map, so an
    overhanging tile's missing outputs count as 0). ``A`` makes 3 values 5:
    ``A [g0, g1, g2] = [g0, g0 + g1 + g2, g0 - g1 + g2, g0 + 2 g1 + 4 g2, g2]``, along
    each of the tile's rows (``rows5[i, e]``), then down the columns.
    """
    n_cols = xs.shape[0]
    c_out = dy_last.shape[2]
    for t in range(first, stop):
        y0 = ys[t // n_cols]
        x0 = xs[t % n_cols]
        for i in range(3):
            y = y0 + rate_h * i
            for c in range(c_out):
                g0, g1, g2 = dy_last[y, x0, c], dy_last[y, x0 + rate_w, c], \
                    dy_last[y, x0 + 2 * rate_w, c]
                s, q, f = g0 + g2, g1 + g1, g2 + g2
                rows5[i, 0, c] = g0
                rows5[i, 1, c] = s + g1
                rows5[i, 2, c] = s - g1
                rows5[i, 3, c] = g0 + q + f + f
                rows5[i, 4, c] = g2
        j = t - first
        for e in range(5):
            for c in range(c_out):
                g0, g1, g2 = rows5[0, e, c], rows5[1, e, c], rows5[2, e, c]
                s, q, f = g0 + g2, g1 + g1, g2 + g2
                dm[e, j, c] = g0
                dm[5 + e, j, c] = s + g1
                dm[10 + e, j, c] = s - g1
                dm[15 + e, j, c] = g0 + q + f + f
                dm[20 + e, j, c] = g2


@njit(cache=True, nogil=True, error_model="numpy")
def _add_into(total, part):
    """``total += part`` (same shape, C-contiguous)."""
    total = total.reshape(-1)
    part = part.reshape(-1)
    for i in range(total.shape[0]):
        total[i] += part[i]


@njit(cache=True, nogil=True, error_model="numpy")
def _weight_transform_adjoint(du_per_image, dw):
    """``dw[k, c] = G^T dU G`` with ``dU[a, e]`` the sum over the images ``n`` (in order) of
    ``du_per_image[n, 5a + e, c, k]``; in float64, vectors over the output channels ``k``.

    ``G^T`` makes 5 values 3: ``[u0/2 - u1/2 - u2/6 + u3/6, -u1/2 + u2/6 + u3/3,
    -u1/2 - u2/6 + 2 u3/3 + u4]``, along each row of dU, then down the columns.
    """
    n_images, _, c_in, c_out = du_per_image.shape
    du = np.empty((25, c_out))
    rows = np.empty((5, 3, c_out))
    for c in range(c_in):
        du[:] = 0.0
        for p in range(25):
            for n in range(n_images):
                for k in range(c_out):
                    du[p, k] += du_per_image[n, p, c, k]
        for a in range(5):
            for k in range(c_out):
                u0, u1, u2, u3, u4 = (du[5 * a, k], du[5 * a + 1, k], du[5 * a + 2, k],
                                      du[5 * a + 3, k], du[5 * a + 4, k])
                rows[a, 0, k] = u0 / 2 - u1 / 2 - u2 / 6 + u3 / 6
                rows[a, 1, k] = -u1 / 2 + u2 / 6 + u3 / 3
                rows[a, 2, k] = -u1 / 2 - u2 / 6 + 2 * u3 / 3 + u4
        for j in range(3):
            for k in range(c_out):
                u0, u1, u2, u3, u4 = (rows[0, j, k], rows[1, j, k], rows[2, j, k],
                                      rows[3, j, k], rows[4, j, k])
                dw[k, c, 0, j] = u0 / 2 - u1 / 2 - u2 / 6 + u3 / 6
                dw[k, c, 1, j] = -u1 / 2 + u2 / 6 + u3 / 3
                dw[k, c, 2, j] = -u1 / 2 - u2 / 6 + 2 * u3 / 3 + u4


# ================================================================ the passes

def _layout(x_size, padding, dilation, out_size):
    """Where the tiles lie: ``(ys, xs, bands, band, rows, cols)``.

    ``ys``, ``xs``: the tiles' first rows and columns (tile ``t`` is
    ``(ys[t // len(xs)], xs[t % len(xs)])``); ``bands``: ``(first, stop)`` of bands
    of at most :data:`BAND_TILES` tiles, as equal as possible, ``band`` the largest;
    ``rows``, ``cols``: the channels-last padded image's size, room for every tile's
    window (5 pixels ``r`` apart) and at least x with its padding.
    """
    ys, xs = tile_origins(out_size[0], dilation[0]), tile_origins(out_size[1], dilation[1])
    n_tiles = len(ys) * len(xs)
    n_bands = -(-n_tiles // BAND_TILES)
    bounds = [n_tiles * b // n_bands for b in range(n_bands + 1)]
    bands = list(zip(bounds[:-1], bounds[1:], strict=True))
    rows = max(ys.max() + 4 * dilation[0] + 1, x_size[0] + 2 * padding[0])
    cols = max(xs.max() + 4 * dilation[1] + 1, x_size[1] + 2 * padding[1])
    return ys, xs, bands, max(t1 - t0 for t0, t1 in bands), rows, cols


def _band_view(buffer, first, stop, channels):
    """A band's 25 matrices (tiles, channels), as a C-contiguous view of ``buffer``."""
    return buffer[:25 * (stop - first) * channels].reshape(25, stop - first, channels)


def forward(x, w, padding, dilation, out_size):
    """``out`` (N, C_out, H_out, W_out): the convolution of ``x`` with the 3x3 ``w``."""
    n_images, c_in = x.shape[:2]
    c_out = w.shape[0]
    rate_h, rate_w = dilation
    ys, xs, bands, band, rows, cols = _layout(x.shape[2:], padding, dilation, out_size)
    # U[5a + e] = (G g G^T)[a, e]. A compiled loop: written with np.tensordot it ran in
    # OpenBLAS's own threads, which kept spinning after it and held our second thread back
    # 1-3 ms (the whole call ran on one core, measured)
    u = np.empty((25, c_in, c_out), dtype=x.dtype)
    _weight_transform(np.ascontiguousarray(w), u)
    out = np.empty((n_images, c_out, *out_size), dtype=x.dtype)

    def images(first, stop):
        x_last = np.zeros((rows, cols, c_in), dtype=x.dtype)      # its border stays 0
        out_last = np.empty((*out_size, c_out), dtype=x.dtype)
        v_buffer = np.empty(25 * band * c_in, dtype=x.dtype)
        m_buffer = np.empty(25 * band * c_out, dtype=x.dtype)
        rows5 = np.empty((5, 5, max(c_in, c_out)), dtype=x.dtype)
        for n in range(first, stop):
            _to_channels_last(x[n], padding[0], padding[1], x_last)
            for t0, t1 in bands:
                v, m = _band_view(v_buffer, t0, t1, c_in), _band_view(m_buffer, t0, t1, c_out)
                _input_transform(x_last, ys, xs, rate_h, rate_w, t0, t1, rows5, v)
                np.matmul(v, u, out=m)
                _output_transform(m, ys, xs, rate_h, rate_w, t0, t1, rows5, out_last)
            _to_channels_first(out_last, out[n])

    with single_threaded_blas():
        # the 25 products per tile: what the thread rule is told to expect
        parallel_for(images, n_images, work=n_images * 25 * c_in * c_out * len(ys) * len(xs))
    return out


def backward_input(grad_out, w, x_shape, padding, dilation):
    """``dx``: the forward pass of ``dout`` with ``w`` flipped and transposed, padded ``2r - p``."""
    w_flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    padding_t = tuple(2 * r - p for p, r in zip(padding, dilation, strict=True))
    return forward(grad_out, w_flipped, padding_t, dilation, tuple(x_shape[2:]))


def backward_weight(grad_out, x, w_shape, padding, dilation):
    """``dw`` (shape ``w_shape``): ``dU = sum over tiles of V^T dM``, then ``G^T dU G``."""
    n_images, c_in = x.shape[:2]
    c_out = w_shape[0]
    rate_h, rate_w = dilation
    ys, xs, bands, band, rows, cols = _layout(x.shape[2:], padding, dilation,
                                              grad_out.shape[2:])
    # dW sums over the batch: every image's dU in its own slot (threads may not "+=" into
    # one), summed at the end in a fixed order, so the numbers do not depend on the threads
    du_per_image = np.empty((n_images, 25, c_in, c_out), dtype=x.dtype)

    def images(first, stop):
        x_last = np.zeros((rows, cols, c_in), dtype=x.dtype)
        # dout with zeros beyond the map, where overhanging tiles read
        dy_last = np.zeros((ys.max() + 2 * rate_h + 1, xs.max() + 2 * rate_w + 1, c_out),
                           dtype=x.dtype)
        v_buffer = np.empty(25 * band * c_in, dtype=x.dtype)
        m_buffer = np.empty(25 * band * c_out, dtype=x.dtype)
        product = np.empty((25, c_in, c_out), dtype=x.dtype)
        rows5 = np.empty((5, 5, max(c_in, c_out)), dtype=x.dtype)
        for n in range(first, stop):
            _to_channels_last(x[n], padding[0], padding[1], x_last)
            _to_channels_last(grad_out[n], 0, 0, dy_last)
            for t0, t1 in bands:
                v, dm = _band_view(v_buffer, t0, t1, c_in), _band_view(m_buffer, t0, t1, c_out)
                _input_transform(x_last, ys, xs, rate_h, rate_w, t0, t1, rows5, v)
                _grad_output_transform(dy_last, ys, xs, rate_h, rate_w, t0, t1, rows5, dm)
                if t0 == 0:
                    np.matmul(v.transpose(0, 2, 1), dm, out=du_per_image[n])
                else:
                    np.matmul(v.transpose(0, 2, 1), dm, out=product)
                    _add_into(du_per_image[n], product)

    with single_threaded_blas():
        parallel_for(images, n_images, work=n_images * 25 * c_in * c_out * len(ys) * len(xs))
    dw = np.empty(w_shape, dtype=x.dtype)
    _weight_transform_adjoint(du_per_image, dw)
    return dw
