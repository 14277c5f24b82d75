"""The Numba conv2d kernels give the reference's numbers, and correct gradients.

* property tests: on random valid geometries (groups, non-square kernels,
  strides, atrous rates that differ in h and w, padding, H != W) the Numba
  backend's out, dX and dW equal the NumPy reference's in float64 to 1e-10;
* gradient checks through the Numba backend for every kind of conv DeepLab uses;
* the dtype is kept (float32 in, float32 out);
* PyTorch, when installed, computes the same forward and backward.

Small shapes throughout: the time goes into compiling the kernels once.
"""

import numpy as np
import pytest

pytest.importorskip("numba")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import minideeplab as mdl  # noqa: E402
from minideeplab import functional as F  # noqa: E402
from minideeplab.geometry import conv_output_size  # noqa: E402
from minideeplab.kernels import _threads  # noqa: E402

THRESHOLD = 1e-6        # gradient checks: relative error of the analytic gradient
SAME_NUMBERS = 1e-10    # numba vs numpy in float64: only the summation order differs


def conv_both_ways(backend, x, w, b=None, **kwargs):
    """(out, dx, dw, db) of one conv under ``backend``, for a fixed random dout."""
    with mdl.use_backend(backend):
        out, cache = F.conv2d_forward(x, w, b, **kwargs)
        dout = np.random.default_rng(1).standard_normal(out.shape).astype(out.dtype)
        dx, dw, db = F.conv2d_backward(dout, cache)
    return out, dx, dw, db


def assert_same_numbers(actual, expected, what):
    scale = max(np.abs(expected).max(), 1e-300)
    np.testing.assert_allclose(actual, expected, rtol=SAME_NUMBERS, atol=SAME_NUMBERS * scale,
                               err_msg=what)


# --------------------------------------------------------------- random geometries

