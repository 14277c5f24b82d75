r"""Numba backend of conv2d: the three hot loops of :mod:`minideeplab.functional.conv`.

Same signatures and same numbers as the NumPy reference (``_forward_numpy``,
``_backward_input_numpy``, ``_backward_weight_numpy``); only the route differs.
Every array is C-contiguous, float32 or float64 (the dtype is kept); ``x`` is
*not* padded: the kernels read the zero border where they need it, so no
padded copy of a batch is ever made (nor cropped from dX). ``stride``,
``padding`` and ``dilation`` are ``(h, w)`` pairs:

* ``forward(x, w, stride, padding, dilation, groups, out_size) -> out``
* ``backward_input(grad_out, w, x_shape, stride, padding, dilation, groups) -> dx``
* ``backward_weight(grad_out, x, w_shape, stride, padding, dilation, groups) -> dw``

Four routes, chosen from the weight's shape, the stride and the padding:

**Depthwise** (one input channel per group, ``w.shape[1] == 1``; DeepLabV3+'s
atrous separable convolutions). Each output channel reads a single input
channel, so there is no sum over channels to hand to a matrix product: a
GEMM would have an inner dimension of only ``kH*kW = 9``. Direct loops are
faster; they live in :mod:`minideeplab.kernels.depthwise`.

**Pointwise** (1x1, stride 1, no padding). ``out[n] = W @ x[n]`` with ``x[n]``
read as a ``(C_in, H*W)`` matrix: one BLAS GEMM per image, no copy at all.

**3x3 at stride 1, dense or atrous** (no groups, enough channels, tiles that
fit the output, see ``winograd.applies``): forward and dX by *Winograd's*
F(3x3, 3x3), 25 products per 3x3 tile of outputs instead of 81, and dW by
the same tiles, in :mod:`minideeplab.kernels.winograd`.

**Everything else** (grouped, strided, larger kernels, small maps): *im2col*. Copy the
input windows into a matrix ``cols[(c, u, v), (i, j)] = x_pad[c, i*s + u*d,
j*s + v*d]`` of shape ``(C_in*kH*kW, H_out*W_out)`` (a tap on the padding
copies a zero); then each group's convolution is one GEMM ``W_g @ cols_g``.
The copy costs memory traffic, but it hands the ``2*C_out*C_in*kH*kW*H_out*W_out``
FLOPs to BLAS, which runs them near the machine's peak. The backward passes
reuse the same matrix: ``dW_g = dout_g @ cols_g^T`` and ``dcols_g = W_g^T @
dout_g``, followed by *col2im*, which adds every entry of ``dcols`` back onto
the input pixel it was copied from (entries of the padding are dropped).
``cols`` of a whole batch would be ``kH*kW = 9`` times larger than the batch
itself, so it is built one image at a time, and one band of output rows at a
time, in a buffer each thread reuses: the memory stays bounded by one band's
columns per thread, which stay in the core's cache between the copy and the
GEMM. dW sums over the pixels, so its bands' products add up:
``dW_g^T = sum over bands of cols_g @ dout_g^T``.

The copies live in :mod:`minideeplab.kernels.im2col`. Three shortcuts, each
with the same numbers: when an output row is as wide as x's row seen at the
stride ('same' padding at stride 1, padding 1 for a 3x3 at stride 2), each
tap's row of columns is one long copy from x's shifted phase planes
(``im2col_planes``); kernel taps that read only padding, as the outer taps of
an atrous kernel whose rate exceeds the map, are dropped before any route runs
(``_without_dead_taps``); and kernel rows that read only padding for a band of
output rows (the top rows of an atrous kernel near the top of the map) are
left out of that band's columns and product (``_row_bands``).

Every route shares its work among threads the same way: a slice of the
images or planes per thread (``_threads.parallel_for``), OpenBLAS on one
thread meanwhile (``_threads.single_threaded_blas``).

Numba compiles each kernel once per dtype on first use (``cache=True`` keeps
the machine code on disk for the next process). Strides, paddings and
dilations are passed as separate ints and arrays always C-contiguous, so each
kernel has exactly one specialisation per dtype.
"""

