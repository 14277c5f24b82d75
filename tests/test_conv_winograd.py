"""The Winograd route of the Numba conv2d (kernels/winograd.py) gives the reference's numbers.

* the 1-D identity of the module docstring (4 products for 2 outputs) on random numbers;
* on random geometries (sizes odd and even, padding 0-2 in h and w independently)
  out, dX and dW equal the NumPy reference in float64 to 1e-10, with the route
  checked to be taken (its size thresholds switched off, so that tiny shapes use it);
* a gradient check through the route; float32 at a size that takes it by default;
* which convolutions take it; PyTorch, when installed, agrees.
"""

import numpy as np
import pytest

pytest.importorskip("numba")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import minideeplab as mdl  # noqa: E402
from minideeplab import functional as F  # noqa: E402
from minideeplab.kernels import winograd  # noqa: E402

from .test_conv_numba import assert_same_numbers, conv_both_ways  # noqa: E402

THRESHOLD = 1e-6        # gradient check: relative error of the analytic gradient


@pytest.fixture
def every_size(monkeypatch):
    """Let every 3x3 stride-1 conv take the route, however small; count its calls."""
    monkeypatch.setattr(winograd, "MIN_CHANNELS", 1)
    monkeypatch.setattr(winograd, "MIN_SIZE", 1)
    calls = []
    forward = winograd.forward

    def counted(*args):
        calls.append(args[0].shape)
        return forward(*args)

    monkeypatch.setattr(winograd, "forward", counted)
    return calls


def test_two_outputs_of_a_three_tap_filter_in_four_products():
    rng = np.random.default_rng(0)
    d = rng.standard_normal((100, 4))
    g = rng.standard_normal((100, 3))
    m0 = (d[:, 0] - d[:, 2]) * g[:, 0]
    m1 = (d[:, 1] + d[:, 2]) * (g[:, 0] + g[:, 1] + g[:, 2]) / 2
    m2 = (d[:, 2] - d[:, 1]) * (g[:, 0] - g[:, 1] + g[:, 2]) / 2
    m3 = (d[:, 1] - d[:, 3]) * g[:, 2]
    direct = np.stack([(d[:, 0:3] * g).sum(1), (d[:, 1:4] * g).sum(1)], axis=1)
    np.testing.assert_allclose(np.stack([m0 + m1 + m2, m1 - m2 - m3], axis=1), direct,
                               rtol=1e-12, atol=1e-12)


@st.composite
def winograd_geometries(draw):
    n = draw(st.integers(1, 3))
    # (one input channel would be the depthwise route's: w of shape (C_out, 1, 3, 3))
    c_in, c_out = draw(st.integers(2, 4)), draw(st.integers(1, 4))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    # every tap reads x somewhere (size >= 3 - p; else conv.py drops the taps that read
    # only padding, and the kernel is no longer 3x3), and the output is at least 1x1
    size = tuple(max(1, 3 - p) + draw(st.integers(0, 10)) for p in padding)
    return (n, c_in, *size), (c_out, c_in, 3, 3), padding


# (the fixture's patches hold for every example; its call list is cleared in each)
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(geometry=winograd_geometries(), seed=st.integers(0, 2**16))
def test_route_equals_numpy_on_random_geometries(every_size, geometry, seed):
    x_shape, w_shape, padding = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    expected = conv_both_ways("numpy", x, w, padding=padding)
    every_size.clear()
    actual = conv_both_ways("numba", x, w, padding=padding)
    assert len(every_size) == 2, "forward and dX should both take the Winograd route"
    for name, a, e in zip(("out", "dx", "dw"), actual[:3], expected[:3], strict=True):
        assert a.shape == e.shape, name
        assert_same_numbers(a, e, f"{name} differs for x {x_shape}, w {w_shape}, "
                                  f"padding {padding}")


@pytest.mark.parametrize("x_shape, padding", [((2, 3, 6, 7), 1), ((1, 2, 5, 6), (0, 2))])
def test_gradients_through_the_route(every_size, x_shape, padding):
    rng = np.random.default_rng(1)
    inputs = (rng.standard_normal(x_shape), rng.standard_normal((4, x_shape[1], 3, 3)),
              rng.standard_normal(4))
    with mdl.use_backend("numba"):
        errors = mdl.gradcheck(F.conv2d_forward, F.conv2d_backward, inputs,
                               kwargs=dict(padding=padding), wrt=(0, 1, 2))
    assert every_size, "the route was not taken"
    assert max(errors.values()) < THRESHOLD, errors


def test_float32_at_a_size_that_takes_the_route_by_default(monkeypatch):
    calls = []
    forward = winograd.forward
    monkeypatch.setattr(winograd, "forward", lambda *args: calls.append(1) or forward(*args))
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 16, 32, 34))
    w = rng.standard_normal((16, 16, 3, 3)) / 12
    single = conv_both_ways("numba", x.astype(np.float32), w.astype(np.float32), padding=1)
    double = conv_both_ways("numpy", x, w, padding=1)
    assert len(calls) == 2, "forward and dX should take the route at this size"
    for name, a, e in zip(("out", "dx", "dw"), single[:3], double[:3], strict=True):
        assert a.dtype == np.float32, name
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-5 * np.abs(e).max(), err_msg=name)


@pytest.mark.parametrize("w_shape, stride, padding, dilation, groups, out_size, takes", [
    ((64, 64, 3, 3), (1, 1), (1, 1), (1, 1), 1, (64, 64), True),
    ((64, 64, 3, 3), (1, 1), (0, 2), (1, 1), 1, (62, 66), True),
    ((64, 64, 3, 3), (2, 2), (1, 1), (1, 1), 1, (32, 32), False),     # strided
    ((64, 64, 3, 3), (1, 1), (2, 2), (2, 2), 1, (64, 64), False),     # atrous
    ((64, 32, 3, 3), (1, 1), (1, 1), (1, 1), 2, (64, 64), False),     # grouped
    ((64, 64, 5, 5), (1, 1), (2, 2), (1, 1), 1, (64, 64), False),     # 5x5
    ((64, 64, 3, 3), (1, 1), (3, 3), (1, 1), 1, (68, 68), False),     # dX padding < 0
    ((64, 8, 3, 3), (1, 1), (1, 1), (1, 1), 1, (64, 64), False),      # few channels in
    ((8, 64, 3, 3), (1, 1), (1, 1), (1, 1), 1, (64, 64), False),      # few channels out
    ((64, 64, 3, 3), (1, 1), (1, 1), (1, 1), 1, (16, 64), False),     # a small map
])
def test_which_convolutions_take_the_route(w_shape, stride, padding, dilation, groups,
                                           out_size, takes):
    assert winograd.applies(w_shape, stride, padding, dilation, groups, out_size) is takes


def test_matches_torch(every_size):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 7, 8))
    w = rng.standard_normal((5, 3, 3, 3))
    out, dx, dw, _ = conv_both_ways("numba", x, w, padding=1)
    x_t = torch.tensor(x, requires_grad=True)
    w_t = torch.tensor(w, requires_grad=True)
    out_t = torch.nn.functional.conv2d(x_t, w_t, padding=1)
    out_t.backward(torch.tensor(np.random.default_rng(1).standard_normal(out.shape)))
    for name, mine, theirs in (("out", out, out_t), ("dx", dx, x_t.grad), ("dw", dw, w_t.grad)):
        assert_same_numbers(mine, theirs.detach().numpy(), name)