@st.composite
def conv_geometries(draw):
    """A valid conv: (x shape, w shape, keyword arguments), output at least 1x1.

    One draw in five each is depthwise, pointwise and 'same' (stride 1, the
    output of the input's size), so that each of the kernel's routes (direct
    depthwise loops, plain GEMM, im2col + GEMM, with im2col's fast route for
    'same' convolutions) is exercised many times.
    """
    kind = draw(st.sampled_from(["general", "general", "same", "depthwise", "pointwise"]))
    n = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    if kind == "depthwise":
        c_in = groups
        c_out = groups * draw(st.integers(1, 2))          # depth multiplier 1 or 2
    else:
        c_in = groups * draw(st.integers(1, 3))
        c_out = groups * draw(st.integers(1, 3))
    if kind == "pointwise":
        kernel, stride = (1, 1), (1, 1)
    else:
        kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
        stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    padding = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    if kind == "same":     # stride 1, odd kernel, output of the input's size (im2col's fast route)
        kernel = (draw(st.sampled_from([1, 3, 5])), draw(st.sampled_from([1, 3, 5])))
        stride = (1, 1)
        padding = tuple(d * (k - 1) // 2 for d, k in zip(dilation, kernel, strict=True))
    # smallest input the dilated kernel fits in, plus a random margin (H != W mostly)
    size = []
    for axis in range(2):
        span = dilation[axis] * (kernel[axis] - 1) + 1
        smallest = max(1, span - 2 * padding[axis])
        size.append(smallest + draw(st.integers(0, 7)))
    x_shape = (n, c_in, *size)
    w_shape = (c_out, c_in // groups, *kernel)
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    assert min(conv_output_size(size, kernel, stride, padding, dilation)) >= 1
    return x_shape, w_shape, kwargs


@settings(max_examples=40, deadline=None)
@given(geometry=conv_geometries(), seed=st.integers(0, 2**16))
def test_numba_equals_numpy_on_random_geometries(geometry, seed):
    x_shape, w_shape, kwargs = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    expected = conv_both_ways("numpy", x, w, **kwargs)
    actual = conv_both_ways("numba", x, w, **kwargs)
    for name, a, e in zip(("out", "dx", "dw"), actual[:3], expected[:3], strict=True):
        assert a.shape == e.shape, name
        assert_same_numbers(a, e, f"{name} differs for x {x_shape}, w {w_shape}, {kwargs}")


@pytest.fixture
def threads(monkeypatch):
    """Set the kernels' thread count inside a test (restored afterwards); with no
    size threshold, so that even these tiny arrays are shared among threads."""
    monkeypatch.setattr(_threads, "SHARE_ABOVE_SECONDS", 0.0)
    previous = _threads.get_num_threads()
    yield _threads.set_num_threads
    _threads.set_num_threads(previous)


@pytest.mark.parametrize("w_shape, kwargs", [
    ((6, 2, 3, 2), dict(stride=(2, 1), padding=(1, 2), dilation=(2, 3), groups=2)),
    ((6, 4, 1, 1), dict()),                                   # pointwise
    ((8, 1, 3, 3), dict(padding=2, dilation=2, groups=4)),    # depthwise, multiplier 2
])
def test_sharing_the_work_among_threads_does_not_change_the_result(threads, w_shape, kwargs):
    # Each thread takes a slice of the images (or planes) and owns their outputs:
    # one thread and three threads (more than this batch of 5 splits evenly) give
    # the same numbers, bit for bit.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 4, 9, 7))
    w = rng.standard_normal(w_shape)
    threads(1)
    one_thread = conv_both_ways("numba", x, w, **kwargs)
    threads(3)
    threaded = conv_both_ways("numba", x, w, **kwargs)
    for name, a, e in zip(("out", "dx", "dw"), threaded[:3], one_thread[:3], strict=True):
        assert np.array_equal(a, e), name


@pytest.mark.parametrize("w_shape, kwargs", [
    ((4, 4, 3, 3), dict(padding=2, dilation=2)),
    ((4, 4, 3, 3), dict(padding=3, dilation=3)),          # 'same', rows cut to live taps
    ((6, 2, 3, 2), dict(stride=(2, 1), padding=(1, 0), groups=2)),
    ((4, 4, 3, 3), dict(stride=2, padding=1)),             # read from phase planes
])
@pytest.mark.parametrize("columns", [5, 14])
def test_columns_built_in_bands_of_a_few_rows_give_the_same_numbers(monkeypatch, w_shape,
                                                                      kwargs, columns):
    # im2col and col2im work on bands of about BAND_COLUMNS output pixels (dW on
    # WEIGHT_BAND_COLUMNS, its products summed over the bands); with 5 (14) columns a
    # band is one row (two rows) of this 7-pixel-wide output, the last band shorter
    # and no band mixing rows with different live kernel rows
    from minideeplab.kernels import conv as conv_kernels

    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 4, 9, 7 if kwargs.get("stride") != 2 else 14))
    w = rng.standard_normal(w_shape)
    expected = conv_both_ways("numpy", x, w, **kwargs)
    monkeypatch.setattr(conv_kernels, "BAND_COLUMNS", columns)
    monkeypatch.setattr(conv_kernels, "BAND_VALUES", 1)
    monkeypatch.setattr(conv_kernels, "WEIGHT_BAND_COLUMNS", columns)
    banded = conv_both_ways("numba", x, w, **kwargs)
    for name, a, e in zip(("out", "dx", "dw"), banded[:3], expected[:3], strict=True):
        assert_same_numbers(a, e, name)


SAME_GEOMETRIES = [  # (kernel, dilation): 'same' padding d*(k-1)/2 in each axis
    ((3, 3), (1, 1)), ((3, 3), (2, 6)), ((1, 3), (1, 4)), ((5, 3), (1, 12)), ((3, 1), (7, 1)),
]


@pytest.mark.parametrize("kernel, dilation", SAME_GEOMETRIES)
@pytest.mark.parametrize("height, width", [(1, 1), (2, 5), (5, 2), (6, 7), (9, 4)])
def test_im2col_fast_route_for_same_convolutions_copies_the_same_columns(kernel, dilation,
                                                                          height, width):
    # stride 1, output of the input's size: im2col_planes copies long runs and zeroes the
    # values that ran over a row's end; it must give im2col's columns exactly, for every
    # band, also when the padding is wider than the image (rate 12 on 4 pixels)
    from minideeplab.kernels import im2col

    (kh, kw), (dh, dw) = kernel, dilation
    ph, pw = dh * (kh - 1) // 2, dw * (kw - 1) // 2
    x = np.random.default_rng(3).standard_normal((2, height, width))
    for rows in sorted({1, 2, height}):
        for first_row in range(0, height, rows):
            band = min(rows, height - first_row)
            general = np.full((2 * kh * kw, band * width), np.nan)
            fast = np.full_like(general, np.nan)
            im2col.im2col(x, kh, kw, 1, 1, ph, pw, dh, dw, first_row, band, width, general)
            im2col.im2col_planes(x[:, None], kh, kw, 1, 1, ph, pw, dh, dw, first_row, band,
                                 fast)
            assert np.array_equal(fast, general), (rows, first_row)