from __future__ import annotations

import math

import numpy as np

from . import depthwise, winograd
from ._threads import parallel_for, single_threaded_blas
from .im2col import (
    col2im,
    col2im_planes,
    im2col,
    im2col_planes,
    merge_phases,
    reads_planes,
    split_phases,
)

__all__ = ["forward", "backward_input", "backward_weight"]

# The forward pass and dX build their columns a band of output rows at a time,
# about this many columns (output pixels) per band: 576 x 256 float32 columns
# (a dense 3x3 conv of 64 channels) are 0.6 MB, which stay in the core's cache
# between im2col and the GEMM. A GEMM on 256 columns also ran faster than on a
# whole 64x64 image's 4096 (95 vs 75 GFLOP/s on one core, measured).
BAND_COLUMNS = 256
# A band holds at most this many values of columns (576 x 256: the measured size
# above), so a conv with few values per column takes wider bands: the first
# layer's 3 channels x 9 taps = 27 values take whole 32x32 images, one GEMM
# each instead of four (its forward and dX ran 2x faster, measured).
BAND_VALUES = 576 * 256
# dW sums over the columns, so its GEMM's inner dimension is the band's width:
# wider bands, fewer and longer products. Measured on a dense 3x3 conv of 64
# channels, one core: 74-77 GFLOP/s for 512-2048 columns per band, 71 for 256,
# 56 for a whole 64x64 image at once (its 9 MB of columns leave the cache).
WEIGHT_BAND_COLUMNS = 1024


# ================================================================== dispatch

def _is_depthwise(w_shape):
    # one input channel per group: every output channel reads a single input channel
    return w_shape[1] == 1


def _is_pointwise(w_shape, stride, padding):
    # a 1x1 kernel at stride 1 without padding reads each pixel once: x[n] is
    # already "cols" (dilation does not matter with one tap)
    return w_shape[2] == 1 and w_shape[3] == 1 and stride == (1, 1) and padding == (0, 0)


def _row_bands(x_height, kh, stride_h, pad_h, dilation_h, h_out, band):
    """``(row, rows, u_first, u_stop)``: bands of at most ``band`` output rows, and the
    kernel rows ``u_first ... u_stop - 1`` that read x for every row of the band.

    Output row ``i``'s tap ``u`` reads input row ``i*sh + u*dh - ph``; near the top
    and bottom of an atrous conv some taps read only the zero padding (at rate 12
    on a 32-row map, the top tap for the first 12 rows). Their products are
    ``w * 0``: the band's columns and product leave them out (9 -> 6 taps there).
    A band never mixes rows with different live taps.
    """
    def live(i):        # the live taps of a one-row output starting at row i
        return _live_taps(x_height, kh, stride_h, pad_h - i * stride_h, dilation_h, 1)

    bands, row = [], 0
    while row < h_out:
        taps = live(row)
        stop = row + 1
        while stop < min(h_out, row + band) and live(stop) == taps:
            stop += 1
        bands.append((row, stop - row, *taps))
        row = stop
    return bands


def _cut_geometry(geometry, u_first):
    """The conv geometry for the kernel cut to its rows ``u_first ...``: the cut kernel's
    first row is padded ``ph - u_first*dh`` rows above x (the other numbers unchanged)."""
    stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w = geometry
    return stride_h, stride_w, pad_h - u_first * dilation_h, pad_w, dilation_h, dilation_w


