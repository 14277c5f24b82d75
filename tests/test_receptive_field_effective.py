"""The effective receptive field: the exact variance of a uniform stack, its support inside the
theoretical field, eval mode, and the reading of the map (moments, radius)."""

import numpy as np
import pytest

import minideeplab as mdl
from minideeplab import nn
from minideeplab import receptive_field as rf


@pytest.fixture(autouse=True)
def numpy_backend():
    """The reference backend: these tests are about receptive fields, not Numba compile time."""
    with mdl.use_backend("numpy"):
        yield


def uniform_stack(n_layers, k):
    """n convs of one channel, every weight 1/k^2, no bias, no nonlinearity: a linear blur."""
    layers = []
    for _ in range(n_layers):
        conv = nn.Conv2d(1, 1, k, padding=k // 2, bias=False, dtype=np.float64)
        conv.weight.data[...] = 1.0 / k ** 2
        layers.append(conv)
    return nn.Sequential(layers)


@pytest.mark.parametrize("n_layers, k", [(1, 3), (3, 3), (4, 3), (2, 5)])
def test_erf_variance_of_a_uniform_stack_is_n_k2_minus_1_over_12(n_layers, k):
    # each layer adds an independent uniform step over k taps, variance (k^2 - 1)/12;
    # 31x31 keeps the centre output's support (n(k-1)+1 wide) away from the border
    erf = rf.effective_receptive_field(uniform_stack(n_layers, k), (1, 31, 31), n_samples=2)
    centre, variance = rf.erf_moments(erf)
    expected = n_layers * (k ** 2 - 1) / 12
    assert centre == pytest.approx((15.0, 15.0), abs=1e-12)
    assert variance == pytest.approx((expected, expected), rel=1e-10)
    assert erf.sum() == pytest.approx(1.0)


def test_erf_support_never_leaves_the_theoretical_field():
    rng = np.random.default_rng(0)
    model = nn.Sequential([
        nn.Conv2d(2, 4, 3, padding=1, rng=rng, dtype=np.float64), nn.ReLU(),
        nn.Conv2d(4, 4, 3, stride=2, padding=1, rng=rng, dtype=np.float64), nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=2, dilation=2, rng=rng, dtype=np.float64), nn.ReLU(),
        nn.Conv2d(4, 3, 3, padding=3, dilation=3, rng=rng, dtype=np.float64),
    ])
    last = rf.receptive_field(model)[-1]
    # 1, +2 (3x3), +2 (3x3 stride 2), then jump 2: +4*2 (rate 2), +6*2 (rate 3)
    assert (last.size, last.stride) == (1 + 2 + 2 + 4 * 2 + 6 * 2, 2)
    output_index = (12, 11)                     # on a 25x25 output of a 49x49 input
    erf = rf.effective_receptive_field(model, (2, 49, 49), output_index=output_index)
    top, left, bottom, right = rf.receptive_field_box(last, output_index)
    rows, cols = np.nonzero(erf)
    assert rows.size > 0
    assert rows.min() >= top and rows.max() <= bottom
    assert cols.min() >= left and cols.max() <= right


def test_erf_runs_in_eval_mode_and_restores_modes_and_gradients():
    model = nn.Sequential([nn.Conv2d(1, 2, 3, padding=1, dtype=np.float64),
                           nn.BatchNorm2d(2), nn.ReLU()])
    model.astype(np.float64)
    model.train()
    rf.effective_receptive_field(model, (1, 9, 9), n_samples=3, channel=1)
    assert all(module.training for module in model.modules())
    assert all(np.all(p.grad == 0) for p in model.parameters())


def test_erf_bad_input_is_named():
    model = uniform_stack(1, 3)
    with pytest.raises(ValueError, match="input_shape"):
        rf.effective_receptive_field(model, (9, 9))
    with pytest.raises(ValueError, match="output_index"):
        rf.effective_receptive_field(model, (1, 9, 9), output_index=(9, 0))
    with pytest.raises(TypeError, match="backward"):
        rf.effective_receptive_field(lambda x: x, (1, 9, 9))


def test_erf_radius_of_a_uniform_square_is_its_half_width():
    erf = np.zeros((11, 11))
    erf[3:8, 3:8] = 1.0                              # a 5x5 square around (5, 5)
    assert rf.erf_radius(erf, share=1.0) == 2.0
    assert rf.erf_radius(erf, share=1 / 25) == 0.0   # the centre pixel alone
    with pytest.raises(ValueError, match="share"):
        rf.erf_radius(erf, share=0.0)


def test_check_erf_normalises_a_map_and_names_what_is_wrong():
    erf = rf.check_erf([[0, 1], [1, 2]])
    assert erf.dtype == np.float64 and erf.sum() == pytest.approx(1.0)
    assert erf[1, 1] == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"erf must be an \(H, W\) array"):
        rf.check_erf(np.ones((1, 3, 3)))
    with pytest.raises(ValueError, match="non-negative"):
        rf.check_erf([[1.0, -1.0]])
    with pytest.raises(ValueError, match="positive sum"):
        rf.check_erf(np.zeros((3, 3)))
