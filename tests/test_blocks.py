"""Blocks of DeepLabV3+: separable conv, ASPP, decoder. Gradient checks (float64, every
element, random upstream gradient, relative error < 1e-6), structure, and the batch-1 pitfall."""

import numpy as np
import pytest

import minideeplab as mdl
from minideeplab import nn
from minideeplab.gradcheck import numerical_vjp, rel_error

from .conftest import randomize_batchnorm

THRESHOLD = 1e-6


def _x(shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("middle_activation", [True, False])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("stride, dilation", [(1, 1), (1, 2), (2, 1), (2, 2)])
def test_separable_conv_gradients(backend, middle_activation, training, stride, dilation):
    block = nn.SeparableConv2d(3, 4, 3, stride=stride, dilation=dilation,
                               middle_activation=middle_activation,
                               rng=np.random.default_rng(0)).astype(np.float64)
    randomize_batchnorm(block).train(training)
    errors = mdl.gradcheck(block, _x((2, 3, 7, 6)))
    assert max(errors.values()) < THRESHOLD, errors


def test_separable_conv_structure_and_cost():
    block = nn.SeparableConv2d(32, 64, 3, dilation=2)
    assert block.depthwise.groups == 32 and block.depthwise.dilation == (2, 2)
    assert block.depthwise.padding == (2, 2)          # 'same' for the dilated kernel
    assert block.pointwise.kernel_size == (1, 1)
    standard = nn.Conv2d(32, 64, 3, bias=False)
    ratio = (mdl.count_parameters(block.depthwise) + mdl.count_parameters(block.pointwise)) \
        / mdl.count_parameters(standard)
    assert ratio == pytest.approx(1 / 64 + 1 / 9)    # MobileNet's 1/N + 1/k^2
    assert [k for k in block.state_dict()][:2] == ["depthwise.weight", "depthwise_bn.weight"]


@pytest.mark.parametrize("separable", [True, False])
@pytest.mark.parametrize("rates", [(1,), (1, 2), (2, 3, 5)])
def test_aspp_gradients(backend, separable, rates):
    aspp = randomize_batchnorm(nn.ASPP(3, 2, rates, separable=separable, dropout=0.0,
                                       rng=np.random.default_rng(0)).astype(np.float64))
    # Batch 3, not 2: the image-pooling branch normalises a 1x1 map over the batch, and
    # with two samples BatchNorm maps them to exactly -1 and +1 whatever its input, so
    # the gradient of the branch's conv weight is ~1e-9 and the check would measure
    # round-off rather than the backward pass.
    errors = mdl.gradcheck(aspp, _x((3, 3, 5, 4)))
    assert max(errors.values()) < THRESHOLD, errors


def test_aspp_has_one_branch_per_rate_plus_1x1_and_pooling():
    aspp = nn.ASPP(8, 4, (1, 2, 3, 4))
    assert len(aspp.branches) == 4 + 2
    assert aspp.project[0].in_channels == 6 * 4
    keys = aspp.state_dict().keys()
    assert "branches.0.0.weight" in keys                      # the 1x1 branch
    assert "branches.1.0.depthwise.weight" in keys            # rate 1, separable
    assert "branches.5.conv.weight" in keys                   # image pooling
    standard = nn.ASPP(8, 4, (6,), separable=False)
    assert standard.branches[1][0].dilation == (6, 6)         # torch-like 'branches.1.0.weight'


def test_aspp_batch_one_training_is_a_clear_error_and_eval_works():
    aspp = nn.ASPP(3, 2, (1, 2))
    x = np.zeros((1, 3, 4, 4), np.float32)
    with pytest.raises(ValueError, match="batch size 1 in training mode"):
        aspp(x)
    aspp.eval()
    assert aspp(x).shape == (1, 2, 4, 4)


def test_aspp_pooling_branch_is_constant_over_the_map():
    pooling = nn.ASPPPooling(3, 2).eval()
    out = pooling(_x((2, 3, 5, 7)).astype(np.float32))
    assert out.shape == (2, 2, 5, 7)
    # exactly constant: upsampling a 1x1 map puts all the weight on its one pixel
    assert np.array_equal(out, np.broadcast_to(out[:, :, :1, :1], out.shape))


@pytest.mark.parametrize("separable", [True, False])
def test_decoder_gradients_for_both_inputs(backend, separable):
    decoder = randomize_batchnorm(nn.Decoder(3, 2, num_classes=3, project_channels=2, channels=3,
                                             separable=separable, rng=np.random.default_rng(0)))
    decoder.astype(np.float64)
    features, low_level = _x((2, 3, 2, 3), 1), _x((2, 2, 5, 6), 2)
    out = decoder(features, low_level)
    assert out.shape == (2, 3, 5, 6)
    grad_out = _x(out.shape, 3)
    decoder.zero_grad()
    grad_features, grad_low = decoder.backward(grad_out)
    analytic = {name: p.grad.copy() for name, p in decoder.named_parameters()}
    numeric_features = numerical_vjp(lambda f: decoder(f, low_level), features, grad_out)
    numeric_low = numerical_vjp(lambda g: decoder(features, g), low_level, grad_out)
    assert rel_error(grad_features, numeric_features) < THRESHOLD
    assert rel_error(grad_low, numeric_low) < THRESHOLD
    for name, parameter in decoder.named_parameters():
        numeric = numerical_vjp(lambda _: decoder(features, low_level), parameter.data, grad_out)
        assert rel_error(analytic[name], numeric) < THRESHOLD, name


def test_composites_refuse_a_second_backward():
    aspp = nn.ASPP(3, 2, (1,), dropout=0.0)
    y = aspp(np.ones((2, 3, 4, 4), np.float32))
    aspp.backward(np.ones_like(y))
    with pytest.raises(RuntimeError, match="without a forward pass"):
        aspp.backward(np.ones_like(y))
