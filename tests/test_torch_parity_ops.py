"""The same computations in PyTorch (float64): forward values and autograd gradients agree.

Skipped when torch is not installed; torch is never a dependency of minideeplab.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from minideeplab import functional as F  # noqa: E402
from minideeplab import nn  # noqa: E402

TOLERANCE = dict(rtol=1e-10, atol=1e-12)


def torch_vjp(function, inputs, grad_out):
    """Run ``function`` on float64 tensor copies of ``inputs``; return (out, grads) as numpy."""
    tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in inputs]
    out = function(*tensors)
    out.backward(torch.as_tensor(grad_out, dtype=torch.float64))
    return out.detach().numpy(), [t.grad.numpy() for t in tensors]


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm_matches_torch(backend, training):
    rng = np.random.default_rng(0)
    channels = 4
    gamma, beta = rng.standard_normal(channels), rng.standard_normal(channels)
    ours = nn.BatchNorm2d(channels, momentum=0.2).astype(np.float64)
    ours.weight.data, ours.bias.data = gamma.copy(), beta.copy()
    reference = torch.nn.BatchNorm2d(channels, momentum=0.2).double()
    with torch.no_grad():
        reference.weight.copy_(torch.tensor(gamma))
        reference.bias.copy_(torch.tensor(beta))
    # a few training steps (running stats move), then compare one step in the chosen mode
    for step in range(3):
        x = rng.standard_normal((3, channels, 4, 5)) * (step + 1) + step
        ours(x)
        reference(torch.tensor(x))
    np.testing.assert_allclose(ours.running_mean, reference.running_mean.numpy(), **TOLERANCE)
    np.testing.assert_allclose(ours.running_var, reference.running_var.numpy(), **TOLERANCE)
    assert int(ours.num_batches_tracked) == int(reference.num_batches_tracked) == 3
    assert list(ours.state_dict()) == list(reference.state_dict())

    ours.train(training)
    reference.train(training)
    x = rng.standard_normal((2, channels, 3, 3)) * 2 - 1
    dout = rng.standard_normal(x.shape)
    out = ours(x)
    ours.zero_grad()
    dx = ours.backward(dout)
    reference.zero_grad()
    x_t = torch.tensor(x, requires_grad=True)
    out_t = reference(x_t)
    out_t.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, out_t.detach().numpy(), **TOLERANCE)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), **TOLERANCE)
    np.testing.assert_allclose(ours.weight.grad, reference.weight.grad.numpy(), **TOLERANCE)
    np.testing.assert_allclose(ours.bias.grad, reference.bias.grad.numpy(), **TOLERANCE)
    np.testing.assert_allclose(ours.running_var, reference.running_var.numpy(), **TOLERANCE)


RESIZES = [
    ((2, 3, 4, 5), (8, 10)),      # up 2x
    ((1, 2, 3, 5), (7, 4)),       # odd, up in h and down in w
    ((1, 2, 6, 6), (3, 3)),       # down 2x
    ((1, 2, 5, 5), (1, 1)),       # down to a point
    ((2, 2, 1, 1), (5, 4)),       # a pooled 1x1 map broadcast back (ASPP image pooling)
    ((1, 1, 17, 9), (5, 13)),
    ((1, 1, 8, 8), (33, 31)),     # ~4x up, as the decoder does
]


@pytest.mark.parametrize("align_corners", [False, True], ids=["half-pixel", "align-corners"])
@pytest.mark.parametrize("x_shape, size", RESIZES, ids=[f"{s[2:]}->{t}" for s, t in RESIZES])
def test_bilinear_resize_matches_torch(backend, x_shape, size, align_corners):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape)
    out, cache = F.bilinear_resize_forward(x, size, align_corners)
    dout = rng.standard_normal(out.shape)
    dx = F.bilinear_resize_backward(dout, cache)

    def reference(t):
        return torch.nn.functional.interpolate(t, size=size, mode="bilinear",
                                               align_corners=align_corners)

    out_t, (dx_t,) = torch_vjp(reference, [x], dout)
    np.testing.assert_allclose(out, out_t, **TOLERANCE)
    np.testing.assert_allclose(dx, dx_t, **TOLERANCE)


def test_upsample_scale_factor_matches_torch():
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 6))
    ours = nn.Upsample(scale_factor=4)(x)
    reference = torch.nn.Upsample(scale_factor=4, mode="bilinear")(torch.tensor(x)).numpy()
    np.testing.assert_allclose(ours, reference, **TOLERANCE)


@pytest.mark.parametrize("weighted", [False, True], ids=["mean", "class-weighted"])
def test_softmax_cross_entropy_matches_torch(weighted):
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((2, 5, 4, 3)) * 4
    target = rng.integers(0, 5, (2, 4, 3))
    target[rng.random(target.shape) < 0.3] = 255
    weight = rng.uniform(0.2, 3.0, 5) if weighted else None
    loss, cache = F.softmax_cross_entropy_forward(logits, target, ignore_index=255, weight=weight)
    dlogits = F.softmax_cross_entropy_backward(0.7, cache)

    logits_t = torch.tensor(logits, requires_grad=True)
    loss_t = torch.nn.functional.cross_entropy(
        logits_t, torch.tensor(target), ignore_index=255,
        weight=None if weight is None else torch.tensor(weight))
    (loss_t * 0.7).backward()
    assert loss == pytest.approx(loss_t.item(), rel=1e-12)
    np.testing.assert_allclose(dlogits, logits_t.grad.numpy(), **TOLERANCE)


def test_relu_and_global_avg_pool_match_torch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 5))
    for forward, backward, reference in [
        (F.relu_forward, F.relu_backward, torch.relu),
        (F.global_avg_pool2d_forward, F.global_avg_pool2d_backward,
         lambda t: torch.nn.functional.adaptive_avg_pool2d(t, 1)),
    ]:
        out, cache = forward(x)
        dout = rng.standard_normal(out.shape)
        out_t, (dx_t,) = torch_vjp(reference, [x], dout)
        np.testing.assert_allclose(out, out_t, **TOLERANCE)
        np.testing.assert_allclose(backward(dout, cache), dx_t, **TOLERANCE)
