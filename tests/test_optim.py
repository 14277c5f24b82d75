"""Optimisers and the poly schedule: by hand, and against torch (float64) when installed."""

import numpy as np
import pytest

from minideeplab.nn import Parameter
from minideeplab.optim import SGD, Adam, PolyLR, poly_lr


def _parameter(values, grad):
    p = Parameter(np.array(values, dtype=np.float64))
    p.grad[...] = grad
    return p


def test_sgd_momentum_by_hand():
    p = _parameter([1.0], [0.5])
    opt = SGD([p], lr=0.1, momentum=0.9, weight_decay=0.0)
    opt.step()                  # v = 0.5, w = 1 - 0.05
    opt.step()                  # v = 0.9*0.5 + 0.5 = 0.95, w = 0.95 - 0.095
    assert p.data[0] == pytest.approx(0.855)


def test_poly_schedule():
    assert poly_lr(0.1, 0, 100) == pytest.approx(0.1)
    assert poly_lr(0.1, 50, 100) == pytest.approx(0.1 * 0.5 ** 0.9)
    assert poly_lr(0.1, 100, 100) == 0.0
    assert poly_lr(0.1, 0, 100, warmup_steps=10) == pytest.approx(0.01)
    p = _parameter([1.0], [0.0])
    scheduler = PolyLR(SGD([p], lr=0.2), total_steps=10)
    assert scheduler.step(5) == pytest.approx(0.2 * 0.5 ** 0.9)


@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-3),
                                  lambda ps: Adam(ps, lr=0.01, weight_decay=1e-3)])
def test_state_dict_resumes_exactly(make):
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(3) for _ in range(6)]
    a = _parameter(np.ones(3), 0)
    opt_a = make([a])
    for g in grads:
        a.grad[...] = g
        opt_a.step()
    b = _parameter(np.ones(3), 0)
    opt_b = make([b])
    for g in grads[:3]:
        b.grad[...] = g
        opt_b.step()
    state = {k: np.array(v) for k, v in opt_b.state_dict().items()}
    c = _parameter(b.data, 0)
    opt_c = make([c])
    opt_c.load_state_dict(state)
    for g in grads[3:]:
        c.grad[...] = g
        opt_c.step()
    np.testing.assert_array_equal(a.data, c.data)


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_matches_torch(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal(4)
    grads = [rng.standard_normal(4) for _ in range(5)]
    ours = _parameter(w0, 0)
    theirs = torch.tensor(w0, requires_grad=True)
    if name == "sgd":
        opt, topt = SGD([ours], 0.1, 0.9, 1e-2), torch.optim.SGD([theirs], 0.1, 0.9,
                                                                 weight_decay=1e-2)
    else:
        opt, topt = Adam([ours], 0.01, weight_decay=1e-2), torch.optim.Adam([theirs], 0.01,
                                                                            weight_decay=1e-2)
    for g in grads:
        ours.grad[...] = g
        opt.step()
        theirs.grad = torch.tensor(g)
        topt.step()
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("kwargs, pattern", [(dict(lr=0), "lr"), (dict(momentum=1.0), "momentum"),
                                             (dict(weight_decay=-1), "weight_decay")])
def test_bad_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        SGD([_parameter([1.0], 0)], **{"lr": 0.1, **kwargs})
    with pytest.raises(ValueError, match="parameters is empty"):
        SGD([], lr=0.1)
