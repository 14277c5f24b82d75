"""The functional ops besides conv: BatchNorm, ReLU, dropout, pooling, bilinear resize,
concatenation and the segmentation loss.

Gradient checks: float64, a random upstream gradient, every element, central
differences; the relative error must be below 1e-6 (a correct backward pass
gives about 1e-9; a wrong one is off by orders of magnitude more). Ops with a
Numba twin (bilinear resize, BatchNorm) are checked on both backends, and the
backends are compared with each other on random geometries.
"""

import math

import numpy as np
import pytest

import minideeplab as mdl
from minideeplab import functional as F

THRESHOLD = 1e-6
needs_numba = pytest.mark.skipif(not mdl.backend.numba_available(), reason="numba not installed")


def batch_norm_inputs(rng, shape):
    channels = shape[1]
    x = rng.standard_normal(shape) * 2.0 + 0.5
    gamma = rng.standard_normal(channels)
    beta = rng.standard_normal(channels)
    running_mean = rng.standard_normal(channels)
    running_var = rng.uniform(0.5, 2.0, channels)
    return x, gamma, beta, running_mean, running_var


# ------------------------------------------------------------------ gradient checks

@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", [(2, 3, 3, 2), (1, 2, 1, 3), (4, 1, 1, 1)])
def test_batch_norm_gradients(backend, training, shape):
    # not seed 0: gradcheck draws its upstream gradient from default_rng(0), and a dout
    # that is an affine function of x (per channel) is exactly what BN's dx projects away
    rng = np.random.default_rng(1)
    x, gamma, beta, running_mean, running_var = batch_norm_inputs(rng, shape)
    errors = mdl.gradcheck(F.batch_norm2d_forward, F.batch_norm2d_backward,
                           (x, gamma, beta, running_mean, running_var, training),
                           wrt=(0, 1, 2))
    assert max(errors.values()) < THRESHOLD, errors


def test_relu_gradient(backend):
    rng = np.random.default_rng(0)
    # keep every input at least 0.1 away from the kink at 0, where relu has no derivative
    x = rng.standard_normal((2, 3, 4, 3))
    x = np.sign(x) * (np.abs(x) + 0.1)
    errors = mdl.gradcheck(F.relu_forward, F.relu_backward, (x,))
    assert errors["input 0"] < THRESHOLD, errors


@pytest.mark.parametrize("p", [0.0, 0.3, 0.7])
def test_dropout_gradient(p):
    # the mask is random: re-seed on every call so each forward draws the same mask
    def forward(x):
        return F.dropout_forward(x, p, True, np.random.default_rng(5))

    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    errors = mdl.gradcheck(forward, F.dropout_backward, (x,))
    assert errors["input 0"] < THRESHOLD, errors


def test_global_avg_pool_gradient():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    errors = mdl.gradcheck(F.global_avg_pool2d_forward, F.global_avg_pool2d_backward, (x,))
    assert errors["input 0"] < THRESHOLD, errors


RESIZE_CASES = [
    ("up 2x", (1, 2, 3, 4), (6, 8)),
    ("odd up 3x5 -> 7x4", (2, 2, 3, 5), (7, 4)),
    ("down 6x6 -> 3x3", (1, 2, 6, 6), (3, 3)),
    ("down 5x5 -> 1x1", (2, 1, 5, 5), (1, 1)),
    ("down 8x7 -> 3x2", (1, 2, 8, 7), (3, 2)),
    ("1x1 -> 4x3 (image pooling)", (2, 3, 1, 1), (4, 3)),
    ("up in h, down in w", (1, 2, 3, 7), (5, 2)),
    ("same size", (1, 2, 4, 3), (4, 3)),
]


@pytest.mark.parametrize("align_corners", [False, True], ids=["half-pixel", "align-corners"])
@pytest.mark.parametrize("name, x_shape, size", RESIZE_CASES, ids=[c[0] for c in RESIZE_CASES])
def test_bilinear_resize_gradient(backend, name, x_shape, size, align_corners):
    x = np.random.default_rng(0).standard_normal(x_shape)
    errors = mdl.gradcheck(F.bilinear_resize_forward, F.bilinear_resize_backward, (x,),
                           kwargs=dict(size=size, align_corners=align_corners))
    assert errors["input 0"] < THRESHOLD, errors