def _column_bands(x_image, kw, geometry, planes, bands, w_out, groups, buffer):
    """im2col of one image, band by band (from :func:`_row_bands`), into ``buffer``.

    Yields ``(row, rows, taps, cols)``: output rows ``row ... row + rows - 1``, their
    live kernel rows ``taps = (u_first, u_stop)`` and their columns as
    (G, C_g*(u_stop - u_first)*kW, rows*W_out), a view of ``buffer`` overwritten by the
    next band: the columns of the kernel cut to its live rows (:func:`_cut_geometry`).
    When an output row is as wide as x's row at the stride, the columns are copied from
    shifted phase planes: x itself at stride 1, else ``planes`` (:func:`_planes_buffer`),
    filled here once per image.
    """
    c_in, _, width = x_image.shape
    stride_w = geometry[1]
    if not reads_planes(width, w_out, stride_w):
        source = None                                   # the general im2col
    elif planes is None:
        source = x_image[:, None]                       # stride 1: x is its own single plane
    else:
        split_phases(x_image, *geometry[:2], planes)
        source = planes
    for row, rows, u_first, u_stop in bands:
        kh = u_stop - u_first
        cut = _cut_geometry(geometry, u_first)
        k = c_in * kh * kw
        cols = buffer[:k * rows * w_out].reshape(k, rows * w_out)
        if source is None:
            im2col(x_image, kh, kw, *cut, row, rows, w_out, cols)
        else:
            im2col_planes(source, kh, kw, *cut, row, rows, cols)
        yield row, rows, (u_first, u_stop), cols.reshape(groups, -1, rows * w_out)


def _cut_weights(w, groups, bands, transposed=False):
    """``{(u_first, u_stop): W_g}``: the weights of each band's live kernel rows, as
    (G, F_g, C_g*rows*kW) matrices (``transposed``: (G, C_g*rows*kW, F_g) views)."""
    cut = {}
    for _, _, u_first, u_stop in bands:
        matrix = np.ascontiguousarray(w[:, :, u_first:u_stop]).reshape(groups, w.shape[0] // groups,
                                                                       -1)
        cut[u_first, u_stop] = matrix.transpose(0, 2, 1) if transposed else matrix
    return cut