def test_row_bands_on_hand_worked_cases():
    from minideeplab.kernels.conv import _row_bands

    # rate 12, 'same', on 32 rows, bands of at most 8 rows: the top kernel row reads
    # only padding for output rows 0-11, the bottom one for rows 20-31
    assert _row_bands(32, 3, 1, 12, 12, 32, 8) == [
        (0, 8, 1, 3), (8, 4, 1, 3), (12, 8, 0, 3), (20, 8, 0, 2), (28, 4, 0, 2)]
    # a strided 3x3 with padding 1 on 8 rows: only output row 0 reads the top padding
    assert _row_bands(8, 3, 2, 1, 1, 4, 8) == [(0, 1, 1, 3), (1, 3, 0, 3)]
    # no padding: one band of every tap
    assert _row_bands(6, 3, 1, 0, 1, 4, 8) == [(0, 4, 0, 3)]


def test_phase_planes_of_a_small_image():
    from minideeplab.kernels import im2col

    x = np.arange(1.0, 16.0).reshape(1, 3, 5)        # rows 1-5, 6-10, 11-15
    planes = np.full((1, 4, 2, 3), np.nan)
    im2col.split_phases(x, 2, 2, planes)
    # plane (a, b) = x[a::2, b::2], zero where the stride grid runs past x
    assert planes[0, 0].tolist() == [[1, 3, 5], [11, 13, 15]]
    assert planes[0, 1].tolist() == [[2, 4, 0], [12, 14, 0]]
    assert planes[0, 2].tolist() == [[6, 8, 10], [0, 0, 0]]
    assert planes[0, 3].tolist() == [[7, 9, 0], [0, 0, 0]]


