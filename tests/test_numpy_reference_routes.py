"""The NumPy reference's conv routes, batch norm and relu against their formulas as loops.

``functional/conv.py`` takes one of two routes: im2col (+ col2im for dX) for
dense, grouped and pointwise convolutions, and per-tap multiply-adds over
shifted channel rows for depthwise ones. Each route is checked here, pass by
pass, against the module docstring's sums written as plain Python loops, on
tiny float64 shapes covering stride 2, dilation, non-square kernels and maps,
different steps in h and w, grouped and depthwise with a channel multiplier;
and the two routes against each other on depthwise shapes. The batch norm and
relu references, which work in place on their own temporaries, are checked
against the formulas and for leaving their inputs alone.
"""

import itertools

import numpy as np
import pytest

from minideeplab import functional as F
from minideeplab.functional import activation, batchnorm, conv
from minideeplab.geometry import conv_output_size

# (name, x shape, w shape, stride, padding, dilation, groups)
GEOMETRIES = [
    ("dense 3x3", (2, 3, 5, 6), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),
    ("dense strided, non-square kernel", (2, 2, 7, 6), (3, 2, 2, 3), (2, 1), (1, 0), (1, 1), 1),
    ("dense atrous, stride 2", (1, 2, 9, 10), (3, 2, 3, 3), (2, 2), (1, 2), (2, 3), 1),
    ("grouped", (2, 4, 5, 5), (6, 2, 3, 3), (1, 1), (1, 1), (1, 1), 2),
    ("pointwise", (2, 4, 3, 5), (5, 4, 1, 1), (1, 1), (0, 0), (1, 1), 1),
    ("pointwise, strided and padded", (2, 4, 5, 4), (3, 4, 1, 1), (2, 2), (1, 1), (1, 1), 1),
    ("depthwise", (2, 3, 5, 6), (3, 1, 3, 3), (1, 1), (1, 1), (1, 1), 3),
    ("depthwise strided", (2, 3, 7, 6), (3, 1, 3, 3), (2, 2), (1, 1), (1, 1), 3),
    ("depthwise atrous", (1, 3, 8, 7), (3, 1, 3, 3), (1, 1), (3, 3), (3, 3), 3),
    ("depthwise, every step different in h and w", (2, 2, 9, 7), (2, 1, 2, 3), (2, 1), (0, 2),
     (3, 2), 2),
    ("depthwise, multiplier 2", (2, 2, 6, 5), (4, 1, 3, 3), (1, 1), (1, 1), (1, 1), 2),
    ("depthwise strided atrous, multiplier 3", (1, 2, 9, 8), (6, 1, 3, 2), (2, 2), (2, 1),
     (2, 1), 2),
    ("depthwise, output size 1", (1, 2, 3, 3), (2, 1, 3, 3), (1, 1), (0, 0), (1, 1), 2),
]
IDS = [g[0] for g in GEOMETRIES]


def taps(x_shape, w_shape, stride, padding, dilation, groups):
    """Every term of the conv sum: (n, f, i, j, c, u, v, input row, input column), in bounds."""
    n, c_in, h, width = x_shape
    c_out, c_per_group, kh, kw = w_shape
    h_out, w_out = conv_output_size((h, width), (kh, kw), stride, padding, dilation)
    for b, f, i, j, c, u, v in itertools.product(range(n), range(c_out), range(h_out),
                                                 range(w_out), range(c_per_group), range(kh),
                                                 range(kw)):
        row = i * stride[0] + u * dilation[0] - padding[0]
        col = j * stride[1] + v * dilation[1] - padding[1]
        if 0 <= row < h and 0 <= col < width:
            channel = f // (c_out // groups) * c_per_group + c
            yield b, f, i, j, channel, c, u, v, row, col


