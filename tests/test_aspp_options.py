"""ASPP with parts switched off (the experiment of notebook 03): no image pooling, no atrous
branches. Gradient checks (float64, every element, random upstream gradient, relative error
< 1e-6), structure, the receptive field, the model option and the PyTorch twin."""

import math

import numpy as np
import pytest

import minideeplab as mdl
from minideeplab import nn
from minideeplab import receptive_field as rf
from minideeplab.checkpoint import build_model
from minideeplab.models import DeepLabV3Plus, deeplab_config

from .conftest import randomize_batchnorm

THRESHOLD = 1e-6
TINY = dict(stem_channels=3, widths=(3, 4, 4, 5), blocks=(1, 1, 1, 1), aspp_channels=3,
            low_level_channels=2, decoder_channels=3, dropout=0.0)


def _x(shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("separable", [True, False], ids=["separable", "standard"])
@pytest.mark.parametrize("rates, image_pooling", [((1, 2), False), ((), True), ((), False),
                                                  ((3,), False)])
def test_aspp_gradients_with_parts_off(backend, separable, rates, image_pooling):
    aspp = nn.ASPP(3, 2, rates, separable=separable, dropout=0.0, image_pooling=image_pooling,
                   rng=np.random.default_rng(0)).astype(np.float64)
    randomize_batchnorm(aspp)
    errors = mdl.gradcheck(aspp, _x((3, 3, 5, 4)))
    assert len(errors) == 1 + len(aspp.parameters())           # the input and every parameter
    assert max(errors.values()) < THRESHOLD, errors


@pytest.mark.parametrize("rates, image_pooling, branches", [
    ((1, 2, 3), True, 5), ((1, 2, 3), False, 4), ((), True, 2), ((), False, 1),
    ((1, 1, 1), True, 5),
])
def test_branch_count_and_projection_width(rates, image_pooling, branches):
    aspp = nn.ASPP(8, 4, rates, image_pooling=image_pooling)
    assert len(aspp.branches) == branches
    assert aspp.project[0].in_channels == branches * 4      # the concatenation's width
    pooling_keys = [k for k in aspp.state_dict() if k.startswith(f"branches.{branches - 1}.conv")]
    assert bool(pooling_keys) == image_pooling              # the pooling branch comes last
    assert aspp(np.zeros((2, 8, 4, 4), np.float32)).shape == (2, 4, 4, 4)


def test_without_pooling_batch_one_trains():
    # the batch-1 pitfall lives in the pooling branch's BatchNorm only
    aspp = nn.ASPP(3, 2, (1, 2), image_pooling=False)
    assert aspp(np.ones((1, 3, 4, 4), np.float32)).shape == (1, 2, 4, 4)
    with pytest.raises(ValueError, match="batch size 1"):
        nn.ASPP(3, 2, (1, 2))(np.ones((1, 3, 4, 4), np.float32))


def test_receptive_field_is_finite_without_pooling():
    with_pooling = rf.receptive_field(nn.ASPP(4, 2, (1, 2, 3)))
    without = rf.receptive_field(nn.ASPP(4, 2, (1, 2, 3), image_pooling=False))
    assert with_pooling[-1].size == math.inf
    assert without[-1].size == 7                  # the widest branch: rate 3 spans 2*3 + 1
    assert not any("image pooling" in row.name for row in without)
    only_1x1 = rf.receptive_field(nn.ASPP(4, 2, (), image_pooling=False))
    assert only_1x1[-1].size == 1


def test_model_option_lives_in_deeplab_config():
    assert deeplab_config(5)["aspp_pooling"] is True
    config = deeplab_config(5, aspp_pooling=False, aspp_rates=())
    assert config["aspp_pooling"] is False and config["aspp_rates"] == ()
    model = DeepLabV3Plus(5, aspp_pooling=False, aspp_rates=(), **TINY)
    assert len(model.aspp.branches) == 1 and model.rates == ()
    assert model.eval()(np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 5, 32, 32)
    # a checkpoint's config rebuilds the same network (keys and shapes)
    rebuilt = build_model(model.config)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == \
        {k: v.shape for k, v in model.state_dict().items()}


def test_an_old_config_without_the_option_gets_pooling():
    config = deeplab_config(5)
    del config["aspp_pooling"]                         # a checkpoint written before the option
    assert len(build_model(config).aspp.branches) == 5


@pytest.mark.parametrize("options", [dict(aspp_pooling=False), dict(aspp_rates=()),
                                     dict(aspp_rates=(1, 1, 1))])
def test_full_model_gradients_with_parts_off(options):
    model = randomize_batchnorm(DeepLabV3Plus(3, **{**TINY, **options}).astype(np.float64))
    errors = mdl.gradcheck(model, _x((3, 3, 19, 17)), max_elements=8)
    assert max(errors.values()) < THRESHOLD, {k: v for k, v in errors.items() if v > THRESHOLD}


def test_torch_twin_follows_the_option():
    torch = pytest.importorskip("torch", reason="the PyTorch twin needs torch")
    from minideeplab.interop.torch import to_torch

    model = randomize_batchnorm(DeepLabV3Plus(3, aspp_pooling=False, **TINY).astype(np.float64))
    model.eval()
    twin = to_torch(model)
    x = _x((2, 3, 21, 19))
    with torch.no_grad():
        theirs = twin(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(x), theirs, rtol=1e-10, atol=1e-10)
    assert list(twin.state_dict()) == list(model.state_dict())