@pytest.mark.parametrize("kernel, stride, padding, dilation", [
    ((3, 3), (2, 2), (1, 1), (1, 1)),      # a backbone's strided 3x3
    ((3, 3), (2, 2), (2, 1), (1, 1)),
    ((3, 2), (2, 3), (2, 1), (2, 2)),
    ((1, 3), (3, 2), (0, 2), (1, 2)),
    ((5, 3), (2, 2), (4, 3), (2, 3)),      # padding wider than the image
])
@pytest.mark.parametrize("height, width", [(1, 1), (4, 6), (5, 7), (9, 4)])
def test_columns_from_phase_planes_equal_im2col(kernel, stride, padding, dilation, height,
                                                width):
    # im2col_planes reads each tap from one shifted phase plane of x; wherever an output
    # row is as wide as a plane's row it must copy im2col's columns exactly, band by band,
    # and col2im_planes + merge_phases must add them back as col2im does
    from minideeplab.kernels import im2col

    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    h_out, w_out = conv_output_size((height, width), kernel, stride, padding, dilation)
    assert im2col.reads_planes(width, w_out, sw)     # (2*pw == dw*(kw - 1) above)
    x = np.random.default_rng(3).standard_normal((2, height, width))
    planes = np.full((2, sh * sw, -(-height // sh), w_out), np.nan)
    im2col.split_phases(x, sh, sw, planes)
    for rows in sorted({1, 2, h_out}):
        for first_row in range(0, h_out, rows):
            band = min(rows, h_out - first_row)
            general = np.full((2 * kh * kw, band * w_out), np.nan)
            fast = np.full_like(general, np.nan)
            im2col.im2col(x, kh, kw, sh, sw, ph, pw, dh, dw, first_row, band, w_out, general)
            im2col.im2col_planes(planes, kh, kw, sh, sw, ph, pw, dh, dw, first_row, band, fast)
            assert np.array_equal(fast, general), (rows, first_row)
            # and the adjoints: columns added back onto x directly, or onto the planes
            cols = np.random.default_rng(first_row).standard_normal(general.shape)
            dx = np.zeros_like(x)
            im2col.col2im(cols, kh, kw, sh, sw, ph, pw, dh, dw, first_row, band, w_out, dx)
            dx_planes = np.zeros_like(planes)
            im2col.col2im_planes(cols, kh, kw, sh, sw, ph, pw, dh, dw, first_row, band,
                                 dx_planes)
            merged = np.full_like(x, np.nan)
            im2col.merge_phases(dx_planes, sh, sw, merged)
            np.testing.assert_allclose(merged, dx, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride, padding, dilation", [
    (1, 1, 1), (1, 6, 6), (2, 1, 1), ((1, 2), (0, 3), (2, 1)), (1, 0, 1), (1, 3, 1),
    (2, 12, 12),
])
@pytest.mark.parametrize("multiplier", [1, 2])
def test_depthwise_3x3_route_gives_the_reference_numbers(stride, padding, dilation, multiplier):
    # 3x3 depthwise kernels take a route of their own (nine taps in one pass; dX by the same
    # loops on the spread dout, flipped kernel): the same numbers as the NumPy reference,
    # on maps smaller than the rate
    rng = np.random.default_rng(11)
    for x_shape in [(2, 3, 9, 7), (1, 2, 4, 5)]:
        x = rng.standard_normal(x_shape)
        w = rng.standard_normal((x_shape[1] * multiplier, 1, 3, 3))
        kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=x_shape[1])
        size = conv_output_size(x_shape[2:], (3, 3), stride, padding, dilation)
        if min(size) < 1:
            continue
        expected = conv_both_ways("numpy", x, w, **kwargs)
        actual = conv_both_ways("numba", x, w, **kwargs)
        for name, a, e in zip(("out", "dx", "dw"), actual[:3], expected[:3], strict=True):
            assert_same_numbers(a, e, f"{name}, x {x_shape}, {kwargs}")


def test_the_spread_dout_of_a_strided_depthwise_conv_by_hand():
    # stride 2, 3x3, padding 1 on a 1x5 row -> 3 outputs read inputs -1..1, 1..3, 3..5;
    # the flipped kernel reads G = dout at i*2 + (2 - 1) = 1, 3, 5 of a row of 5 + 2
    from minideeplab.kernels import depthwise

    grad_out = np.array([1.0, 2.0, 3.0]).reshape(1, 1, 1, 3)
    spread, padding = depthwise._spread_for_flipped(grad_out, (1, 3), (1, 5), (1, 2), (0, 1),
                                                    (1, 1))
    assert padding == (0, 0)
    np.testing.assert_array_equal(spread[0, 0, 0], [0, 1, 0, 2, 0, 3, 0])
    # stride 1 with 'same' padding: dout itself, padded by the kernel
    same = np.ones((1, 1, 4, 4))
    spread, padding = depthwise._spread_for_flipped(same, (3, 3), (4, 4), (1, 1), (2, 2), (2, 2))
    assert spread is same and padding == (2, 2)


@pytest.mark.parametrize("padding", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_depthwise_dx_is_the_flipped_forward_pass_for_any_padding(stride, padding):
    # dX by the forward loops on the spread dout: paddings below 'same' (the spread gets
    # margins), above it (up to more than the kernel's span: the spread is cropped), and
    # strides; against the NumPy reference's scatter, float64
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 3, 7, 6))
    w = rng.standard_normal((6, 1, 3, 3))                    # a depth multiplier of 2
    kwargs = dict(stride=stride, padding=padding, dilation=1, groups=3)
    expected = conv_both_ways("numpy", x, w, **kwargs)
    actual = conv_both_ways("numba", x, w, **kwargs)
    assert_same_numbers(actual[1], expected[1], f"dx, {kwargs}")


@pytest.mark.parametrize("groups", ["dense", "depthwise", "depthwise x2"])
@pytest.mark.parametrize("size, rate, stride", [
    (4, 6, 1), (4, 18, 1), (8, 12, 1), ((4, 9), (6, 2), 1), (5, 3, 2), (3, 2, 1),
])
def test_taps_that_read_only_padding_are_dropped_with_the_same_numbers(groups, size, rate,
                                                                        stride):
    # ASPP on a map smaller than its rate: the outer taps read only padding; the kernels drop
    # them (a 3x3 kernel that reads only its centre becomes a 1x1 one) and give the
    # reference's numbers, dW of the dropped taps exactly 0
    from minideeplab.kernels import conv as conv_kernels

    rng = np.random.default_rng(5)
    size, rate = np.broadcast_to(size, 2), np.broadcast_to(rate, 2)
    c = 4
    x = rng.standard_normal((2, c, *size))
    depthwise = groups.startswith("depthwise")
    c_out = 2 * c if groups == "depthwise x2" else c          # a depth multiplier of 2
    w = rng.standard_normal((c_out, 1 if depthwise else c, 3, 3))
    kwargs = dict(stride=stride, padding=tuple(int(r) for r in rate),
                  dilation=tuple(int(r) for r in rate), groups=c if depthwise else 1)
    out_size = conv_output_size(tuple(size), (3, 3), stride, kwargs["padding"],
                                kwargs["dilation"])
    kept = conv_kernels._taps_kept(w.shape, tuple(size), (stride, stride), kwargs["padding"],
                                   kwargs["dilation"], out_size)
    expected = conv_both_ways("numpy", x, w, **kwargs)
    actual = conv_both_ways("numba", x, w, **kwargs)
    for name, a, e in zip(("out", "dx", "dw"), actual[:3], expected[:3], strict=True):
        assert_same_numbers(a, e, f"{name}, size {size}, rate {rate}")
    if kept is not None:
        dead = np.ones((3, 3), bool)
        dead[kept[0]] = False
        assert not actual[2][:, :, dead].any()


