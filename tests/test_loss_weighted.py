"""The class-weighted cross-entropy behind ``--class-weights``: gradient, torch, and the
unweighted loss unchanged."""

import numpy as np
import pytest

from minideeplab import functional as F


def _problem(seed=0, shape=(2, 4, 3, 5)):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal(shape) * 3
    target = rng.integers(0, shape[1], (shape[0], *shape[2:]))
    target[rng.random(target.shape) < 0.25] = 255
    weight = rng.uniform(0.2, 4.0, shape[1])
    return logits, target, weight


def test_weighted_gradient_by_central_differences_with_a_random_upstream_gradient():
    logits, target, weight = _problem()
    upstream = float(np.random.default_rng(1).standard_normal())      # dL'/dL, a scalar
    _, cache = F.softmax_cross_entropy_forward(logits, target, weight=weight)
    analytic = F.softmax_cross_entropy_backward(upstream, cache)
    numeric = np.zeros_like(logits)
    step = 1e-6
    for index in np.ndindex(logits.shape):                # every element of a tiny problem
        plus, minus = logits.copy(), logits.copy()
        plus[index] += step
        minus[index] -= step
        numeric[index] = upstream * (
            F.softmax_cross_entropy_forward(plus, target, weight=weight)[0]
            - F.softmax_cross_entropy_forward(minus, target, weight=weight)[0]) / (2 * step)
    error = np.abs(analytic - numeric).max() / max(np.abs(analytic).max(), np.abs(numeric).max())
    assert error < 1e-6, error
    ignored = target == 255
    assert (analytic.transpose(1, 0, 2, 3)[:, ignored] == 0).all()   # ignored: no gradient


def test_weighted_loss_and_gradient_match_torch():
    torch = pytest.importorskip("torch", reason="the comparison needs PyTorch")
    logits, target, weight = _problem(seed=2)
    upstream = float(np.random.default_rng(3).standard_normal())
    loss, cache = F.softmax_cross_entropy_forward(logits, target, weight=weight)
    dlogits = F.softmax_cross_entropy_backward(upstream, cache)
    logits_t = torch.tensor(logits, requires_grad=True)
    loss_t = torch.nn.functional.cross_entropy(logits_t, torch.tensor(target),
                                               weight=torch.tensor(weight), ignore_index=255)
    (loss_t * upstream).backward()
    assert loss == pytest.approx(loss_t.item(), rel=1e-12)
    np.testing.assert_allclose(dlogits, logits_t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_weights_of_one_are_the_unweighted_loss_exactly():
    logits, target, _ = _problem(seed=4)
    plain, plain_cache = F.softmax_cross_entropy_forward(logits, target)
    ones, ones_cache = F.softmax_cross_entropy_forward(logits, target, weight=np.ones(4))
    assert plain == ones
    np.testing.assert_array_equal(F.softmax_cross_entropy_backward(1.0, plain_cache),
                                  F.softmax_cross_entropy_backward(1.0, ones_cache))


def test_a_weight_scales_a_class_by_hand():
    # Two pixels, one of class 0 and one of class 1, equal logits: each loss is log 2.
    # With weights (1, 3) the mean is (1 log 2 + 3 log 2) / (1 + 3) = log 2 still, but the
    # class-1 pixel now carries 3/4 of the gradient.
    logits = np.zeros((1, 2, 1, 2))
    target = np.array([[[0, 1]]])
    loss, cache = F.softmax_cross_entropy_forward(logits, target, weight=np.array([1.0, 3.0]))
    assert loss == pytest.approx(np.log(2))
    grad = F.softmax_cross_entropy_backward(1.0, cache)
    np.testing.assert_allclose(grad[0, :, 0, 0], [1 / 4 * -0.5, 1 / 4 * 0.5])
    np.testing.assert_allclose(grad[0, :, 0, 1], [3 / 4 * 0.5, 3 / 4 * -0.5])


@pytest.mark.parametrize("weight, message", [
    (np.array([1.0, -1.0]), "finite class weights >= 0"),
    (np.array([1.0, np.nan]), "finite class weights >= 0"),
    (np.ones(3), r"weight must have shape \(C,\) = \(2,\)"),
])
def test_bad_weights_name_the_argument(weight, message):
    with pytest.raises(ValueError, match=message):
        F.softmax_cross_entropy_forward(np.zeros((1, 2, 1, 1)), np.zeros((1, 1, 1), np.int64),
                                        weight=weight)