def conv_by_loops(x, w, grad_out, stride, padding, dilation, groups):
    """(out, dx, dw) from the sums of functional/conv.py's docstring, one term at a time."""
    h_out, w_out = conv_output_size(x.shape[2:], w.shape[2:], stride, padding, dilation)
    out = np.zeros((x.shape[0], w.shape[0], h_out, w_out))
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    for b, f, i, j, channel, c, u, v, row, col in taps(x.shape, w.shape, stride, padding,
                                                       dilation, groups):
        out[b, f, i, j] += x[b, channel, row, col] * w[f, c, u, v]
        dx[b, channel, row, col] += grad_out[b, f, i, j] * w[f, c, u, v]
        dw[f, c, u, v] += grad_out[b, f, i, j] * x[b, channel, row, col]
    return out, dx, dw


def random_problem(x_shape, w_shape, stride, padding, dilation, seed=0):
    rng = np.random.default_rng(seed)
    out_size = conv_output_size(x_shape[2:], w_shape[2:], stride, padding, dilation)
    return (rng.standard_normal(x_shape), rng.standard_normal(w_shape),
            rng.standard_normal((x_shape[0], w_shape[0], *out_size)), out_size)


@pytest.mark.parametrize("name, x_shape, w_shape, stride, padding, dilation, groups", GEOMETRIES,
                         ids=IDS)
def test_reference_equals_the_sums_written_as_loops(name, x_shape, w_shape, stride, padding,
                                                    dilation, groups):
    x, w, grad_out, out_size = random_problem(x_shape, w_shape, stride, padding, dilation)
    expected_out, expected_dx, expected_dw = conv_by_loops(x, w, grad_out, stride, padding,
                                                           dilation, groups)
    geometry = (stride, padding, dilation, groups)
    out = conv._forward_numpy(x, w, *geometry, out_size)
    dx = conv._backward_input_numpy(grad_out, w, x_shape, *geometry)
    dw = conv._backward_weight_numpy(grad_out, x, w_shape, *geometry)
    for what, actual, expected in (("out", out, expected_out), ("dx", dx, expected_dx),
                                   ("dw", dw, expected_dw)):
        assert actual.shape == expected.shape, what
        assert actual.flags.c_contiguous, what
        np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12,
                                   err_msg=f"{name}: {what}")


DEPTHWISE = [g for g in GEOMETRIES if g[2][1] == 1 and g[6] > 1]


@pytest.mark.parametrize("name, x_shape, w_shape, stride, padding, dilation, groups", DEPTHWISE,
                         ids=[g[0] for g in DEPTHWISE])
def test_depthwise_route_equals_the_im2col_route(name, x_shape, w_shape, stride, padding,
                                                 dilation, groups):
    # the general route handles depthwise too (groups of one channel): same numbers
    assert conv._is_depthwise(w_shape, groups)
    x, w, grad_out, out_size = random_problem(x_shape, w_shape, stride, padding, dilation, seed=1)
    np.testing.assert_allclose(
        conv._depthwise_forward_numpy(x, w, stride, padding, dilation, out_size),
        conv._im2col_forward_numpy(x, w, stride, padding, dilation, groups, out_size),
        rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        conv._depthwise_backward_input_numpy(grad_out, w, x_shape, stride, padding, dilation),
        conv._im2col_backward_input_numpy(grad_out, w, x_shape, stride, padding, dilation,
                                          groups),
        rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        conv._depthwise_backward_weight_numpy(grad_out, x, w_shape, stride, padding, dilation),
        conv._im2col_backward_weight_numpy(grad_out, x, w_shape, stride, padding, dilation,
                                           groups),
        rtol=1e-12, atol=1e-12)


def test_col2im_dx_equals_the_transposed_convolution():
    # The module docstring: dX is dout with s - 1 zeros between its pixels, padded
    # by d*(k-1), correlated with the kernel flipped in both axes and transposed in
    # channels (then cropped by the forward padding). col2im must agree.
    stride, padding, dilation = (2, 2), (1, 1), (2, 2)
    x, w, grad_out, _ = random_problem((2, 3, 9, 9), (4, 3, 3, 3), stride, padding, dilation)
    dx = conv._backward_input_numpy(grad_out, w, x.shape, stride, padding, dilation, 1)
    spread = np.zeros((2, 4, 2 * grad_out.shape[2] - 1 + 8, 2 * grad_out.shape[3] - 1 + 8))
    spread[:, :, 4:-4:2, 4:-4:2] = grad_out              # pad d*(k-1) = 4 on every side
    w_flipped = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    dx_padded, _ = F.conv2d_forward(spread, np.ascontiguousarray(w_flipped), dilation=2)
    # dx_padded is the gradient of x_pad (11 x 11); x is its centre
    assert dx_padded.shape == (2, 3, 11, 11)
    np.testing.assert_allclose(dx, dx_padded[:, :, 1:10, 1:10], rtol=1e-12, atol=1e-12)