def test_live_taps_on_hand_worked_cases():
    from minideeplab.kernels.conv import _live_taps

    # 'same' 3x3 at rate d on a map of n pixels: the outer taps read x only if d < n
    assert _live_taps(4, 3, 1, 6, 6, 4) == (1, 2)
    assert _live_taps(4, 3, 1, 3, 3, 4) == (0, 3)
    assert _live_taps(8, 3, 1, 12, 12, 8) == (1, 2)
    # no padding: every tap reads x
    assert _live_taps(9, 3, 1, 0, 4, 1) == (0, 3)
    # tap 0's last read is 3 - 5 < 0, tap 2's first 2*5 - 5 = 5 >= 4: both dead
    assert _live_taps(4, 3, 1, 5, 5, 4) == (1, 2)
    # on 6 pixels tap 0 reaches 5 - 5 = 0 and tap 2 starts at 5 < 6: all live
    assert _live_taps(6, 3, 1, 5, 5, 6) == (0, 3)
    # stride 2: the last output (i = 1) reads 2 - 3 < 0 with tap 0
    assert _live_taps(4, 3, 2, 3, 3, 2) == (1, 3)


def test_taps_are_kept_when_cutting_them_would_need_padding_on_one_side_only():
    # (found by the random-geometry test) stride 2, padding 3, rate 3 on 4 rows: tap 0
    # is dead, but the cut kernel padded 3 - 3 = 0 on both sides would give 1 output row,
    # not 2: its second row's bottom tap reads row 5, past x and past that padding.
    # Nothing is cut then; the depthwise kernels had read past their padded copy of x.
    from minideeplab.kernels.conv import _taps_kept

    assert _taps_kept((2, 1, 3, 2), (4, 7), (2, 2), (3, 2), (3, 2), (2, 5)) is None
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 2, 4, 7))
    w = rng.standard_normal((2, 1, 3, 2))
    kwargs = dict(stride=2, padding=(3, 2), dilation=(3, 2), groups=2)
    expected = conv_both_ways("numpy", x, w, **kwargs)
    actual = conv_both_ways("numba", x, w, **kwargs)
    for name, a, e in zip(("out", "dx", "dw"), actual[:3], expected[:3], strict=True):
        assert_same_numbers(a, e, name)


def test_depthwise_dw_sums_the_whole_batch_deterministically():
    # dW sums over images. Every image's share is computed in its own slot and
    # summed afterwards (no "+=" from parallel iterations into one dW), so the
    # result is the same on every run, bit for bit.
    rng = np.random.default_rng(4)
    x = rng.standard_normal((16, 8, 12, 12))
    w = rng.standard_normal((8, 1, 3, 3))
    runs = [conv_both_ways("numba", x, w, padding=2, dilation=2, groups=8)[2] for _ in range(3)]
    assert all(np.array_equal(runs[0], r) for r in runs[1:])
    reference = conv_both_ways("numpy", x, w, padding=2, dilation=2, groups=8)[2]
    assert_same_numbers(runs[0], reference, "dw")


# ------------------------------------------------------------------ gradient checks

