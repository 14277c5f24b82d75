"""conv2d: gradient checks for every kind, identities a reader can check by eye, bad input.

Gradient checks: float64, a random upstream gradient, every element, central
differences; the relative error must be below 1e-6 (a correct backward pass
gives about 1e-9; a wrong one is off by orders of magnitude more).
"""

import numpy as np
import pytest

import minideeplab as mdl
from minideeplab import functional as F
from minideeplab import nn
from minideeplab.summary import count_parameters, layer_mult_adds

THRESHOLD = 1e-6

# (name, x shape, w shape, conv keyword arguments)
CASES = [
    ("standard", (2, 3, 6, 5), (4, 3, 3, 3), dict(padding=1)),
    ("strided", (2, 3, 7, 6), (4, 3, 3, 3), dict(stride=2, padding=1)),
    ("atrous", (1, 2, 9, 8), (3, 2, 3, 3), dict(padding=2, dilation=2)),
    ("stride 2 with dilation 2", (2, 2, 9, 10), (3, 2, 3, 3),
     dict(stride=2, padding=1, dilation=2)),
    ("atrous, different rates in h and w", (1, 2, 9, 11), (2, 2, 3, 3),
     dict(padding=(1, 3), dilation=(1, 3))),
    ("non-square kernel, H != W", (2, 2, 5, 8), (3, 2, 2, 4), dict(stride=(1, 2), padding=(0, 1))),
    ("grouped", (2, 4, 5, 5), (6, 2, 3, 3), dict(padding=1, groups=2)),
    ("depthwise", (2, 3, 5, 6), (3, 1, 3, 3), dict(padding=1, groups=3)),
    ("atrous depthwise", (1, 3, 8, 7), (3, 1, 3, 3), dict(padding=3, dilation=3, groups=3)),
    ("pointwise", (2, 4, 3, 5), (5, 4, 1, 1), dict()),
    ("padding 0, output size 1", (2, 2, 3, 3), (3, 2, 3, 3), dict()),
    ("dilated to output size 1", (1, 2, 5, 5), (2, 2, 3, 3), dict(dilation=2)),
]


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no bias"])
@pytest.mark.parametrize("name, x_shape, w_shape, kwargs", CASES, ids=[c[0] for c in CASES])
def test_conv2d_gradients(backend, name, x_shape, w_shape, kwargs, bias):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    inputs = (x, w, rng.standard_normal(w_shape[0])) if bias else (x, w)
    errors = mdl.gradcheck(F.conv2d_forward, F.conv2d_backward, inputs, kwargs=kwargs,
                           wrt=tuple(range(len(inputs))))
    assert max(errors.values()) < THRESHOLD, errors


def test_no_bias_gives_db_none():
    x = np.ones((1, 1, 3, 3))
    _, cache = F.conv2d_forward(x, np.ones((1, 1, 3, 3)))
    assert F.conv2d_backward(np.ones((1, 1, 1, 1)), cache)[2] is None


def test_without_the_input_gradient_dw_and_db_are_the_same(backend):
    # input_grad=False (the first layer in training): dx is not computed, dw and db unchanged
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((4, 3, 3, 3)), np.ones(4)
    with mdl.use_backend(backend):
        out, cache = F.conv2d_forward(x, w, b, stride=2, padding=1)
        dout = rng.standard_normal(out.shape)
        dx, dw, db = F.conv2d_backward(dout, cache)
        no_dx, dw_only, db_only = F.conv2d_backward(dout, cache, input_grad=False)
    assert dx.shape == x.shape and no_dx is None
    np.testing.assert_array_equal(dw_only, dw)
    np.testing.assert_array_equal(db_only, db)


