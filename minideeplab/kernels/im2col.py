r"""im2col and col2im: the copies around the matrix products of :mod:`minideeplab.kernels.conv`.

* :func:`im2col` copies the input windows of a band of output rows into the
  column matrix ``cols[(c, u, v), (i, j)] = x_pad[c, i*sh + u*dh, j*sw + v*dw]``
  (``x_pad``: x with its zero padding, never built);
* :func:`col2im` is its adjoint: it adds every entry of a column matrix back
  onto the pixel it was copied from (dX), and :func:`col2im_planes` the adjoint
  of :func:`im2col_planes` (onto phase planes, put together by :func:`merge_phases`);
* :func:`im2col_planes` builds the same columns faster when every row of the
  output is as wide as a row of x seen at the stride: stride 1 with 'same'
  padding, or stride 2 with padding 1 (the strided 3x3 of a backbone). x is
  first cut into its ``sh*sw`` *phase planes* (:func:`split_phases`;
  ``plane[a, b][i, j] = x[sh*i + a, sw*j + b]``, and at stride 1 x is its own
  single plane, no copy), and then each tap reads one plane, shifted: tap ``u``
  reads row ``sh*i + u*dh - ph = sh*(i + oy) + a`` with ``a = (u*dh - ph) mod sh``
  and ``oy = (u*dh - ph) // sh``, i.e. row ``i + oy`` of the planes of phase ``a``.
  A shifted plane read row after row is one long run of memory: one copy loop
  per tap (SIMD code), instead of one short loop per output row with a
  strided read. The values of a run that fall off a row's end are padding and
  are zeroed afterwards.

All are ``@njit(nogil=True)``, called by the thread that owns the image, one
band of output rows at a time (see conv.py).
"""

from __future__ import annotations

from numba import njit