@pytest.mark.parametrize("axis", [1, 0, -1])
def test_concat_gradient(axis):
    rng = np.random.default_rng(0)
    shapes = {1: [(2, 1, 3, 2), (2, 3, 3, 2), (2, 2, 3, 2)],
              0: [(1, 2, 2, 2), (2, 2, 2, 2)],
              -1: [(1, 2, 2, 3), (1, 2, 2, 1)]}[axis]
    inputs = [rng.standard_normal(s) for s in shapes]

    def forward(*xs):
        return F.concat_forward(list(xs), axis=axis)

    def backward(dout, cache):
        return tuple(F.concat_backward(dout, cache))

    errors = mdl.gradcheck(forward, backward, inputs, wrt=tuple(range(len(inputs))))
    assert max(errors.values()) < THRESHOLD, errors


@pytest.mark.parametrize("weighted", [False, True], ids=["mean", "class-weighted"])
def test_softmax_cross_entropy_gradient_with_ignored_pixels(weighted):
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((2, 4, 3, 3)) * 3
    target = rng.integers(0, 4, (2, 3, 3))
    target[0, 0, :] = 255                     # a row of "void" pixels
    target[1, 2, 1] = 255
    kwargs = dict(weight=rng.uniform(0.5, 2.0, 4)) if weighted else {}
    errors = mdl.gradcheck(F.softmax_cross_entropy_forward, F.softmax_cross_entropy_backward,
                           (logits, target), kwargs=kwargs)
    assert errors["input 0"] < THRESHOLD, errors


# ---------------------------------------------------------------- values by hand

def test_align_corners_upsampling_of_a_ramp_is_a_ramp(backend):
    # x[i, j] = i + 10 j. With align_corners=True the corners stay put and a
    # 4 -> 7 (rows) and 5 -> 9 (columns) resize samples every half pixel, so the
    # output is the same ramp at half steps: out[i, j] = i / 2 + 10 * j / 2.
    rows, cols = np.meshgrid(np.arange(4.0), np.arange(5.0), indexing="ij")
    x = (rows + 10 * cols)[None, None]
    out, _ = F.bilinear_resize_forward(x, (7, 9), align_corners=True)
    out_rows, out_cols = np.meshgrid(np.arange(7.0), np.arange(9.0), indexing="ij")
    np.testing.assert_array_equal(out[0, 0], out_rows / 2 + 5 * out_cols)


def test_half_pixel_upsampling_by_hand(backend):
    # [0, 1] -> 4 outputs: centres at (i + 0.5) / 2 - 0.5 = -0.25 (clamped to 0), 0.25,
    # 0.75, 1.25 (past the last pixel: stays 1), so [0, 0.25, 0.75, 1].
    x = np.array([[[[0.0, 1.0]]]])
    out, _ = F.bilinear_resize_forward(x, (1, 4))
    np.testing.assert_allclose(out[0, 0, 0], [0.0, 0.25, 0.75, 1.0], rtol=0, atol=1e-15)


def test_downsampling_reads_only_the_nearest_pixels(backend):
    x = np.random.default_rng(0).standard_normal((1, 1, 6, 6))
    # 6 -> 3: source (i + 0.5) * 2 - 0.5 = 2i + 0.5 -> the mean of each 2x2 block
    out, _ = F.bilinear_resize_forward(x, (3, 3))
    blocks = x[0, 0].reshape(3, 2, 3, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(out[0, 0], blocks, rtol=1e-12)
    # 5 -> 1: the centre pixel; no antialiasing, so the other 24 get no gradient
    x = np.random.default_rng(1).standard_normal((1, 1, 5, 5))
    out, cache = F.bilinear_resize_forward(x, (1, 1))
    assert out[0, 0, 0, 0] == x[0, 0, 2, 2]
    dx = F.bilinear_resize_backward(np.ones((1, 1, 1, 1)), cache)
    assert dx.sum() == 1.0 and dx[0, 0, 2, 2] == 1.0


def test_bilinear_backward_conserves_gradient(backend):
    # every output's weights sum to 1, so scattering them back keeps the total
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 7))
    for size, align_corners in [((9, 4), False), ((3, 13), True)]:
        out, cache = F.bilinear_resize_forward(x, size, align_corners)
        dout = rng.standard_normal(out.shape)
        dx = F.bilinear_resize_backward(dout, cache)
        np.testing.assert_allclose(dx.sum(axis=(2, 3)), dout.sum(axis=(2, 3)), rtol=1e-12)


