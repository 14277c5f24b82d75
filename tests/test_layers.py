"""The layers around the convolutions: BatchNorm2d, ReLU, Dropout, GlobalAvgPool2d, Upsample.

Gradient checks run on the layer objects (float64, random upstream gradient,
every element, relative error below 1e-6); then the bookkeeping a layer owns:
caches that are consumed once, gradients that accumulate, buffers with torch's
names, BatchNorm's batch-size-1 pitfall.
"""

import numpy as np
import pytest

import minideeplab as mdl
from minideeplab import nn

THRESHOLD = 1e-6


def make_layers():
    """One of each layer, in float64, with non-trivial parameters."""
    rng = np.random.default_rng(3)
    bn = nn.BatchNorm2d(3).astype(np.float64)
    bn.weight.data = rng.standard_normal(3)
    bn.bias.data = rng.standard_normal(3)
    return {
        "BatchNorm2d": bn,
        "ReLU": nn.ReLU(),
        "Dropout": nn.Dropout(0.5, seed=0),
        "GlobalAvgPool2d": nn.GlobalAvgPool2d(),
        "Upsample": nn.Upsample(size=(5, 7)),
    }


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm_layer_gradients(backend, training):
    layer = make_layers()["BatchNorm2d"].train(training)
    layer.running_mean[:] = [0.5, -0.5, 1.0]
    layer.running_var[:] = [2.0, 0.5, 1.5]
    x = np.random.default_rng(1).standard_normal((2, 3, 3, 2)) * 1.5 + 0.3
    errors = mdl.gradcheck(layer, x)
    assert set(errors) == {"input", "weight", "bias"}
    assert max(errors.values()) < THRESHOLD, errors


@pytest.mark.parametrize("align_corners", [False, True])
def test_upsample_layer_gradients(backend, align_corners):
    x = np.random.default_rng(1).standard_normal((1, 2, 3, 4))
    for layer in (nn.Upsample(size=(5, 7), align_corners=align_corners),
                  nn.Upsample(scale_factor=2, align_corners=align_corners),
                  nn.Upsample(size=(2, 3), align_corners=align_corners)):
        errors = mdl.gradcheck(layer, x)
        assert errors["input"] < THRESHOLD, (layer, errors)


def test_relu_and_pooling_layer_gradients():
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 3))
    x = np.sign(x) * (np.abs(x) + 0.1)          # away from relu's kink
    for layer in (nn.ReLU(), nn.GlobalAvgPool2d(), nn.Dropout(0.5).eval()):
        errors = mdl.gradcheck(layer, x)
        assert errors["input"] < THRESHOLD, (layer, errors)


def test_dropout_layer_backward_uses_the_forward_mask():
    layer = nn.Dropout(0.5, seed=0)
    x = np.ones((2, 3, 4, 4))
    out = layer(x)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), out)   # out = x * mask / (1-p)


def test_dropout_layer_draws_a_fresh_mask_each_forward_and_is_seeded():
    x = np.ones((2, 3, 8, 8))
    first, second = nn.Dropout(0.5, seed=1), nn.Dropout(0.5, seed=1)
    a, b = first(x), first(x)
    assert not np.array_equal(a, b)                 # a new mask every step
    np.testing.assert_array_equal(second(x), a)     # same seed, same sequence of masks
    assert first.eval()(x) is x                     # the identity in eval mode


@pytest.mark.parametrize("name", ["BatchNorm2d", "ReLU", "Dropout", "GlobalAvgPool2d",
                                  "Upsample"])
def test_double_backward_raises(name):
    layer = make_layers()[name]
    out = layer(np.random.default_rng(0).standard_normal((2, 3, 4, 4)))
    layer.backward(np.ones_like(out))
    with pytest.raises(RuntimeError, match="without a forward pass"):
        layer.backward(np.ones_like(out))


def test_backward_before_any_forward_raises():
    with pytest.raises(RuntimeError, match="without a forward pass"):
        nn.ReLU().backward(np.ones((1, 1, 2, 2)))


def test_batch_norm_gradients_accumulate():
    layer = make_layers()["BatchNorm2d"]
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    dout = np.random.default_rng(1).standard_normal((2, 3, 4, 4))
    layer(x)
    layer.backward(dout)
    once = (layer.weight.grad.copy(), layer.bias.grad.copy())
    layer(x)
    layer.backward(dout)
    np.testing.assert_allclose(layer.weight.grad, 2 * once[0], rtol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, 2 * once[1], rtol=1e-12)
    layer.zero_grad()
    np.testing.assert_array_equal(layer.weight.grad, 0.0)