def test_dilated_conv_of_a_ramp_by_eye(backend):
    # x[i, j] = j (a ramp left to right). A 3x3 kernel of ones at rate 2 adds the
    # columns j-2, j, j+2 three times each: 3 * (3j) = 9j in the interior.
    x = np.tile(np.arange(8.0), (8, 1))[None, None]
    out, _ = F.conv2d_forward(x, np.ones((1, 1, 3, 3)), dilation=2)
    assert out.shape == (1, 1, 4, 4)                 # 8 - (2*(3-1)+1) + 1 = 4
    np.testing.assert_array_equal(out[0, 0], np.tile(9.0 * np.arange(2, 6), (4, 1)))


@pytest.mark.parametrize("rate", [1, 2, 3])
def test_atrous_equals_big_kernel_with_zeros_off_the_grid(backend, rate):
    # a 3x3 at rate d is a (2d+1)x(2d+1) kernel that is zero except every d-th tap
    rng = np.random.default_rng(rate)
    x = rng.standard_normal((2, 3, 11, 9))
    w = rng.standard_normal((4, 3, 3, 3))
    big = np.zeros((4, 3, 2 * rate + 1, 2 * rate + 1))
    big[:, :, ::rate, ::rate] = w
    atrous, _ = F.conv2d_forward(x, w, padding=rate, dilation=rate)
    dense, _ = F.conv2d_forward(x, big, padding=rate)
    np.testing.assert_allclose(atrous, dense, rtol=1e-12, atol=1e-12)


def test_depthwise_with_one_channel_equals_conv2d(backend):
    # One channel: the depthwise conv (groups = C = 1, the direct-loop route of
    # the Numba backend) against the plain 2-D correlation written out by hand.
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 1, 7, 6))
    w = rng.standard_normal((1, 1, 3, 3))
    depthwise, _ = F.conv2d_forward(x, w, padding=2, dilation=2, groups=1)
    x_padded = np.pad(x[:, 0], ((0, 0), (2, 2), (2, 2)))
    by_hand = np.zeros((2, 1, 7, 6))
    for i in range(7):
        for j in range(6):
            window = x_padded[:, i:i + 5:2, j:j + 5:2]          # 3x3 taps, 2 pixels apart
            by_hand[:, 0, i, j] = (window * w[0, 0]).sum(axis=(1, 2))
    np.testing.assert_allclose(depthwise, by_hand, rtol=1e-12, atol=1e-12)
    # and channel by channel: a depthwise conv of C channels is C one-channel convs
    x3 = rng.standard_normal((2, 3, 7, 6))
    w3 = rng.standard_normal((3, 1, 3, 3))
    out3, _ = F.conv2d_forward(x3, w3, padding=1, groups=3)
    for c in range(3):
        single, _ = F.conv2d_forward(x3[:, c:c + 1], w3[c:c + 1], padding=1)
        np.testing.assert_allclose(out3[:, c:c + 1], single, rtol=1e-12, atol=1e-12)


def test_separable_equals_depthwise_then_pointwise(backend):
    # depthwise (C, 1, k, k) then pointwise (F, C, 1, 1) is one conv whose kernel
    # factorises: w[f, c, u, v] = pointwise[f, c] * depthwise[c, u, v]
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 8, 8))
    depthwise = rng.standard_normal((3, 1, 3, 3))
    pointwise = rng.standard_normal((5, 3, 1, 1))
    mid, _ = F.conv2d_forward(x, depthwise, padding=2, dilation=2, groups=3)
    two_step, _ = F.conv2d_forward(mid, pointwise)
    factorised = pointwise[:, :, 0, 0][:, :, None, None] * depthwise[:, 0][None]
    one_step, _ = F.conv2d_forward(x, factorised, padding=2, dilation=2)
    np.testing.assert_allclose(two_step, one_step, rtol=1e-10, atol=1e-12)