def test_bilinear_taps_by_hand():
    from minideeplab.functional.resize import bilinear_taps

    # 4 -> 2, half-pixel centres: output centres 0.5 and 2.5 fall halfway between two pixels.
    index0, index1, weight0, weight1 = bilinear_taps(4, 2, align_corners=False)
    np.testing.assert_array_equal(index0, [0, 2])
    np.testing.assert_array_equal(index1, [1, 3])
    np.testing.assert_array_equal(weight0, [0.5, 0.5])
    np.testing.assert_array_equal(weight1, [0.5, 0.5])
    # 2 -> 4: sources -0.25 (clamped to 0), 0.25, 0.75, 1.25; past the last pixel both taps
    # read pixel 1 (index1 repeats it) and all the weight goes to the first tap.
    index0, index1, weight0, weight1 = bilinear_taps(2, 4, align_corners=False)
    np.testing.assert_array_equal(index0, [0, 0, 0, 1])
    np.testing.assert_array_equal(index1, [1, 1, 1, 1])
    np.testing.assert_array_equal(weight1, [0.0, 0.25, 0.75, 0.0])
    np.testing.assert_array_equal(weight0, 1.0 - weight1)
    # 3 -> 5 with aligned corners: sources 0, 0.5, 1, 1.5, 2 (the corners map onto each other).
    index0, index1, _, weight1 = bilinear_taps(3, 5, align_corners=True)
    np.testing.assert_array_equal(index0, [0, 0, 1, 1, 2])
    np.testing.assert_array_equal(index1, [1, 1, 2, 2, 2])
    np.testing.assert_array_equal(weight1, [0.0, 0.5, 0.0, 0.5, 0.0])
    # The weights come in the dtype asked for.
    assert bilinear_taps(3, 5, True, np.float32)[3].dtype == np.float32


def test_interpolation_matrix_rows_sum_to_one():
    from minideeplab.functional.resize import bilinear_taps, interpolation_matrix

    for in_size, out_size in [(3, 7), (6, 3), (5, 1), (1, 4), (4, 4)]:
        for align_corners in (False, True):
            matrix = interpolation_matrix(bilinear_taps(in_size, out_size, align_corners),
                                          in_size)
            assert matrix.shape == (out_size, in_size)
            np.testing.assert_allclose(matrix.sum(axis=1), 1.0, rtol=1e-15)
            assert (np.count_nonzero(matrix, axis=1) <= 2).all()


def test_batch_norm_running_stats_after_one_step(backend):
    # channel 0 holds 1, 2, 3, 6 (mean 3, biased var 3.5, unbiased var 14/3)
    x = np.zeros((2, 2, 1, 2))
    x[:, 0] = np.array([[1.0, 2.0], [3.0, 6.0]])[:, None]
    x[:, 1] = 5.0                                       # constant: variance 0
    running_mean = np.array([1.0, -1.0])
    running_var = np.array([2.0, 0.5])
    out, _ = F.batch_norm2d_forward(x, np.ones(2), np.zeros(2), running_mean, running_var,
                                    training=True, momentum=0.1)
    np.testing.assert_allclose(running_mean, [0.9 * 1.0 + 0.1 * 3.0, 0.9 * -1.0 + 0.1 * 5.0])
    np.testing.assert_allclose(running_var, [0.9 * 2.0 + 0.1 * 14 / 3, 0.9 * 0.5 + 0.1 * 0.0])
    # and the output used the *biased* batch variance 3.5
    expected = (np.array([1.0, 2.0, 3.0, 6.0]) - 3.0) / np.sqrt(3.5 + 1e-5)
    np.testing.assert_allclose(out[:, 0].reshape(-1), expected, rtol=1e-12)
    np.testing.assert_array_equal(out[:, 1], 0.0)


def test_batch_norm_training_output_is_standardised(backend):
    rng = np.random.default_rng(0)
    x, gamma, beta, running_mean, running_var = batch_norm_inputs(rng, (4, 3, 5, 5))
    out, _ = F.batch_norm2d_forward(x, np.ones(3), np.zeros(3), running_mean, running_var,
                                    True, eps=0.0)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), 1.0, rtol=1e-12)