# (name, x shape, w shape, conv keyword arguments)
GRADIENT_CASES = [
    ("standard 3x3", (2, 3, 6, 6), (4, 3, 3, 3), dict(padding=1)),
    ("stride 2 with dilation 2", (2, 2, 9, 10), (3, 2, 3, 3),
     dict(stride=2, padding=1, dilation=2)),
    ("stride 2, read from phase planes", (2, 2, 8, 7), (3, 2, 3, 3), dict(stride=2, padding=1)),
    ("non-square kernel, H != W", (2, 2, 5, 8), (3, 2, 2, 4), dict(stride=(1, 2), padding=(0, 1))),
    ("atrous, rates differ in h and w", (1, 2, 9, 11), (2, 2, 3, 3),
     dict(padding=(1, 3), dilation=(1, 3))),
    ("depthwise", (2, 3, 5, 6), (3, 1, 3, 3), dict(padding=1, groups=3)),
    ("atrous depthwise", (1, 3, 8, 7), (3, 1, 3, 3), dict(padding=3, dilation=3, groups=3)),
    ("strided depthwise, multiplier 2", (2, 2, 7, 6), (4, 1, 3, 2),
     dict(stride=2, padding=1, groups=2)),
    ("pointwise", (2, 4, 3, 5), (5, 4, 1, 1), dict()),
    ("strided pointwise", (2, 4, 5, 5), (3, 4, 1, 1), dict(stride=2)),
    ("grouped", (2, 4, 5, 5), (6, 2, 3, 3), dict(padding=1, groups=2)),
    ("output size 1", (2, 2, 3, 3), (3, 2, 3, 3), dict()),
    ("dilated to output size 1", (1, 2, 5, 5), (2, 2, 3, 3), dict(dilation=2)),
]


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no bias"])
@pytest.mark.parametrize("name, x_shape, w_shape, kwargs", GRADIENT_CASES,
                         ids=[case[0] for case in GRADIENT_CASES])
def test_gradients_through_numba(name, x_shape, w_shape, kwargs, bias):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    inputs = (x, w, rng.standard_normal(w_shape[0])) if bias else (x, w)
    with mdl.use_backend("numba"):
        errors = mdl.gradcheck(F.conv2d_forward, F.conv2d_backward, inputs, kwargs=kwargs,
                               wrt=tuple(range(len(inputs))))
    assert max(errors.values()) < 1e-6, errors


# ----------------------------------------------------------------------------- dtype

@pytest.mark.parametrize("w_shape, kwargs", [
    ((4, 1, 3, 3), dict(padding=2, dilation=2, groups=4)),   # depthwise loops
    ((6, 4, 1, 1), dict()),                                   # pointwise GEMM
    ((6, 4, 3, 3), dict(stride=2, padding=1)),                # im2col + GEMM
], ids=["depthwise", "pointwise", "im2col"])
def test_float32_in_float32_out(w_shape, kwargs):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 7, 6))
    w = rng.standard_normal(w_shape)
    single = conv_both_ways("numba", x.astype(np.float32), w.astype(np.float32), **kwargs)[:3]
    double = conv_both_ways("numba", x, w, **kwargs)[:3]
    for name, a, e in zip(("out", "dx", "dw"), single, double, strict=True):
        assert a.dtype == np.float32, name
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-4 * np.abs(e).max(), err_msg=name)


# ---------------------------------------------------------------------------- torch

TORCH_CASES = [
    ((2, 3, 9, 8), (4, 3, 3, 3), dict(stride=1, padding=1, dilation=1, groups=1)),
    ((2, 4, 11, 10), (6, 2, 3, 2), dict(stride=(2, 1), padding=(2, 1), dilation=(2, 3), groups=2)),
    ((2, 5, 13, 12), (5, 1, 3, 3), dict(stride=1, padding=6, dilation=6, groups=5)),
    ((2, 4, 6, 7), (8, 4, 1, 1), dict(stride=1, padding=0, dilation=1, groups=1)),
]


TORCH_IDS = ["standard", "grouped atrous strided", "depthwise atrous", "pointwise"]


@pytest.mark.parametrize("x_shape, w_shape, kwargs", TORCH_CASES, ids=TORCH_IDS)
def test_matches_torch(x_shape, w_shape, kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    out, dx, dw, db = conv_both_ways("numba", x, w, b, **kwargs)

    x_t = torch.tensor(x, requires_grad=True)
    w_t = torch.tensor(w, requires_grad=True)
    b_t = torch.tensor(b, requires_grad=True)
    out_t = torch.nn.functional.conv2d(x_t, w_t, b_t, **kwargs)
    dout = np.random.default_rng(1).standard_normal(out.shape)   # as in conv_both_ways
    out_t.backward(torch.tensor(dout))
    for name, mine, theirs in (("out", out, out_t), ("dx", dx, x_t.grad), ("dw", dw, w_t.grad),
                               ("db", db, b_t.grad)):
        assert_same_numbers(mine, theirs.detach().numpy(), name)
