"""DeepLabV3+ as a whole: shapes, output stride by dilation, gradients, backends, summary."""

import numpy as np
import pytest

import minideeplab as mdl
from minideeplab.models import DeepLabV3Plus, scale_rates
from minideeplab.nn import Conv2d, SeparableConv2d

from .conftest import randomize_batchnorm

THRESHOLD = 1e-6
TINY = dict(stem_channels=3, widths=(3, 4, 4, 5), blocks=(1, 1, 1, 1), aspp_channels=3,
            aspp_rates=(1, 2), low_level_channels=2, decoder_channels=3, dropout=0.0)


def _image(shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("size", [(64, 64), (33, 47), (17, 9), (65, 63)])
@pytest.mark.parametrize("decoder", [True, False])
def test_output_has_the_input_size(size, decoder):
    model = DeepLabV3Plus(4, decoder=decoder).eval()
    assert model(np.zeros((1, 3, *size), np.float32)).shape == (1, 4, *size)


@pytest.mark.parametrize("output_stride, expected", [(8, 8), (16, 4), (32, 2)])
def test_output_stride_by_dilation(output_stride, expected):
    model = DeepLabV3Plus(3, output_stride=output_stride).eval()
    features, low_level = model.backbone(np.zeros((1, 3, 64, 64), np.float32))
    assert features.shape[2:] == (expected, expected)
    assert low_level.shape[2:] == (16, 16)                 # stride 4 for the decoder
    strides = [m.stride for m in model.backbone.modules() if isinstance(m, SeparableConv2d)]
    # the stem strides once; each strided stage once more (stage 0 reaches stride 4)
    assert sum(s == (2, 2) for s in strides) == {8: 2, 16: 3, 32: 4}[output_stride]


def test_dilation_replaces_stride_with_the_same_weights():
    # OS 16 and OS 32 networks share every weight shape; only strides and rates differ
    a, b = DeepLabV3Plus(3, output_stride=16), DeepLabV3Plus(3, output_stride=32)
    assert {k: v.shape for k, v in a.state_dict().items()} == \
        {k: v.shape for k, v in b.state_dict().items()}
    last_stage = list(a.backbone.stages[3])
    assert last_stage[0].dilation == (1, 1) and last_stage[1].dilation == (2, 2)


def test_rates_follow_output_stride():
    assert scale_rates((6, 12, 18), 8) == (12, 24, 36)      # DeepLabV3: double at OS 8
    assert DeepLabV3Plus(3, output_stride=8).rates == (2, 4, 6)
    assert DeepLabV3Plus(3).rates == (1, 2, 3)


@pytest.mark.parametrize("output_stride", [8, 16])
@pytest.mark.parametrize("decoder", [True, False], ids=["v3+", "v3"])
@pytest.mark.parametrize("separable", [True, False], ids=["separable", "standard"])
def test_full_model_gradients(output_stride, decoder, separable):
    # sampled elements (8 per parameter) at model level; every element on the ops and blocks
    model = DeepLabV3Plus(3, output_stride=output_stride, decoder=decoder, separable=separable,
                          **TINY).astype(np.float64)
    randomize_batchnorm(model)
    # batch 3: the image-pooling branch's BatchNorm sees one value per image, and with
    # only 2 images it normalises them to +-1 whatever the weights are (gradient ~0)
    errors = mdl.gradcheck(model, _image((3, 3, 19, 17)), max_elements=8)
    assert max(errors.values()) < THRESHOLD, {k: v for k, v in errors.items() if v > THRESHOLD}


def test_model_backward_fills_every_gradient():
    model = DeepLabV3Plus(3, **TINY).astype(np.float64)
    x = _image((2, 3, 16, 16))
    grad_x = model.backward(np.ones_like(model(x)))
    assert grad_x.shape == x.shape
    assert all(np.any(p.grad != 0) for name, p in model.named_parameters()
               if not name.endswith("bias") or "classifier" in name)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_backward_without_the_image_gradient_gives_the_same_grads(backend):
    # what train() calls: the stem's conv skips dL/d(image); every parameter's grad is the same
    if backend == "numba" and not mdl.backend.numba_available():
        pytest.skip("numba is not installed")
    model = DeepLabV3Plus(3, **TINY).astype(np.float64)
    x, grad = _image((2, 3, 16, 16)), _image((2, 3, 16, 16), 2)
    grads = {}
    with mdl.use_backend(backend):
        for input_grad in (True, False):
            model.zero_grad()
            model(x)
            returned = model.backward(grad, input_grad=input_grad)
            assert (returned is None) is (not input_grad)
            grads[input_grad] = [p.grad.copy() for p in model.parameters()]
    for with_dx, without in zip(grads[True], grads[False], strict=True):
        np.testing.assert_array_equal(with_dx, without)


def test_a_learners_conv_backward_still_runs_for_the_first_layer():
    # mdl.use_implementation: every Conv2d's backward runs the learner's function, the stem's
    # too (its dx is dropped)
    from minideeplab.functional.conv import conv2d_backward as library_conv2d_backward
    model = DeepLabV3Plus(3, **TINY).astype(np.float64)
    x = _image((2, 3, 16, 16))
    calls = []

    def mine(dout, cache):
        calls.append(cache.x.shape)
        return library_conv2d_backward(dout, cache)

    model(x)
    with mdl.use_implementation(conv2d_backward=mine):
        assert model.backward(_image((2, 3, 16, 16), 2), input_grad=False) is None
    assert x.shape in calls, "the stem's conv (whose input is the image) did not run it"


def test_backends_agree_on_the_whole_model():
    model = DeepLabV3Plus(5, dropout=0.0).astype(np.float64)
    x = _image((2, 3, 32, 32))
    results = {}
    for backend in mdl.backend.BACKENDS if mdl.backend.numba_available() else ["numpy"]:
        with mdl.use_backend(backend):
            model.zero_grad()
            out = model(x)
            grad_x = model.backward(_image(out.shape, 2))
            results[backend] = (out, grad_x, [p.grad.copy() for p in model.parameters()])
    if len(results) == 2:
        (a, ga, pa), (b, gb, pb) = results["numba"], results["numpy"]
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ga, gb, rtol=1e-9, atol=1e-12)
        for x1, x2 in zip(pa, pb, strict=True):
            np.testing.assert_allclose(x1, x2, rtol=1e-8, atol=1e-10)