def test_depthwise_float32_in_float32_out():
    x, w, grad_out, out_size = random_problem((2, 4, 6, 5), (4, 1, 3, 3), (1, 1), (2, 2), (2, 2))
    x, w, grad_out = (a.astype(np.float32) for a in (x, w, grad_out))
    geometry = ((1, 1), (2, 2), (2, 2), 4)
    assert conv._forward_numpy(x, w, *geometry, out_size).dtype == np.float32
    assert conv._backward_input_numpy(grad_out, w, x.shape, *geometry).dtype == np.float32
    assert conv._backward_weight_numpy(grad_out, x, w.shape, *geometry).dtype == np.float32


# ------------------------------------------------------------------ batch norm, relu

def batch_norm_problem(seed=0, shape=(3, 4, 5, 6)):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 3.0 + 2.0
    gamma, beta = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    return x, gamma, beta, rng.standard_normal(shape)


def test_batch_norm_reference_equals_the_formulas():
    x, gamma, beta, dout = batch_norm_problem()
    x_before, dout_before = x.copy(), dout.copy()
    eps = 1e-5
    out, mean, var, inv_std = batchnorm._normalize_batch_numpy(x, gamma, beta, eps)
    axes = (0, 2, 3)
    expected_mean = x.mean(axis=axes)
    expected_var = ((x - expected_mean[None, :, None, None]) ** 2).mean(axis=axes)
    x_hat = (x - expected_mean[None, :, None, None]) / np.sqrt(expected_var + eps)[None, :,
                                                                                  None, None]
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-12)
    np.testing.assert_allclose(var, expected_var, rtol=1e-12)
    np.testing.assert_allclose(out, gamma[None, :, None, None] * x_hat + beta[None, :, None, None],
                               rtol=1e-12, atol=1e-12)
    dx, dgamma, dbeta = batchnorm._backward_numpy(dout, x, mean, inv_std, gamma, True)
    mean_dout = dout.mean(axis=axes, keepdims=True)
    mean_dout_x_hat = (dout * x_hat).mean(axis=axes, keepdims=True)
    expected_dx = (gamma * inv_std)[None, :, None, None] * (dout - mean_dout
                                                            - x_hat * mean_dout_x_hat)
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dgamma, (dout * x_hat).sum(axis=axes), rtol=1e-12)
    np.testing.assert_allclose(dbeta, dout.sum(axis=axes), rtol=1e-12)
    # the in-place steps work on the reference's own arrays, never on its inputs
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(dout, dout_before)


def test_batch_norm_eval_reference_leaves_its_inputs_alone():
    x, gamma, beta, dout = batch_norm_problem(seed=1)
    x_before = x.copy()
    mean, inv_std = np.full(4, 0.5), np.full(4, 2.0)
    out = batchnorm._normalize_numpy(x, mean, inv_std, gamma, beta)
    expected = (gamma * 2.0)[None, :, None, None] * (x - 0.5) + beta[None, :, None, None]
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(x, x_before)


def test_relu_backward_passes_dout_where_the_input_was_positive():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    x.reshape(-1)[:3] = [0.0, -0.0, 1.0]
    dout = rng.standard_normal(x.shape).astype(np.float32)
    _, positive = activation._forward_numpy(x)
    dx = activation._backward_numpy(dout, positive)
    assert dx.dtype == np.float32
    np.testing.assert_array_equal(dx, np.where(x > 0, dout, 0.0))
