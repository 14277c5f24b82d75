"""The Winograd route of the Numba conv2d (kernels/winograd.py) gives the reference's numbers.

* the 1-D identity of the module docstring (5 products for 3 outputs) on random numbers;
* where the tiles lie: hand-worked cases, and every output in exactly one tile;
* on random geometries (sizes odd and even, rates 1-3 and padding 0-2r in h and w
  independently) out, dX and dW equal the NumPy reference in float64 to 1e-10, with
  the route checked to be taken by all three passes (its thresholds switched off, so
  that tiny shapes use it);
* gradient checks through the route, dense and atrous; float32 at sizes that take it
  by default;
* which convolutions take it; PyTorch, when installed, agrees.
"""

import numpy as np
import pytest

pytest.importorskip("numba")

from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import minideeplab as mdl  # noqa: E402
from minideeplab import functional as F  # noqa: E402
from minideeplab.kernels import winograd  # noqa: E402

from .test_conv_numba import assert_same_numbers, conv_both_ways  # noqa: E402

THRESHOLD = 1e-6        # gradient check: relative error of the analytic gradient


def _count_calls(monkeypatch):
    """Record the route's passes as they run: "forward" (the forward pass and dX) and
    "dW"."""
    calls = []
    for name, label in (("forward", "forward"), ("backward_weight", "dW")):
        original = getattr(winograd, name)

        def counted(*args, original=original, label=label):
            calls.append(label)
            return original(*args)

        monkeypatch.setattr(winograd, name, counted)
    return calls


@pytest.fixture
def every_size(monkeypatch):
    """Let every 3x3 stride-1 conv take the route, however small; record its passes."""
    monkeypatch.setattr(winograd, "MIN_CHANNELS", 1)
    monkeypatch.setattr(winograd, "MIN_TILE_USE", 0.0)
    return _count_calls(monkeypatch)


def test_three_outputs_of_a_three_tap_filter_in_five_products():
    rng = np.random.default_rng(0)
    d0, d1, d2, d3, d4 = rng.standard_normal((5, 100))
    g0, g1, g2 = rng.standard_normal((3, 100))
    b = [2 * d0 - d1 - 2 * d2 + d3, -2 * d1 - d2 + d3, 2 * d1 - 3 * d2 + d3, -d1 + d3,
         2 * d1 - d2 - 2 * d3 + d4]
    h = [g0 / 2, -(g0 + g1 + g2) / 2, (-g0 + g1 - g2) / 6, (g0 + 2 * g1 + 4 * g2) / 6, g2]
    m0, m1, m2, m3, m4 = (bi * hi for bi, hi in zip(b, h, strict=True))    # the 5 products
    winograd_sums = [m0 + m1 + m2 + m3, m1 - m2 + 2 * m3, m1 + m2 + 4 * m3 + m4]
    d = [d0, d1, d2, d3, d4]
    direct = [d[i] * g0 + d[i + 1] * g1 + d[i + 2] * g2 for i in range(3)]
    np.testing.assert_allclose(winograd_sums, direct, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_out, rate, origins", [
    (7, 1, [0, 3, 6]),               # dense: tiles of 3 side by side, the last overhangs
    (9, 1, [0, 3, 6]),
    (8, 2, [0, 6, 1, 7]),            # phase 0 (0 2 4 6) in tiles 0-2-4, 6; phase 1 likewise
    (32, 6, [0, 18, 1, 19, 2, 20, 3, 21, 4, 22, 5, 23]),
    (3, 6, [0, 1, 2]),               # fewer outputs than the rate: one per phase
])
def test_tile_origins_by_hand(n_out, rate, origins):
    assert winograd.tile_origins(n_out, rate).tolist() == origins


@given(n_out=st.integers(1, 60), rate=st.integers(1, 20))
def test_every_output_lies_in_exactly_one_tile(n_out, rate):
    covered = [o + rate * j for o in winograd.tile_origins(n_out, rate) for j in range(3)
               if o + rate * j < n_out]
    assert sorted(covered) == list(range(n_out))


def _every_tap_reads_x(size, padding, rate):
    """Whether each of the 3 taps reads x for some output (else conv.py drops the taps
    that read only padding, and the kernel is no longer 3x3) and the output is >= 1."""
    n_out = size + 2 * padding - 2 * rate
    return n_out >= 1 and all(any(0 <= i + k * rate - padding < size for i in range(n_out))
                              for k in range(3))


@st.composite
def winograd_geometries(draw):
    n = draw(st.integers(1, 3))
    # (one input channel would be the depthwise route's: w of shape (C_out, 1, 3, 3))
    c_in, c_out = draw(st.integers(2, 4)), draw(st.integers(1, 4))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = tuple(draw(st.integers(0, 2 * r)) for r in dilation)
    size = tuple(draw(st.integers(1, 14)) for _ in dilation)
    assume(all(_every_tap_reads_x(*g) for g in zip(size, padding, dilation, strict=True)))
    return (n, c_in, *size), (c_out, c_in, 3, 3), padding, dilation


# (the fixture's patches hold for every example; its call list is cleared in each)
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(geometry=winograd_geometries(), seed=st.integers(0, 2**16),
       band_tiles=st.sampled_from([1, 4, 128]))
def test_route_equals_numpy_on_random_geometries(every_size, monkeypatch, geometry, seed,
                                                band_tiles):
    # a few tiles per band: several bands per image, the last one short
    monkeypatch.setattr(winograd, "BAND_TILES", band_tiles)
    x_shape, w_shape, padding, dilation = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    kwargs = dict(padding=padding, dilation=dilation)
    expected = conv_both_ways("numpy", x, w, **kwargs)
    every_size.clear()
    actual = conv_both_ways("numba", x, w, **kwargs)
    assert sorted(every_size) == ["dW", "forward", "forward"], \
        "forward, dX and dW should all take the Winograd route"
    for name, a, e in zip(("out", "dx", "dw"), actual[:3], expected[:3], strict=True):
        assert a.shape == e.shape, name
        assert_same_numbers(a, e, f"{name} differs for x {x_shape}, w {w_shape}, "
                                  f"{kwargs}")