__all__ = ["im2col", "im2col_planes", "split_phases", "col2im", "col2im_planes", "merge_phases",
           "reads_planes"]


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _inside(x_start, stride, size, count):
    """``(first, stop)``: the outputs ``j`` in ``range(count)`` whose input
    ``x_start + j*stride`` lies in ``[0, size)``; the others read the zero padding."""
    first = 0 if x_start >= 0 else min(count, (-x_start + stride - 1) // stride)
    stop = 0 if x_start >= size else min(count, (size - 1 - x_start) // stride + 1)
    return first, max(first, stop)


@njit(cache=True, nogil=True, error_model="numpy")
def im2col(x_image, kh, kw, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w,
            first_row, rows, w_out, cols):
    """Copy the input windows of output rows ``first_row ... first_row + rows - 1`` of one
    image into ``cols`` (C_in*kH*kW, rows*W_out).

    ::

        for c in range(C_in), u in range(kH), v in range(kW):
            for i in range(rows), j in range(W_out):
                cols[(c*kH + u)*kW + v, i*W_out + j] = \
                    x_pad[c, (first_row + i)*sh + u*dh, j*sw + v*dw]

    where ``x_pad`` is ``x_image`` with ``pad_h`` / ``pad_w`` zeros on each side
    (never built: a tap on the padding writes a zero). Row ``(c, u, v)`` of
    ``cols`` is tap ``(u, v)`` of channel ``c`` seen by every output pixel, the
    order in which ``w[f].reshape(-1)`` lists the weights: so
    ``w.reshape(C_out, -1) @ cols`` is the convolution. Rows of one channel are
    contiguous, so group ``g`` owns a contiguous block of rows. Called by the
    thread that owns the image, one band of output rows at a time (``nogil``:
    it releases Python's lock, so the threads copy their images at the same time).
    """
    c_in, height, width = x_image.shape
    for c in range(c_in):
        for u in range(kh):
            for v in range(kw):
                col_row = cols[(c * kh + u) * kw + v]
                x_start = v * dilation_w - pad_w          # input column of output j = 0
                first, stop = _inside(x_start, stride_w, width, w_out)
                for i in range(rows):
                    col_seg = col_row[i * w_out:(i + 1) * w_out]
                    y = (first_row + i) * stride_h + u * dilation_h - pad_h
                    if y < 0 or y >= height:
                        j_first, j_stop = 0, 0            # the whole row is padding
                    else:
                        j_first, j_stop = first, stop
                    for j in range(j_first):
                        col_seg[j] = 0.0
                    for j in range(j_stop, w_out):
                        col_seg[j] = 0.0
                    if j_stop > j_first:
                        x_row = x_image[c, y]
                        if stride_w == 1:    # a unit step compiles to SIMD code, a run-time one not
                            x_seg = x_row[x_start + j_first:]
                            inner = col_seg[j_first:]
                            for j in range(j_stop - j_first):
                                inner[j] = x_seg[j]
                        else:
                            for j in range(j_first, j_stop):
                                col_seg[j] = x_row[x_start + j * stride_w]


@njit(cache=True, nogil=True, error_model="numpy")
def split_phases(x_image, stride_h, stride_w, planes):
    """``planes[c, a*sw + b, i, j] = x_image[c, sh*i + a, sw*j + b]``, zero beyond x.

    ``planes`` is (C, sh*sw, ceil(H/sh), ceil(W/sw)): the pixels of x at each of the
    ``sh*sw`` offsets of the stride grid, as dense planes. One pass over x, row by row:
    row ``y = sh*i + a`` goes to row ``i`` of the planes of phase ``a``.
    """
    c_in, height, width = x_image.shape
    plane_h, plane_w = planes.shape[2:]
    for c in range(c_in):
        for i in range(plane_h):
            for a in range(stride_h):
                y = stride_h * i + a
                if y >= height:                   # below x: zero rows
                    for b in range(stride_w):
                        planes[c, a * stride_w + b, i] = 0.0
                    continue
                x_row = x_image[c, y]
                if stride_w == 2 and width == 2 * plane_w:
                    # both planes in one loop with a constant step: SIMD code, 3x faster
                    even, odd = planes[c, 2 * a, i], planes[c, 2 * a + 1, i]
                    for j in range(plane_w):
                        even[j] = x_row[2 * j]
                        odd[j] = x_row[2 * j + 1]
                    continue
                for b in range(stride_w):
                    row = planes[c, a * stride_w + b, i]
                    source = x_row[b:]
                    columns = (width - b + stride_w - 1) // stride_w    # of x, in this plane
                    for j in range(columns):
                        row[j] = source[stride_w * j]
                    for j in range(columns, plane_w):
                        row[j] = 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def im2col_planes(planes, kh, kw, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w,
                  first_row, rows, cols):
    """:func:`im2col` read from x's phase planes (see the module docstring); W_out must
    equal the planes' width.

    Tap ``(u, v)``'s row of ``cols`` for the band is the plane of phase ``(a, b)``
    read as one flat run of ``rows*W_out`` values from its row ``first_row + oy``,
    shifted by ``ox`` columns (``a, oy = divmod``-like split of ``u*dh - ph`` by ``sh``,
    the same for ``b, ox``). So it is copied in one long loop (2-2.4x faster than row
    by row, measured at stride 1); then in every row the ``|ox|`` values that ran over
    from the neighbouring row of the plane are set to zero, the padding they stand
    for. Rows of the band above or below the plane are zero.
    """
    c_in, _, height, width = planes.shape
    band = rows * width
    for c in range(c_in):
        for u in range(kh):
            phase_h = (u * dilation_h - pad_h) % stride_h
            y_first = first_row + (u * dilation_h - pad_h) // stride_h  # plane row of band row 0
            inside_first = min(rows, max(0, -y_first))         # band rows inside: [first, stop)
            inside_stop = max(inside_first, min(rows, height - y_first))
            for v in range(kw):
                phase_w = (v * dilation_w - pad_w) % stride_w
                shift = (v * dilation_w - pad_w) // stride_w
                x_flat = planes[c, phase_h * stride_w + phase_w].reshape(height * width)
                col_row = cols[(c * kh + u) * kw + v]
                for k in range(inside_first * width):
                    col_row[k] = 0.0
                for k in range(inside_stop * width, band):
                    col_row[k] = 0.0
                if inside_stop == inside_first:
                    continue
                # the run, clipped where it would start before or end after the plane
                start = (y_first + inside_first) * width + shift
                count = (inside_stop - inside_first) * width
                low, high = max(0, -start), min(count, height * width - start)
                run = col_row[inside_first * width:]
                if high > low:
                    # (clamping low and high with more min/max instead of this test
                    # kept the loop from becoming SIMD code: 3.7x slower, measured)
                    source = x_flat[start + low:]
                    for k in range(high - low):
                        run[low + k] = source[k]
                for k in range(min(low, count)):
                    run[k] = 0.0
                for k in range(max(high, low), count):
                    run[k] = 0.0
                # the values that ran over from the row before / after are padding
                if shift > 0:      # the last `shift` values of each row
                    for i in range(inside_first, inside_stop):
                        for j in range(max(0, width - shift), width):
                            col_row[i * width + j] = 0.0
                elif shift < 0:    # the first `-shift` values of each row
                    for i in range(inside_first, inside_stop):
                        for j in range(min(width, -shift)):
                            col_row[i * width + j] = 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def col2im_planes(cols, kh, kw, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w,
                  first_row, rows, planes):
    """:func:`col2im` onto x's phase planes (zeroed by the caller; :func:`merge_phases`
    puts them back together): the adjoint of :func:`im2col_planes`.

    In plane coordinates every tap is a shift (see the module docstring), so each
    row of a band adds onto a row of one plane with unit steps (SIMD code), where
    :func:`col2im` at stride 2 scatters every value to every other pixel.
    """
    c_in, _, height, width = planes.shape
    for c in range(c_in):
        for u in range(kh):
            phase_h = (u * dilation_h - pad_h) % stride_h
            y_first = first_row + (u * dilation_h - pad_h) // stride_h
            for v in range(kw):
                phase_w = (v * dilation_w - pad_w) % stride_w
                shift = (v * dilation_w - pad_w) // stride_w
                plane = planes[c, phase_h * stride_w + phase_w]
                col_row = cols[(c * kh + u) * kw + v]
                first, stop = max(0, -shift), min(width, width - shift)   # columns in the plane
                for i in range(max(0, -y_first), min(rows, height - y_first)):
                    target = plane[y_first + i, first + shift:]
                    source = col_row[i * width + first:]
                    for j in range(stop - first):
                        target[j] += source[j]


@njit(cache=True, nogil=True, error_model="numpy")
def merge_phases(planes, stride_h, stride_w, x_image):
    """``x_image[c, sh*i + a, sw*j + b] = planes[c, a*sw + b, i, j]``: the inverse of
    :func:`split_phases` (plane entries beyond x are dropped). Once per image of dX, so
    without split_phases' stride-2 loop (it took 0.4 s of compiling, for 0.2 ms a call)."""
    c_in, height, width = x_image.shape
    for c in range(c_in):
        for y in range(height):
            i, a = y // stride_h, y % stride_h
            x_row = x_image[c, y]
            for b in range(stride_w):
                row = planes[c, a * stride_w + b, i]
                target = x_row[b:]
                for j in range((width - b + stride_w - 1) // stride_w):
                    target[stride_w * j] = row[j]


def reads_planes(x_width, w_out, stride_w):
    """Whether :func:`im2col_planes` applies: an output row as wide as a plane's row."""
    return w_out == -(-x_width // stride_w)


@njit(cache=True, nogil=True, error_model="numpy")
def col2im(cols, kh, kw, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w,
            first_row, rows, w_out, dx_image):
    """Add every entry of ``cols`` back onto the pixel it came from: the adjoint of im2col.

    ``cols`` holds output rows ``first_row ... first_row + rows - 1``::

        for c, u, v, i in range(rows), j:
            dx_pad[c, (first_row + i)*sh + u*dh, j*sw + v*dw] += \
                cols[(c*kH + u)*kW + v, i*W_out + j]

    and ``dx_image`` is the centre of ``dx_pad`` (entries on the padding are
    simply not added anywhere); the caller zeroes it before the first band. A
    pixel read by several windows (overlapping taps) receives several
    gradients, hence ``+=``. Each image is handled by one thread, band after
    band, so the ``+=`` never races.
    """
    c_in, height, width = dx_image.shape
    for c in range(c_in):
        plane = dx_image[c]
        for u in range(kh):
            for v in range(kw):
                col_row = cols[(c * kh + u) * kw + v]
                x_start = v * dilation_w - pad_w
                first, stop = _inside(x_start, stride_w, width, w_out)
                for i in range(rows):
                    y = (first_row + i) * stride_h + u * dilation_h - pad_h
                    if y < 0 or y >= height or stop <= first:
                        continue
                    dx_row = plane[y]
                    col_seg = col_row[i * w_out:(i + 1) * w_out]
                    if stride_w == 1:   # (a stride-2 branch here measured slower: a scatter)
                        dx_seg = dx_row[x_start + first:]
                        inner = col_seg[first:]
                        for j in range(stop - first):
                            dx_seg[j] += inner[j]
                    else:
                        for j in range(first, stop):
                            dx_row[x_start + j * stride_w] += col_seg[j]