def test_parameter_count_example_from_the_paper_figure():
    # a 3x3 conv from 3 to 16 channels (on an 8x8x3 input) against its
    # depthwise separable factorisation
    standard = nn.Conv2d(3, 16, 3, padding=1, bias=False)
    depthwise = nn.Conv2d(3, 3, 3, padding=1, groups=3, bias=False)
    pointwise = nn.Conv2d(3, 16, 1, bias=False)
    assert count_parameters(standard) == 432                       # 3*3*3*16
    assert count_parameters(depthwise) == 27                       # 3*3*3
    assert count_parameters(pointwise) == 48                       # 3*16
    assert count_parameters(depthwise) + count_parameters(pointwise) == 75
    # mult-adds on an 8x8 output
    assert layer_mult_adds(standard, (8, 8)) == 27_648            # 432 * 64
    assert layer_mult_adds(depthwise, (8, 8)) + layer_mult_adds(pointwise, (8, 8)) == 4_800


def test_dtype_is_kept(backend):
    x = np.ones((1, 2, 5, 5), dtype=np.float32)
    w = np.ones((3, 2, 3, 3), dtype=np.float32)
    out, cache = F.conv2d_forward(x, w, np.zeros(3, np.float32), padding=1)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in F.conv2d_backward(np.ones_like(out), cache))