@pytest.mark.parametrize("x_shape, padding, dilation", [
    ((2, 3, 6, 7), 1, 1),
    ((1, 2, 5, 6), (0, 2), 1),
    ((1, 2, 9, 8), (2, 3), (2, 3)),         # atrous: tiles on every 2nd row, 3rd column
])
def test_gradients_through_the_route(every_size, x_shape, padding, dilation):
    rng = np.random.default_rng(1)
    inputs = (rng.standard_normal(x_shape), rng.standard_normal((4, x_shape[1], 3, 3)),
              rng.standard_normal(4))
    with mdl.use_backend("numba"):
        errors = mdl.gradcheck(F.conv2d_forward, F.conv2d_backward, inputs,
                               kwargs=dict(padding=padding, dilation=dilation), wrt=(0, 1, 2))
    assert every_size, "the route was not taken"
    assert max(errors.values()) < THRESHOLD, errors


@pytest.mark.parametrize("size, rate", [((32, 34), 1), ((20, 24), 4)])
def test_float32_at_a_size_that_takes_the_route_by_default(monkeypatch, size, rate):
    calls = _count_calls(monkeypatch)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 16, *size))
    w = rng.standard_normal((16, 16, 3, 3)) / 12
    kwargs = dict(padding=rate, dilation=rate)
    single = conv_both_ways("numba", x.astype(np.float32), w.astype(np.float32), **kwargs)
    double = conv_both_ways("numpy", x, w, **kwargs)
    assert sorted(calls) == ["dW", "forward", "forward"], "the route at this size"
    for name, a, e in zip(("out", "dx", "dw"), single[:3], double[:3], strict=True):
        assert a.dtype == np.float32, name
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-5 * np.abs(e).max(), err_msg=name)


@pytest.mark.parametrize("w_shape, stride, padding, dilation, groups, out_size, takes", [
    ((64, 64, 3, 3), (1, 1), (1, 1), (1, 1), 1, (64, 64), True),
    ((64, 64, 3, 3), (1, 1), (0, 2), (1, 1), 1, (62, 66), True),
    ((64, 64, 3, 3), (1, 1), (6, 6), (6, 6), 1, (32, 32), True),      # atrous
    ((64, 64, 3, 3), (2, 2), (1, 1), (1, 1), 1, (32, 32), False),     # strided
    ((64, 64, 3, 3), (1, 1), (13, 6), (6, 6), 1, (34, 32), False),    # dX padding 2r-p < 0
    ((64, 32, 3, 3), (1, 1), (1, 1), (1, 1), 2, (64, 64), False),     # grouped
    ((64, 64, 5, 5), (1, 1), (2, 2), (1, 1), 1, (64, 64), False),     # 5x5
    ((64, 64, 3, 3), (1, 1), (3, 3), (1, 1), 1, (68, 68), False),     # dX padding < 0
    ((64, 8, 3, 3), (1, 1), (1, 1), (1, 1), 1, (64, 64), False),      # few channels in
    ((8, 64, 3, 3), (1, 1), (1, 1), (1, 1), 1, (64, 64), False),      # few channels out
    ((64, 64, 3, 3), (1, 1), (1, 1), (1, 1), 1, (16, 64), True),      # tile use 0.97
    ((64, 64, 3, 3), (1, 1), (6, 6), (6, 6), 1, (24, 24), False),     # tile use 0.44
    ((64, 64, 3, 3), (1, 1), (1, 1), (1, 1), 1, (4, 4), False),       # tile use 0.44
])
def test_which_convolutions_take_the_route(w_shape, stride, padding, dilation, groups,
                                           out_size, takes):
    assert winograd.applies(w_shape, stride, padding, dilation, groups, out_size) is takes


@pytest.mark.parametrize("out_size, dilation, share", [
    ((9, 9), (1, 1), 1.0),                   # 3 x 3 tiles, every output inside
    ((4, 4), (1, 1), 16 / 36),               # 2 x 2 tiles for 4 x 4 outputs
    ((32, 32), (6, 6), 1024 / 1296),         # 12 x 12 tiles on the dilated grid
    ((24, 24), (6, 6), 576 / 1296),          # 4 outputs per phase in 2 tiles of 3
])
def test_tile_use_by_hand(out_size, dilation, share):
    assert winograd.tile_use(out_size, dilation) == pytest.approx(share)


@pytest.mark.parametrize("padding, dilation", [(1, 1), ((3, 1), (2, 1))])
def test_matches_torch(every_size, padding, dilation):
    """Dense and atrous, against PyTorch (float64); the fixture lets these tiny shapes take
    the route."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 11, 8))
    w = rng.standard_normal((5, 3, 3, 3))
    kwargs = dict(padding=padding, dilation=dilation)
    out, dx, dw, _ = conv_both_ways("numba", x, w, **kwargs)
    x_t = torch.tensor(x, requires_grad=True)
    w_t = torch.tensor(w, requires_grad=True)
    out_t = torch.nn.functional.conv2d(x_t, w_t, **kwargs)
    out_t.backward(torch.tensor(np.random.default_rng(1).standard_normal(out.shape)))
    for name, mine, theirs in (("out", out, out_t), ("dx", dx, x_t.grad), ("dw", dw, w_t.grad)):
        assert_same_numbers(mine, theirs.detach().numpy(), name)