def test_batch_norm_layer_state_matches_torch_names_and_dtypes():
    layer = nn.BatchNorm2d(4)
    assert list(layer.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                        "num_batches_tracked"]
    assert layer.weight.data.dtype == np.float32 and layer.running_var.dtype == np.float32
    np.testing.assert_array_equal(layer.weight.data, 1.0)
    np.testing.assert_array_equal(layer.bias.data, 0.0)
    np.testing.assert_array_equal(layer.running_mean, 0.0)
    np.testing.assert_array_equal(layer.running_var, 1.0)
    assert layer.num_batches_tracked.dtype == np.int64 and layer.num_batches_tracked.shape == ()
    layer.astype(np.float64)
    assert layer.running_mean.dtype == np.float64
    assert layer.num_batches_tracked.dtype == np.int64     # a counter stays an integer


def test_batch_norm_layer_updates_its_buffers_in_training_only():
    layer = nn.BatchNorm2d(2)
    x = (np.random.default_rng(0).standard_normal((4, 2, 3, 3)) * 3 + 1).astype(np.float32)
    out = layer(x)
    assert out.dtype == np.float32
    assert int(layer.num_batches_tracked) == 1
    np.testing.assert_allclose(layer.running_mean, 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(layer.running_var, 0.9 + 0.1 * x.var(axis=(0, 2, 3), ddof=1),
                               rtol=1e-5)
    state = layer.state_dict()
    layer.eval()(x)
    assert int(layer.num_batches_tracked) == 1
    np.testing.assert_array_equal(layer.running_mean, state["running_mean"])
    # still registered as buffers after the updates
    assert "running_mean" in dict(layer.named_buffers())
    assert "num_batches_tracked" in dict(layer.named_buffers())


def test_batch_norm_layer_after_load_state_dict_updates_the_new_buffers():
    layer = nn.BatchNorm2d(2)
    state = layer.state_dict()
    state["running_mean"] = np.array([1.0, 2.0], dtype=np.float32)
    layer.load_state_dict(state)
    layer(np.zeros((2, 2, 2, 2), dtype=np.float32))
    np.testing.assert_allclose(layer.running_mean, [0.9, 1.8], rtol=1e-6)


def test_batch_norm_batch_of_one_1x1_fails_in_training_but_works_in_eval():
    # ASPP's image-pooling branch at batch size 1: one value per channel
    layer = nn.BatchNorm2d(8)
    x = np.ones((1, 8, 1, 1), dtype=np.float32)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        layer(x)
    assert int(layer.num_batches_tracked) == 0         # nothing was half-updated
    np.testing.assert_array_equal(layer.running_mean, 0.0)
    assert layer.eval()(x).shape == (1, 8, 1, 1)
    assert layer.train()(np.ones((2, 8, 1, 1), dtype=np.float32)).shape == (2, 8, 1, 1)


def test_batch_norm_rejects_bad_construction_and_wrong_channels():
    with pytest.raises(ValueError, match="num_features"):
        nn.BatchNorm2d(0)
    with pytest.raises(ValueError, match="momentum"):
        nn.BatchNorm2d(3, momentum=-0.1)
    with pytest.raises(ValueError, match=r"gamma must have shape \(C,\) = \(5,\)"):
        nn.BatchNorm2d(3)(np.ones((2, 5, 2, 2), dtype=np.float32))


def test_upsample_sizes():
    x = np.zeros((1, 2, 3, 5), dtype=np.float32)
    assert nn.Upsample(scale_factor=4)(x).shape == (1, 2, 12, 20)
    assert nn.Upsample(scale_factor=(2, 0.5))(x).shape == (1, 2, 6, 2)
    assert nn.Upsample(size=9)(x).shape == (1, 2, 9, 9)
    # the size can come at call time: "resize to that feature map"
    layer = nn.Upsample(align_corners=True)
    out = layer(x, size=(7, 4))
    assert out.shape == (1, 2, 7, 4) and out.dtype == np.float32
    assert layer.backward(np.ones_like(out)).shape == x.shape
    with pytest.raises(ValueError, match="needs a size"):
        nn.Upsample()(x)
    with pytest.raises(ValueError, match="either size or scale_factor"):
        nn.Upsample(size=3, scale_factor=2)
    with pytest.raises(ValueError, match="mode"):
        nn.Upsample(size=3, mode="nearest")


def test_layers_in_a_sequential():
    model = nn.Sequential([nn.BatchNorm2d(3), nn.ReLU(), nn.Dropout(0.2, seed=0),
                           nn.Upsample(scale_factor=2), nn.GlobalAvgPool2d()])
    model.astype(np.float64)
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    out = model(x)
    assert out.shape == (2, 3, 1, 1)
    assert model.backward(np.ones_like(out)).shape == x.shape
    assert list(model.state_dict()) == ["0.weight", "0.bias", "0.running_mean", "0.running_var",
                                        "0.num_batches_tracked"]