def test_batch_norm_eval_is_a_fixed_affine_map(backend):
    rng = np.random.default_rng(0)
    x, gamma, beta, running_mean, running_var = batch_norm_inputs(rng, (1, 3, 1, 1))
    mean_before, var_before = running_mean.copy(), running_var.copy()
    out, _ = F.batch_norm2d_forward(x, gamma, beta, running_mean, running_var, False)
    expected = gamma * (x[0, :, 0, 0] - running_mean) / np.sqrt(running_var + 1e-5) + beta
    np.testing.assert_allclose(out[0, :, 0, 0], expected, rtol=1e-12)
    np.testing.assert_array_equal(running_mean, mean_before)    # eval leaves them alone
    np.testing.assert_array_equal(running_var, var_before)


def test_batch_norm_training_needs_more_than_one_value_per_channel():
    x = np.ones((1, 4, 1, 1))
    args = (np.ones(4), np.zeros(4), np.zeros(4), np.ones(4))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm2d_forward(x, *args, training=True)
    out, _ = F.batch_norm2d_forward(x, *args, training=False)    # eval is fine
    assert out.shape == (1, 4, 1, 1)


def test_uniform_logits_cost_log_c():
    logits = np.zeros((2, 5, 3, 4))
    target = np.random.default_rng(0).integers(0, 5, (2, 3, 4))
    loss, cache = F.softmax_cross_entropy_forward(logits, target)
    assert isinstance(loss, float)
    assert loss == pytest.approx(math.log(5), rel=1e-12)
    # gradient: (1/C - one_hot) / number of pixels
    dlogits = F.softmax_cross_entropy_backward(1.0, cache)
    one_hot = np.moveaxis(np.eye(5)[target], -1, 1)
    np.testing.assert_allclose(dlogits, (0.2 - one_hot) / 24, rtol=1e-12)


def test_ignored_pixels_do_not_count():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((1, 3, 2, 2))
    target = np.array([[[0, 255], [2, 255]]])
    loss, cache = F.softmax_cross_entropy_forward(logits, target)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert loss == pytest.approx(-(log_probs[0, 0, 0, 0] + log_probs[0, 2, 1, 0]) / 2, rel=1e-12)
    dlogits = F.softmax_cross_entropy_backward(1.0, cache)
    np.testing.assert_array_equal(dlogits[0, :, :, 1], 0.0)


def test_huge_logits_are_stable():
    # exp(1e4) overflows; subtracting each pixel's maximum first keeps everything finite
    logits = np.zeros((1, 3, 1, 2))
    logits[0, :, 0, 0] = [1e4, -1e4, 0.0]
    logits[0, :, 0, 1] = [1e4, -1e4, 0.0]
    target = np.array([[[0, 1]]])        # right with certainty, wrong by 2e4
    for dtype in (np.float64, np.float32):
        loss, cache = F.softmax_cross_entropy_forward(logits.astype(dtype), target)
        dlogits = F.softmax_cross_entropy_backward(1.0, cache)
        assert loss == pytest.approx((0.0 + 2e4) / 2)
        assert np.isfinite(dlogits).all()
        np.testing.assert_allclose(dlogits[0, :, 0, 1], [0.5, -0.5, 0.0])


def test_all_pixels_ignored_gives_zero_not_nan():
    logits = np.random.default_rng(0).standard_normal((2, 3, 2, 2))
    target = np.full((2, 2, 2), 255)
    loss, cache = F.softmax_cross_entropy_forward(logits, target)
    assert loss == 0.0
    dlogits = F.softmax_cross_entropy_backward(1.0, cache)
    assert dlogits.shape == logits.shape
    np.testing.assert_array_equal(dlogits, 0.0)


def test_other_ignore_index_and_uint8_masks():
    logits = np.zeros((1, 2, 1, 3))
    loss, _ = F.softmax_cross_entropy_forward(logits, np.array([[[0, -100, 1]]]), ignore_index=-100)
    assert loss == pytest.approx(math.log(2))
    loss, _ = F.softmax_cross_entropy_forward(logits, np.array([[[0, 255, 1]]], dtype=np.uint8))
    assert loss == pytest.approx(math.log(2))


