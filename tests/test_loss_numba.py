"""The Numba softmax cross-entropy (kernels/loss.py) gives the NumPy reference's numbers."""

import numpy as np
import pytest

pytest.importorskip("numba")

import minideeplab as mdl  # noqa: E402
from minideeplab import functional as F  # noqa: E402


def loss_both_ways(backend, logits, target, **kwargs):
    with mdl.use_backend(backend):
        loss, cache = F.softmax_cross_entropy_forward(logits, target, **kwargs)
        return loss, F.softmax_cross_entropy_backward(0.5, cache)


@pytest.mark.parametrize("weighted", [False, True], ids=["mean", "class weights"])
@pytest.mark.parametrize("shape", [(1, 2, 1, 1), (3, 5, 4, 7), (2, 21, 9, 6)])
def test_numba_equals_numpy(shape, weighted):
    rng = np.random.default_rng(sum(shape))
    logits = rng.standard_normal(shape) * 4
    logits[0, :, 0, 0] = [1e4] + [0.0] * (shape[1] - 1)      # exp would overflow unshifted
    target = rng.integers(0, shape[1], (shape[0], *shape[2:]))
    target.reshape(-1)[::3] = 255                              # some ignored pixels
    target.reshape(-1)[0] = 0
    kwargs = {"weight": rng.random(shape[1]) + 0.5} if weighted else {}
    reference = loss_both_ways("numpy", logits, target, **kwargs)
    twin = loss_both_ways("numba", logits, target, **kwargs)
    assert twin[0] == pytest.approx(reference[0], rel=1e-12)
    np.testing.assert_allclose(twin[1], reference[1], rtol=1e-12, atol=1e-15)


def test_float32_in_float32_out_and_close_to_float64():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((2, 4, 5, 6))
    target = rng.integers(0, 4, (2, 5, 6))
    loss64, grad64 = loss_both_ways("numba", logits, target)
    loss32, grad32 = loss_both_ways("numba", logits.astype(np.float32), target)
    assert grad32.dtype == np.float32 and isinstance(loss32, float)
    assert loss32 == pytest.approx(loss64, rel=1e-6)
    np.testing.assert_allclose(grad32, grad64, rtol=1e-5, atol=1e-7)


def test_every_pixel_ignored_gives_zero_on_both_backends():
    logits = np.random.default_rng(2).standard_normal((1, 3, 2, 2))
    target = np.full((1, 2, 2), 255)
    for backend in ("numpy", "numba"):
        loss, grad = loss_both_ways(backend, logits, target)
        assert loss == 0.0 and not grad.any()