def test_summary_totals_and_separable_saving():
    separable = DeepLabV3Plus(5)
    standard = DeepLabV3Plus(5, separable=False)
    s_sep, s_std = mdl.summary(separable, (3, 64, 64)), mdl.summary(standard, (3, 64, 64))
    assert s_sep.total_parameters == mdl.count_parameters(separable)
    assert sum(r.parameters for r in s_sep.rows) == s_sep.total_parameters
    assert sum(r.mult_adds for r in s_sep.rows) == s_sep.total_mult_adds
    assert s_sep.total_mult_adds < 0.5 * s_std.total_mult_adds    # the paper's claim
    conv_rows = [r for r in s_sep.rows if r.kind == "Conv2d"]
    assert len(conv_rows) == sum(isinstance(m, Conv2d) for m in separable.modules())
    assert "1/N + 1/k^2" in str(s_sep)


def test_state_dict_keys_are_torch_like_and_round_trip():
    model = DeepLabV3Plus(5)
    state = model.state_dict()
    assert "aspp.branches.1.0.depthwise.weight" in state
    assert "backbone.stem.0.weight" in state and "decoder.classifier.bias" in state
    assert "aspp.branches.0.1.running_var" in state
    other = DeepLabV3Plus(5, seed=1)
    other.load_state_dict(state)
    x = _image((2, 3, 32, 32)).astype(np.float32)
    np.testing.assert_array_equal(model.eval()(x), other.eval()(x))
    with pytest.raises(ValueError, match="shape mismatch: decoder.classifier.weight"):
        DeepLabV3Plus(4).load_state_dict(state)


def test_same_seed_same_model():
    a, b = DeepLabV3Plus(5, seed=3), DeepLabV3Plus(5, seed=3)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(),
                                    strict=True):
        assert ka == kb and np.array_equal(va, vb)


@pytest.mark.parametrize("kwargs, error", [
    (dict(num_classes=0), ValueError), (dict(num_classes=3, output_stride=12), ValueError),
    (dict(num_classes=3, multi_grid=(1, 2, 4)), ValueError),
])
def test_bad_model_arguments(kwargs, error):
    with pytest.raises(error):
        DeepLabV3Plus(**kwargs)


def test_bad_input_to_the_model():
    model = DeepLabV3Plus(3)
    with pytest.raises(ValueError, match=r"x must be an image batch \(N, 3, H, W\)"):
        model(np.zeros((1, 1, 32, 32), np.float32))


def test_multi_grid_rates():
    model = DeepLabV3Plus(3, multi_grid=(1, 2))
    last_stage = list(model.backbone.stages[3])
    assert [block.dilation for block in last_stage] == [(2, 2), (4, 4)]