def test_dropout_is_identity_in_eval_and_when_p_is_zero():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    rng = np.random.default_rng(1)
    for p, training in [(0.5, False), (0.0, True)]:
        out, cache = F.dropout_forward(x, p, training, rng)
        assert out is x
        dout = np.ones_like(x)
        np.testing.assert_array_equal(F.dropout_backward(dout, cache), dout)


def test_dropout_in_training_drops_p_and_rescales_the_rest():
    x = np.ones((4, 8, 32, 32))
    p = 0.25
    out, cache = F.dropout_forward(x, p, True, np.random.default_rng(0))
    dropped = out == 0
    assert dropped.mean() == pytest.approx(p, abs=0.01)         # 32768 draws
    np.testing.assert_array_equal(out[~dropped], 1 / (1 - p))    # inverted scaling
    assert out.mean() == pytest.approx(1.0, abs=0.02)            # E[out] = x
    # backward reuses the same mask
    np.testing.assert_array_equal(F.dropout_backward(np.ones_like(x), cache), out)
    # p = 1 drops everything (no division by zero)
    out, _ = F.dropout_forward(x, 1.0, True, np.random.default_rng(0))
    np.testing.assert_array_equal(out, 0.0)


def test_dropout_same_seed_same_mask():
    x = np.ones((2, 2, 3, 3))
    first, _ = F.dropout_forward(x, 0.5, True, np.random.default_rng(7))
    second, _ = F.dropout_forward(x, 0.5, True, np.random.default_rng(7))
    np.testing.assert_array_equal(first, second)


def test_concat_then_split_round_trip():
    rng = np.random.default_rng(0)
    parts = [rng.standard_normal((2, c, 3, 3)) for c in (1, 4, 2)]
    out, cache = F.concat_forward(parts)
    assert out.shape == (2, 7, 3, 3)
    for part, grad in zip(parts, F.concat_backward(out, cache), strict=True):
        np.testing.assert_array_equal(part, grad)


def test_global_avg_pool_by_hand():
    x = np.arange(24.0).reshape(1, 2, 3, 4)
    out, cache = F.global_avg_pool2d_forward(x)
    np.testing.assert_array_equal(out.reshape(-1), [5.5, 17.5])
    dx = F.global_avg_pool2d_backward(np.array([[[[12.0]], [[24.0]]]]), cache)
    np.testing.assert_array_equal(dx[0, 0], 1.0)      # 12 spread over 12 pixels
    np.testing.assert_array_equal(dx[0, 1], 2.0)


def test_relu_by_hand():
    x = np.array([-2.0, 0.0, 3.0])
    out, cache = F.relu_forward(x)
    np.testing.assert_array_equal(out, [0.0, 0.0, 3.0])
    np.testing.assert_array_equal(F.relu_backward(np.array([5.0, 5.0, 5.0]), cache),
                                  [0.0, 0.0, 5.0])   # no gradient at exactly 0, like torch


# -------------------------------------------------------------- backends agree

@needs_numba
def test_bilinear_backends_agree_on_random_geometries():
    rng = np.random.default_rng(42)
    for _ in range(12):
        x_shape = (int(rng.integers(1, 3)), int(rng.integers(1, 4)),
                   int(rng.integers(1, 12)), int(rng.integers(1, 12)))
        size = (int(rng.integers(1, 20)), int(rng.integers(1, 20)))
        align_corners = bool(rng.integers(0, 2))
        x = rng.standard_normal(x_shape)
        dout = rng.standard_normal(x_shape[:2] + size)
        results = {}
        for name in ("numpy", "numba"):
            with mdl.use_backend(name):
                out, cache = F.bilinear_resize_forward(x, size, align_corners)
                results[name] = (out, F.bilinear_resize_backward(dout, cache))
        for reference, twin in zip(results["numpy"], results["numba"], strict=True):
            np.testing.assert_allclose(twin, reference, rtol=1e-12, atol=1e-12,
                                       err_msg=f"{x_shape} -> {size}, {align_corners}")


