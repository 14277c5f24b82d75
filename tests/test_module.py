"""Module bookkeeping: names, gradients that accumulate, state dicts, dtype, double backward."""

import numpy as np
import pytest

import minideeplab as mdl
from minideeplab import nn


def _stack():
    return nn.Sequential([nn.Conv2d(2, 3, 3, padding=1), nn.Conv2d(3, 4, 1, bias=False)])


def test_named_parameters_follow_torch_names():
    names = [name for name, _ in _stack().named_parameters()]
    assert names == ["0.weight", "0.bias", "1.weight"]


def test_gradients_accumulate_until_zero_grad():
    layer = nn.Conv2d(2, 3, 3, padding=1).astype(np.float64)
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 5))
    grad = np.ones((2, 3, 5, 5))
    layer(x)
    layer.backward(grad)
    once = layer.weight.grad.copy()
    layer(x)
    layer.backward(grad)
    np.testing.assert_allclose(layer.weight.grad, 2 * once)
    layer.zero_grad()
    assert np.all(layer.weight.grad == 0) and layer.weight.grad is not None


def test_backward_twice_without_forward_raises():
    layer = nn.Conv2d(1, 1, 3)
    y = layer(np.zeros((1, 1, 4, 4), np.float32))
    layer.backward(np.ones_like(y))
    with pytest.raises(RuntimeError, match="without a forward pass"):
        layer.backward(np.ones_like(y))


def test_forward_reads_parameter_data_afresh():
    layer = nn.Conv2d(1, 1, 1, bias=False)
    layer.weight.data[...] = 3.0
    assert layer(np.ones((1, 1, 2, 2), np.float32))[0, 0, 0, 0] == 3.0


def test_state_dict_round_trip_and_errors():
    a, b = _stack(), _stack()
    b.load_state_dict(a.state_dict())
    for (_, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        np.testing.assert_array_equal(pa.data, pb.data)
    other = nn.Sequential([nn.Conv2d(2, 5, 3, padding=1), nn.Conv2d(5, 4, 1, bias=False)])
    with pytest.raises(ValueError, match="shape mismatch: 0.weight"):
        b.load_state_dict(other.state_dict())
    state = a.state_dict()
    del state["1.weight"]
    with pytest.raises(ValueError, match="missing keys: 1.weight"):
        b.load_state_dict(state)


def test_astype_casts_parameters_and_grads():
    model = _stack().astype(np.float64)
    assert all(p.data.dtype == np.float64 and p.grad.dtype == np.float64
               for p in model.parameters())
    assert model(np.zeros((1, 2, 4, 4))).dtype == np.float64


def test_train_eval_propagate():
    model = _stack()
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_sequential_gradcheck():
    model = nn.Sequential([nn.Conv2d(2, 3, 3, padding=2, dilation=2),
                           nn.Conv2d(3, 2, 1)]).astype(np.float64)
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 4))
    errors = mdl.gradcheck(model, x)
    assert max(errors.values()) < 1e-6, errors


def test_sequential_hands_input_grad_false_to_its_first_module_only():
    # the first layer of a network in training: its input is the data, no gradient needed
    stack = _stack().astype(np.float64)
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 5))
    grads = {}
    for input_grad in (True, False):
        stack.zero_grad()
        out = stack(x)
        returned = stack.backward(np.ones_like(out), input_grad=input_grad)
        assert (returned is None) is (not input_grad)
        grads[input_grad] = [p.grad.copy() for p in stack.parameters()]
    for with_dx, without in zip(grads[True], grads[False], strict=True):
        np.testing.assert_array_equal(with_dx, without)
    assert nn.Sequential([]).backward(np.ones(3)).shape == (3,)      # empty: the identity


def test_same_seed_same_weights():
    a = nn.Conv2d(3, 4, 3, rng=np.random.default_rng(7))
    b = nn.Conv2d(3, 4, 3, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    assert a.weight.data.dtype == np.float32


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(in_channels=3, out_channels=4, kernel_size=3, groups=2), "groups=2 must divide"),
    (dict(in_channels=0, out_channels=4, kernel_size=3), "in_channels"),
    (dict(in_channels=3, out_channels=4, kernel_size=0), "kernel_size"),
    (dict(in_channels=3, out_channels=4, kernel_size=3, dilation=0), "dilation"),
])
def test_conv2d_layer_bad_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        nn.Conv2d(**kwargs)