def _planes_buffer(x_shape, stride, w_out, dtype):
    """A buffer for one image's phase planes when a strided conv reads its columns from
    them (an output row as wide as a plane's row), else None (at stride 1 x is its own
    plane: nothing to copy)."""
    c_in, height, width = x_shape[1:]
    if stride == (1, 1) or not reads_planes(width, w_out, stride[1]):
        return None
    return np.empty((c_in, stride[0] * stride[1], -(-height // stride[0]), w_out), dtype=dtype)


def _band_rows(h_out, w_out, values_per_column, columns=None):
    """Output rows per band: about ``columns`` (default: ``BAND_COLUMNS``, or more when a
    column holds few values, up to ``BAND_VALUES`` in all) columns, at least one row."""
    if columns is None:
        columns = max(BAND_COLUMNS, BAND_VALUES // values_per_column)
    return max(1, min(h_out, columns // w_out))


def _live_taps(size, kernel, stride, pad, dilation, out):
    """``(first, stop)``: the taps of one axis that read a pixel of x for some output.

    Tap ``u`` reads input ``i*stride + u*dilation - pad`` for the outputs
    ``i < out``: it reads only padding when even the last output's read is
    before the image, or the first output's read after it. (At least one tap
    is kept.)
    """
    first = 0
    while first < kernel - 1 and (out - 1) * stride + first * dilation - pad < 0:
        first += 1
    stop = kernel
    while stop - 1 > first and (stop - 1) * dilation - pad >= size:
        stop -= 1
    return first, stop


def _taps_kept(w_shape, x_size, stride, padding, dilation, out_size):
    """``(taps, padding)`` without the kernel's taps that read only padding, or None.

    On a map smaller than the rate, the outer taps of an atrous kernel never
    touch the image (ASPP's rate-18 branch on a 4x4 map at output stride 16: only
    the centre tap does), and every product with them is ``w * 0``. Dropping
    them, and the padding they alone needed, leaves the same sums with fewer
    terms: a 3x3 kernel that only ever reads its centre becomes a 1x1 one.
    ``taps`` are the (row, column) slices of the kernel to keep; None when every
    tap reads x.
    """
    if padding == (0, 0) or tuple(w_shape[2:]) == (1, 1):   # every tap reads x
        return None
    taps = [_live_taps(x_size[a], w_shape[2 + a], stride[a], padding[a], dilation[a],
                       out_size[a]) for a in range(2)]
    new_padding = tuple(padding[a] - taps[a][0] * dilation[a] for a in range(2))
    if taps == [(0, w_shape[2]), (0, w_shape[3])] or min(new_padding) < 0:
        return None
    # The cut kernel's padding is taken on both sides: it must still give out_size (else
    # its last outputs would read past that padding: the depthwise kernels read a padded
    # copy of x, and did, before this test).
    for a in range(2):
        span = dilation[a] * (taps[a][1] - taps[a][0] - 1) + 1
        if (x_size[a] + 2 * new_padding[a] - span) // stride[a] + 1 != out_size[a]:
            return None
    return tuple(slice(*t) for t in taps), new_padding


def _without_dead_taps(w, x_size, stride, padding, dilation, out_size):
    """``(w, padding)`` with the taps that read only padding dropped (see :func:`_taps_kept`)."""
    kept = _taps_kept(w.shape, x_size, stride, padding, dilation, out_size)
    if kept is None:
        return w, padding
    (rows, cols), padding = kept
    return np.ascontiguousarray(w[:, :, rows, cols]), padding


def _mult_adds(n_images, w_shape, out_size):
    """Multiply-adds of one pass of a convolution (forward, dX and dW each cost this much).
    (``math.prod`` of the shape's ints: ``np.prod`` of a tuple takes 3.5 us, 45x as long,
    once per call of every convolution.)"""
    return n_images * math.prod(w_shape) * out_size[0] * out_size[1]


def forward(x, w, stride, padding, dilation, groups, out_size):
    """``out`` (N, C_out, H_out, W_out) of the convolution of ``x`` with ``w`` (no bias).

    Twin of ``functional/conv.py: _forward_numpy`` (the padded batch's windows
    as one column matrix, one matmul). Here: direct loops for depthwise, one
    GEMM per image for pointwise, Winograd for 3x3 at stride 1, im2col +
    GEMM per image for the rest (see the module docstring).
    """
    w, padding = _without_dead_taps(w, x.shape[2:], stride, padding, dilation, out_size)
    if _is_depthwise(w.shape):
        return depthwise.forward(x, w, stride, padding, dilation, out_size)
    if winograd.applies(w.shape, stride, padding, dilation, groups, out_size):
        return winograd.forward(x, w, padding, dilation, out_size)
    n_images, c_in, height, width = x.shape
    c_out, c_per_group, kh, kw = w.shape
    h_out, w_out = out_size
    geometry = (*stride, *padding, *dilation)
    out = np.empty((n_images, c_out, h_out, w_out), dtype=x.dtype)

    # out[n, g] = W_g @ cols[n, g]: (F_g, K) @ (K, H_out*W_out) per image and group
    out_grouped = out.reshape(n_images, groups, c_out // groups, h_out * w_out)
    if _is_pointwise(w.shape, stride, padding):
        w_grouped = w.reshape(groups, c_out // groups, -1)
        x_grouped = x.reshape(n_images, groups, c_per_group, height * width)

        def images(first, stop):
            np.matmul(w_grouped, x_grouped[first:stop], out=out_grouped[first:stop])
    else:
        band = _band_rows(h_out, w_out, c_in * kh * kw)
        bands = _row_bands(height, kh, stride[0], padding[0], dilation[0], h_out, band)
        w_cut = _cut_weights(w, groups, bands)

        def images(first, stop):
            buffer = np.empty(c_in * kh * kw * band * w_out, dtype=x.dtype)
            planes = _planes_buffer(x.shape, stride, w_out, x.dtype)
            for n in range(first, stop):
                for row, rows, taps, cols in _column_bands(x[n], kw, geometry, planes, bands,
                                                           w_out, groups, buffer):
                    np.matmul(w_cut[taps], cols,
                              out=out_grouped[n, :, :, row * w_out:(row + rows) * w_out])

    with single_threaded_blas():
        parallel_for(images, n_images, work=_mult_adds(n_images, w.shape, out_size))
    return out


def backward_input(grad_out, w, x_shape, stride, padding, dilation, groups):
    """``dx`` (shape ``x_shape``): the gradient with respect to the input.

    Twin of ``functional/conv.py: _backward_input_numpy`` (the transposed
    convolution, computed by the forward pass on the spread, padded dout):
    here ``W^T @ dout`` per image, then col2im adds each column back onto its
    pixels (onto x's phase planes at a stride, see ``im2col.col2im_planes``);
    for depthwise, the depthwise forward loops on the spread dout with the kernel
    flipped; for a 3x3 at stride 1, Winograd's forward pass of dout with the
    kernel flipped.
    """
    w, padding = _without_dead_taps(w, x_shape[2:], stride, padding, dilation,
                                    grad_out.shape[2:])
    if _is_depthwise(w.shape):
        return depthwise.backward_input(grad_out, w, x_shape, stride, padding, dilation)
    if winograd.applies(w.shape, stride, padding, dilation, groups, grad_out.shape[2:]):
        return winograd.backward_input(grad_out, w, x_shape, padding, dilation)
    n_images, c_in, height, width = x_shape
    c_out, c_per_group, kh, kw = w.shape
    h_out, w_out = grad_out.shape[2:]
    geometry = (*stride, *padding, *dilation)
    dx = np.empty(x_shape, dtype=grad_out.dtype)

    # dcols[n, g] = W_g^T @ dout[n, g]: (K, F_g) @ (F_g, H_out*W_out), then col2im
    grad_grouped = grad_out.reshape(n_images, groups, c_out // groups, h_out * w_out)
    if _is_pointwise(w.shape, stride, padding):
        # no windows to undo: dcols is dX itself
        w_transposed = w.reshape(groups, c_out // groups, -1).transpose(0, 2, 1)
        dx_grouped = dx.reshape(n_images, groups, c_per_group, height * width)

        def images(first, stop):
            np.matmul(w_transposed, grad_grouped[first:stop], out=dx_grouped[first:stop])
    else:
        band = _band_rows(h_out, w_out, c_in * kh * kw)
        bands = _row_bands(height, kh, stride[0], padding[0], dilation[0], h_out, band)
        w_cut = _cut_weights(w, groups, bands, transposed=True)

        def images(first, stop):
            buffer = np.empty(c_in * kh * kw * band * w_out, dtype=grad_out.dtype)
            # at a stride, the columns go back onto x's phase planes when forward read them
            # from there, then the planes onto dx
            planes = _planes_buffer(x_shape, stride, w_out, grad_out.dtype)
            for n in range(first, stop):
                target = dx[n] if planes is None else planes
                target[...] = 0.0
                for row, rows, u_first, u_stop in bands:     # (see _column_bands)
                    k = c_in * (u_stop - u_first) * kw
                    dcols = buffer[:k * rows * w_out].reshape(groups, -1, rows * w_out)
                    np.matmul(w_cut[u_first, u_stop],
                              grad_grouped[n, :, :, row * w_out:(row + rows) * w_out], out=dcols)
                    cut = _cut_geometry(geometry, u_first)
                    if planes is None:
                        col2im(dcols.reshape(k, -1), u_stop - u_first, kw, *cut, row, rows,
                               w_out, dx[n])
                    else:
                        col2im_planes(dcols.reshape(k, -1), u_stop - u_first, kw, *cut, row,
                                      rows, planes)
                if planes is not None:
                    merge_phases(planes, *stride, dx[n])

    with single_threaded_blas():
        parallel_for(images, n_images, work=_mult_adds(n_images, w.shape, (h_out, w_out)))
    return dx


def backward_weight(grad_out, x, w_shape, stride, padding, dilation, groups):
    """``dw`` (shape ``w_shape``): the gradient with respect to the weights.

    Twin of ``functional/conv.py: _backward_weight_numpy`` (one matmul with
    the batch's columns, summed over images): here ``dout @ cols^T`` per
    image, one slot per image summed at the end in a fixed order; direct loops
    for depthwise; Winograd's tiles for a 3x3 at stride 1.
    """
    kept = _taps_kept(w_shape, x.shape[2:], stride, padding, dilation, grad_out.shape[2:])
    if kept is not None:          # the dropped taps read only zeros: their dW is 0
        (rows, cols), kept_padding = kept
        dw = np.zeros(w_shape, dtype=grad_out.dtype)
        kept_shape = dw[:, :, rows, cols].shape
        dw[:, :, rows, cols] = backward_weight(grad_out, x, kept_shape, stride, kept_padding,
                                               dilation, groups)
        return dw
    if _is_depthwise(w_shape):
        return depthwise.backward_weight(grad_out, x, w_shape, stride, padding, dilation)
    if winograd.applies(w_shape, stride, padding, dilation, groups, grad_out.shape[2:]):
        return winograd.backward_weight(grad_out, x, w_shape, padding, dilation)
    n_images, c_in, height, width = x.shape
    c_out, c_per_group, kh, kw = w_shape
    h_out, w_out = grad_out.shape[2:]
    geometry = (*stride, *padding, *dilation)
    dtype = grad_out.dtype

    # dW_g^T = sum_n cols[n, g] @ dout[n, g]^T: (K, H_out*W_out) @ (H_out*W_out, F_g),
    # one band of output rows at a time (the product is a sum over the pixels,
    # so the bands' products add up). dW sums over the batch, and threads may not
    # "+=" into one shared dW (a data race): every image's sum goes into its own
    # slot of dw_per_image (N copies of dW, small), summed at the end in a fixed
    # order, so the result does not depend on the number of threads.
    f_per_group = c_out // groups
    k_per_group = c_per_group * kh * kw
    grad_grouped = grad_out.reshape(n_images, groups, f_per_group, h_out * w_out)
    dw_per_image = np.empty((n_images, groups, k_per_group, f_per_group), dtype=dtype)
    if _is_pointwise(w_shape, stride, padding):
        x_grouped = x.reshape(n_images, groups, c_per_group, height * width)

        def images(first, stop):
            np.matmul(x_grouped[first:stop], grad_grouped[first:stop].transpose(0, 1, 3, 2),
                      out=dw_per_image[first:stop])
    else:
        band = _band_rows(h_out, w_out, c_in * kh * kw, WEIGHT_BAND_COLUMNS)
        bands = _row_bands(height, kh, stride[0], padding[0], dilation[0], h_out, band)
        # a band adds to the dW of its live kernel rows only: dW seen as (G, C_g, kH, kW, F_g)
        dw_taps = dw_per_image.reshape(n_images, groups, c_per_group, kh, kw, f_per_group)

        def images(first, stop):
            buffer = np.empty(c_in * kh * kw * band * w_out, dtype=dtype)
            planes = _planes_buffer(x.shape, stride, w_out, dtype)
            product = np.empty(groups * k_per_group * f_per_group, dtype=dtype)
            for n in range(first, stop):
                dw_per_image[n] = 0.0
                for row, rows, (u_first, u_stop), cols in _column_bands(
                        x[n], kw, geometry, planes, bands, w_out, groups, buffer):
                    grad_band = grad_grouped[n, :, :, row * w_out:(row + rows) * w_out]
                    band_product = product[:cols.shape[1] * groups * f_per_group].reshape(
                        groups, cols.shape[1], f_per_group)
                    np.matmul(cols, grad_band.transpose(0, 2, 1), out=band_product)
                    dw_taps[n, :, :, u_first:u_stop] += band_product.reshape(
                        groups, c_per_group, u_stop - u_first, kw, f_per_group)

    with single_threaded_blas():
        parallel_for(images, n_images, work=_mult_adds(n_images, w_shape, (h_out, w_out)))
    # (G, K, F_g) -> (G, F_g, K) = (C_out, C_in/G, kH, kW)
    return np.ascontiguousarray(dw_per_image.sum(axis=0).transpose(0, 2, 1)).reshape(w_shape)