@needs_numba
def test_batch_norm_backends_agree_on_random_geometries():
    rng = np.random.default_rng(43)
    for _ in range(8):
        shape = (int(rng.integers(1, 4)), int(rng.integers(1, 6)),
                 int(rng.integers(1, 7)), int(rng.integers(2, 7)))
        inputs = batch_norm_inputs(rng, shape)
        dout = rng.standard_normal(shape)
        for training in (True, False):
            results = {}
            for name in ("numpy", "numba"):
                x, gamma, beta, running_mean, running_var = (a.copy() for a in inputs)
                with mdl.use_backend(name):
                    out, cache = F.batch_norm2d_forward(x, gamma, beta, running_mean,
                                                        running_var, training)
                    results[name] = (out, *F.batch_norm2d_backward(dout, cache),
                                     running_mean, running_var)
            for reference, twin in zip(results["numpy"], results["numba"], strict=True):
                np.testing.assert_allclose(twin, reference, rtol=1e-12, atol=1e-12,
                                           err_msg=f"{shape}, training={training}")


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_backends_agree_bit_for_bit(dtype):
    # sizes around the kernel's block of 16384 elements, zeros, negative zeros and NaN
    rng = np.random.default_rng(44)
    for shape in [(3,), (2, 3, 4, 5), (1, 1, 128, 129), (2, 16384)]:
        x = rng.standard_normal(shape).astype(dtype)
        x.reshape(-1)[:4] = [0.0, -0.0, np.nan, 1.0][:x.size]
        dout = rng.standard_normal(shape).astype(dtype)
        results = {}
        for name in ("numpy", "numba"):
            with mdl.use_backend(name):
                out, cache = F.relu_forward(x)
                results[name] = (out, F.relu_backward(dout, cache))
        for reference, twin in zip(results["numpy"], results["numba"], strict=True):
            assert twin.dtype == dtype
            np.testing.assert_array_equal(twin, reference, err_msg=str(shape))


# ------------------------------------------------------------------ dtype is kept

def test_float32_stays_float32(backend):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    f32 = np.float32

    out, cache = F.bilinear_resize_forward(x, (7, 3))
    assert out.dtype == f32 and F.bilinear_resize_backward(np.ones_like(out), cache).dtype == f32

    gamma, beta = np.ones(3, f32), np.zeros(3, f32)
    running_mean, running_var = np.zeros(3, f32), np.ones(3, f32)
    for training in (True, False):
        out, cache = F.batch_norm2d_forward(x, gamma, beta, running_mean, running_var, training)
        assert out.dtype == f32
        assert all(g.dtype == f32 for g in F.batch_norm2d_backward(np.ones_like(out), cache))
    assert running_mean.dtype == f32 and running_var.dtype == f32

    for forward, backward in [(F.relu_forward, F.relu_backward),
                              (F.global_avg_pool2d_forward, F.global_avg_pool2d_backward),
                              (lambda a: F.dropout_forward(a, 0.5, True, rng), F.dropout_backward)]:
        out, cache = forward(x)
        assert out.dtype == f32 and backward(np.ones_like(out), cache).dtype == f32

    out, cache = F.concat_forward([x, x])
    assert out.dtype == f32 and all(g.dtype == f32 for g in F.concat_backward(out, cache))

    loss, cache = F.softmax_cross_entropy_forward(x, rng.integers(0, 3, (2, 4, 5)))
    assert isinstance(loss, float)
    assert F.softmax_cross_entropy_backward(1.0, cache).dtype == f32


# --------------------------------------------------------------------- bad input

def _bn(x=None, gamma=None, training=True, **kwargs):
    x = np.ones((2, 3, 2, 2)) if x is None else x
    gamma = np.ones(3) if gamma is None else gamma
    return F.batch_norm2d_forward(x, gamma, np.zeros(3), np.zeros(3), np.ones(3), training,
                                  **kwargs)