@pytest.mark.parametrize("x_shape, w_shape, kwargs, error, pattern", [
    ((2, 3, 5), (4, 3, 3, 3), {}, ValueError, "x must have rank 4"),
    ((1, 3, 5, 5), (4, 3, 3), {}, ValueError, "w must have rank 4"),
    ((1, 3, 5, 5), (4, 2, 3, 3), {}, ValueError, "channel mismatch"),
    ((1, 3, 5, 5), (4, 1, 3, 3), dict(groups=2), ValueError, "groups=2 must divide"),
    ((1, 4, 5, 5), (3, 2, 3, 3), dict(groups=2), ValueError, "groups=2 must divide"),
    ((1, 3, 2, 2), (4, 3, 3, 3), {}, ValueError, "output size"),
    ((1, 3, 5, 5), (4, 3, 3, 3), dict(dilation=3), ValueError, "output size"),
    ((1, 3, 5, 5), (4, 3, 3, 3), dict(stride=0), ValueError, "stride must be >= 1"),
    ((1, 3, 5, 5), (4, 3, 3, 3), dict(dilation=0), ValueError, "dilation must be >= 1"),
    ((1, 3, 5, 5), (4, 3, 3, 3), dict(padding=-1), ValueError, "padding must be >= 0"),
    ((1, 3, 5, 5), (4, 3, 3, 3), dict(groups=0), ValueError, "groups"),
])
def test_bad_input_names_the_argument(x_shape, w_shape, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        F.conv2d_forward(np.zeros(x_shape), np.zeros(w_shape), **kwargs)


def test_integer_and_mixed_dtypes_are_refused():
    with pytest.raises(TypeError, match="x must have a floating dtype"):
        F.conv2d_forward(np.zeros((1, 1, 3, 3), dtype=np.int64), np.zeros((1, 1, 3, 3)))
    with pytest.raises(TypeError, match="share one dtype"):
        F.conv2d_forward(np.zeros((1, 1, 3, 3), np.float32), np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="b must have shape"):
        F.conv2d_forward(np.zeros((1, 1, 3, 3)), np.zeros((2, 1, 3, 3)), np.zeros(3))


def test_backward_checks_dout_shape():
    _, cache = F.conv2d_forward(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="dout must have the forward output's shape"):
        F.conv2d_backward(np.zeros((1, 1, 3, 3)), cache)


# ------------------------------------------- the backward pass, as the docstring tells it
#
# functional/conv.py claims: dX is the forward convolution of dout, zero-inserted
# (stride) and padded, with the kernel flipped and its in/out channels swapped;
# dW is a correlation of x with dout. These tests build both from conv2d_forward
# alone and compare them with conv2d_backward.

def zero_insert(a, stride):
    """Put ``stride - 1`` zeros between neighbouring pixels of ``a`` (N, C, H, W)."""
    sh, sw = stride
    n, c, h, w = a.shape
    out = np.zeros((n, c, (h - 1) * sh + 1, (w - 1) * sw + 1), dtype=a.dtype)
    out[:, :, ::sh, ::sw] = a
    return out


def flipped_transposed(w, groups):
    """w (C_out, C_in/G, kH, kW) -> (C_in, C_out/G, kH, kW), flipped in both spatial axes."""
    c_out, c_in_g, kh, kw = w.shape
    f_g = c_out // groups
    w_t = w.reshape(groups, f_g, c_in_g, kh, kw).transpose(0, 2, 1, 3, 4)
    return w_t.reshape(groups * c_in_g, f_g, kh, kw)[:, :, ::-1, ::-1].copy()


def random_conv_backward(x_shape, w_shape, stride, padding, dilation, groups):
    """x, w, a random dout, and conv2d_backward's (dx, dw, db), all float64."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    out, cache = F.conv2d_forward(x, w, stride=stride, padding=padding, dilation=dilation,
                                  groups=groups)
    dout = rng.standard_normal(out.shape)
    return x, w, dout, F.conv2d_backward(dout, cache)


BACKWARD_GEOMETRIES = [
    # x shape, w shape, stride, padding, dilation, groups
    ((2, 3, 9, 8), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    ((2, 3, 11, 10), (4, 3, 3, 3), (2, 2), (2, 2), (2, 2), 1),     # stride 2 with dilation 2
    ((1, 4, 10, 9), (6, 2, 3, 2), (2, 1), (1, 2), (2, 3), 2),      # groups, non-square
    ((2, 4, 9, 9), (4, 1, 3, 3), (1, 1), (2, 2), (2, 2), 4),       # depthwise, atrous
]


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups",
                         BACKWARD_GEOMETRIES)
def test_dx_is_a_convolution_of_the_zero_inserted_dout_with_the_flipped_kernel(
        x_shape, w_shape, stride, padding, dilation, groups):
    x, w, dout, (dx, _, _) = random_conv_backward(x_shape, w_shape, stride, padding, dilation,
                                                  groups)

    kh, kw = w_shape[2:]
    reach = (dilation[0] * (kh - 1), dilation[1] * (kw - 1))    # effective kernel - 1
    spread = zero_insert(dout, stride)
    dx_covered, _ = F.conv2d_forward(spread, flipped_transposed(w, groups), padding=reach,
                                     dilation=dilation, groups=groups)
    # rows and columns of the padded input that no window reached get no gradient
    dx_padded = np.zeros((x_shape[0], x_shape[1], x_shape[2] + 2 * padding[0],
                          x_shape[3] + 2 * padding[1]))
    dx_padded[:, :, :dx_covered.shape[2], :dx_covered.shape[3]] = dx_covered
    expected = dx_padded[:, :, padding[0]:padding[0] + x_shape[2],
                         padding[1]:padding[1] + x_shape[3]]
    np.testing.assert_allclose(dx, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups",
                         BACKWARD_GEOMETRIES)
def test_dw_is_a_correlation_of_x_with_dout(x_shape, w_shape, stride, padding, dilation,
                                            groups):
    x, w, dout, (_, dw, _) = random_conv_backward(x_shape, w_shape, stride, padding, dilation,
                                                  groups)

    # dW[f, c, u, v] = sum_{n,i,j} x_pad[n, c, u*d + i*s, v*d + j*s] * dout[n, f, i, j]:
    # channels of x become the batch, images become channels, dout is the kernel
    # (its taps s apart: dilation s) and the kernel offsets step by d (stride d).
    x_padded = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    correlation, _ = F.conv2d_forward(x_padded.transpose(1, 0, 2, 3).copy(),
                                      dout.transpose(1, 0, 2, 3).copy(),
                                      stride=dilation, dilation=stride)
    every_pair = correlation.transpose(1, 0, 2, 3)[:, :, :w_shape[2], :w_shape[3]]  # (F, C, k, k)
    c_out, c_in_g = w_shape[:2]
    f_g = c_out // groups
    expected = np.stack([every_pair[f, (f // f_g) * c_in_g:(f // f_g + 1) * c_in_g]
                         for f in range(c_out)])
    np.testing.assert_allclose(dw, expected, rtol=1e-12, atol=1e-12)