BAD_INPUTS = [
    ("bn rank", lambda: _bn(x=np.ones((2, 3, 4))), ValueError, "x must have rank 4"),
    ("bn gamma channels", lambda: _bn(gamma=np.ones(4)), ValueError, r"gamma must have shape"),
    ("bn integer x", lambda: _bn(x=np.ones((2, 3, 2, 2), dtype=int)), TypeError, "x must have"),
    ("bn mixed dtypes", lambda: _bn(x=np.ones((2, 3, 2, 2), np.float32)), TypeError, "one dtype"),
    ("bn momentum", lambda: _bn(momentum=2.0), ValueError, "momentum"),
    ("resize rank", lambda: F.bilinear_resize_forward(np.ones((3, 4, 4)), (2, 2)), ValueError,
     "x must have rank 4"),
    ("resize size 0", lambda: F.bilinear_resize_forward(np.ones((1, 1, 4, 4)), (0, 2)),
     ValueError, "size must be >= 1"),
    ("resize size type", lambda: F.bilinear_resize_forward(np.ones((1, 1, 4, 4)), (2.5, 2)),
     TypeError, "size"),
    ("resize integer x", lambda: F.bilinear_resize_forward(np.ones((1, 1, 4, 4), int), (2, 2)),
     TypeError, "x must have a floating dtype"),
    ("resize align_corners", lambda: F.bilinear_resize_forward(np.ones((1, 1, 4, 4)), 2, "yes"),
     TypeError, "align_corners"),
    ("pool rank", lambda: F.global_avg_pool2d_forward(np.ones((4, 4))), ValueError, "rank 4"),
    ("relu list", lambda: F.relu_forward([1.0, -1.0]), TypeError, "x must be a numpy array"),
    ("dropout p", lambda: F.dropout_forward(np.ones(3), 1.5, True, None), ValueError, "p must"),
    ("dropout rng", lambda: F.dropout_forward(np.ones(3), 0.5, True, 42), TypeError, "rng"),
    ("concat empty", lambda: F.concat_forward([]), ValueError, "xs must be a non-empty"),
    ("concat shapes", lambda: F.concat_forward([np.ones((1, 2, 3, 3)), np.ones((1, 2, 4, 3))]),
     ValueError, r"xs\[1\] has shape"),
    ("loss labels", lambda: F.softmax_cross_entropy_forward(np.zeros((1, 3, 1, 3)),
                                                            np.array([[[0, 3, 7]]])),
     ValueError, r"target has labels outside \[0, C=3\).*3, 7"),
    ("loss negative label", lambda: F.softmax_cross_entropy_forward(np.zeros((1, 3, 1, 1)),
                                                                    np.array([[[-1]]])),
     ValueError, "target has labels outside"),
    ("loss float target", lambda: F.softmax_cross_entropy_forward(np.zeros((1, 3, 1, 1)),
                                                                  np.zeros((1, 1, 1))),
     TypeError, "target must have an integer dtype"),
    ("loss target shape", lambda: F.softmax_cross_entropy_forward(np.zeros((1, 3, 2, 2)),
                                                                  np.zeros((1, 2), int)),
     ValueError, "target must have shape"),
    ("loss logits rank", lambda: F.softmax_cross_entropy_forward(np.zeros((3, 2)),
                                                                 np.zeros(3, int)),
     ValueError, "logits must have rank 4"),
]


@pytest.mark.parametrize("name, call, error, match", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_names_the_argument(name, call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_backward_checks_the_upstream_gradient_shape():
    out, cache = F.bilinear_resize_forward(np.ones((1, 1, 3, 3)), (5, 5))
    with pytest.raises(ValueError, match=r"dout must have the forward output's shape"):
        F.bilinear_resize_backward(np.ones((1, 1, 3, 3)), cache)
    _, cache = F.softmax_cross_entropy_forward(np.zeros((1, 2, 1, 1)), np.zeros((1, 1, 1), int))
    with pytest.raises(TypeError, match="dloss"):
        F.softmax_cross_entropy_backward(np.ones(3), cache)


def test_relu_propagates_nan_like_torch(backend):
    # a diverging network must show NaN in its loss, not have ReLU turn it into 0
    out, _ = F.relu_forward(np.array([np.nan, -1.0, 2.0]))
    assert np.isnan(out[0]) and out[1] == 0.0 and out[2] == 2.0


def test_gradcheck_in_float32_warns_and_says_float64():
    x = np.random.default_rng(0).standard_normal((1, 1, 4, 4)).astype(np.float32)
    with pytest.warns(RuntimeWarning, match="float64"):
        mdl.gradcheck(F.relu_forward, F.relu_backward, (x,))


def test_float16_is_refused_on_every_backend(backend):
    with pytest.raises(TypeError, match="float32 or float64"):
        F.relu_forward(np.ones((1, 1, 2, 2), dtype=np.float16))


def test_a_float64_dout_into_a_float32_backward_is_refused(backend):
    out, cache = F.conv2d_forward(np.ones((1, 1, 3, 3), np.float32), np.ones((1, 1, 1, 1),
                                  np.float32))
    with pytest.raises(TypeError, match="dout must have the forward pass's dtype float32"):
        F.conv2d_backward(np.ones(out.shape, np.float64), cache)
