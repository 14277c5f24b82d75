"""The whole model against its PyTorch twin (float64): same logits, same gradients, same state.

``to_torch`` builds the same network in PyTorch and copies the weights; torch's
autograd then differentiates it. Every hand-written backward pass of the model
(fan-out sums in ASPP, concat splits, BatchNorm in training mode, bilinear
resizes to odd sizes) must agree with autograd to ~1e-10 relative, for every
parameter. Skipped when torch is not installed; torch is never a dependency.
"""

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import minideeplab as mdl  # noqa: E402
from minideeplab.interop.torch import TorchDeepLabV3Plus, from_torch, to_torch  # noqa: E402

from .conftest import randomize_batchnorm  # noqa: E402

NUM_CLASSES = 3
# odd sizes: the strided convs round, and every bilinear resize has a non-integer factor
IMAGE_SHAPE = (2, 3, 37, 29)
RTOL = 1e-10

TINY = dict(stem_channels=4, widths=(4, 6, 8, 10), blocks=(1, 1, 1, 2), aspp_channels=6,
            aspp_rates=(1, 2), low_level_channels=3, decoder_channels=5)
CONFIGS = {
    "default": {},
    "os8": dict(output_stride=8),
    "no-decoder": dict(decoder=False),
    "standard-convs": dict(separable=False),
    "tiny-multi-grid-os32": dict(TINY, output_stride=32, multi_grid=(1, 2)),
}


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """These networks are tiny: one thread is fastest, and on a busy machine torch's idle
    workers spinning for a core can make a 10 ms pass take seconds."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def make_model(config, dropout=0.1, seed=0):
    """A float64 model with random BatchNorm parameters and running statistics.

    At initialisation (gamma = 1, beta = 0) many BatchNorm gradients are ~0 in
    training mode; comparing two numbers that are both ~0 tests nothing.
    """
    model = mdl.models.DeepLabV3Plus(NUM_CLASSES, dropout=dropout, seed=seed, **config)
    return randomize_batchnorm(model.astype(np.float64), seed=seed)


def assert_close(ours, theirs, what):
    """Element-wise ``|ours - theirs| <= RTOL * (|theirs| + max|theirs|)``."""
    theirs = np.asarray(theirs)
    scale = max(float(np.abs(theirs).max()), 1e-300)
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=RTOL * scale,
                               err_msg=f"{what} differs from torch")


def run_both(model, twin, x, grad_logits):
    """Forward and backward through both; returns (logits, dx, grads) pairs as numpy."""
    model.zero_grad()
    logits = model(x)
    dx = model.backward(grad_logits)

    x_t = torch.tensor(x, requires_grad=True)
    logits_t = twin(x_t)
    logits_t.backward(torch.from_numpy(grad_logits))
    grads_t = {name: p.grad.numpy() for name, p in twin.named_parameters()}
    return (logits, logits_t.detach().numpy()), (dx, x_t.grad.numpy()), grads_t


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_logits_gradients_and_running_stats_match_torch(backend, name, training):
    # dropout draws different masks in the two libraries: off in training mode
    model = make_model(CONFIGS[name], dropout=0.0 if training else 0.1).train(training)
    twin = to_torch(model)
    assert twin.training == training
    assert all(m.training == training for m in twin.modules())

    rng = np.random.default_rng(1)
    x = rng.standard_normal(IMAGE_SHAPE)
    grad_logits = rng.standard_normal((IMAGE_SHAPE[0], NUM_CLASSES, *IMAGE_SHAPE[2:]))
    (logits, logits_t), (dx, dx_t), grads_t = run_both(model, twin, x, grad_logits)

    assert logits.shape == logits_t.shape == grad_logits.shape
    assert_close(logits, logits_t, "logits")
    assert_close(dx, dx_t, "dL/d(image)")
    named = dict(model.named_parameters())
    assert set(named) == set(grads_t)
    for key, parameter in named.items():
        assert_close(parameter.grad, grads_t[key], f"gradient of {key}")

    # the forward pass moved the running statistics in training mode, in both
    state, state_t = model.state_dict(), twin.state_dict()
    assert list(state) == list(state_t)
    for key in state:
        if key.endswith("num_batches_tracked"):
            assert int(state[key]) == int(state_t[key]) == int(training), key
        else:
            assert_close(state[key], state_t[key].numpy(), key)


def test_batch_norm_running_statistics_after_several_training_steps():
    model = make_model(TINY, dropout=0.0)
    twin = to_torch(model)
    rng = np.random.default_rng(2)
    for step in range(3):
        x = rng.standard_normal((3, 3, 24, 20)) * (step + 1) + step
        model(x)
        twin(torch.from_numpy(x))
    state_t = twin.state_dict()
    for key, value in model.state_dict().items():
        if "running" in key:
            assert_close(value, state_t[key].numpy(), key)
        elif key.endswith("num_batches_tracked"):
            assert int(value) == int(state_t[key]) == 3


def test_eval_at_batch_one_matches_torch():
    model = make_model({}).eval()
    twin = to_torch(model)
    x = np.random.default_rng(3).standard_normal((1, 3, 32, 32))
    assert_close(model(x), twin(torch.from_numpy(x)).detach().numpy(), "logits at batch 1")


def test_twin_has_the_models_keys_dtype_mode_and_settings():
    model = mdl.models.DeepLabV3Plus(5, dropout=0.25)            # float32, training mode
    model.aspp.project[1].momentum = 0.3
    model.backbone.stem[1].eval()                                 # one module in eval mode
    twin = to_torch(model)
    assert isinstance(twin, TorchDeepLabV3Plus)
    assert list(twin.state_dict()) == list(model.state_dict())
    assert "aspp.branches.1.0.depthwise.weight" in twin.state_dict()
    assert "backbone.stem.1.num_batches_tracked" in twin.state_dict()
    assert all(p.dtype == torch.float32 for p in twin.parameters())
    assert twin.training and not twin.backbone.stem[1].training
    assert twin.aspp.project[1].momentum == 0.3 and twin.aspp.project[3].p == 0.25
    # copies, not views: changing the twin leaves the model alone
    with torch.no_grad():
        twin.aspp.project[0].weight.zero_()
    assert np.abs(model.aspp.project[0].weight.data).sum() > 0


def test_round_trip_gives_identical_state_dicts():
    model = make_model(CONFIGS["tiny-multi-grid-os32"])
    back = from_torch(to_torch(model))                  # built from the twin's config
    assert back.config == model.config
    assert back.dtype == np.float64
    state, state_back = model.state_dict(), back.state_dict()
    assert list(state) == list(state_back)
    for key in state:
        assert state_back[key].dtype == state[key].dtype, key
        np.testing.assert_array_equal(state_back[key], state[key], err_msg=key)


def test_from_torch_copies_what_torch_trained():
    model = make_model(TINY, dropout=0.0)
    twin = to_torch(model)
    optimizer = torch.optim.SGD(twin.parameters(), lr=0.1, momentum=0.9)
    x = torch.from_numpy(np.random.default_rng(4).standard_normal((2, 3, 16, 16)))
    twin(x).square().mean().backward()
    optimizer.step()
    twin.eval()
    target = make_model(TINY, seed=1)                   # other weights, same layers
    from_torch(twin, target)
    assert not target.training
    for key, value in twin.state_dict().items():
        np.testing.assert_array_equal(target.state_dict()[key], value.numpy(), err_msg=key)
    assert_close(target(x.numpy()), twin(x).detach().numpy(), "logits after from_torch")


def test_different_layers_are_refused():
    twin = to_torch(mdl.models.DeepLabV3Plus(3, **TINY))
    with pytest.raises(ValueError, match="differ"):
        from_torch(twin, mdl.models.DeepLabV3Plus(3, **dict(TINY, decoder=False)))
    with pytest.raises(ValueError, match="differ"):
        from_torch(twin, mdl.models.DeepLabV3Plus(3, **dict(TINY, output_stride=8)))
    with pytest.raises(TypeError, match="DeepLabV3Plus"):
        to_torch(mdl.nn.Conv2d(3, 3, 1))
    with pytest.raises(TypeError, match="config"):
        from_torch(torch.nn.Conv2d(3, 3, 1))


def _python(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_import_minideeplab_does_not_import_torch():
    result = _python("import sys, minideeplab, minideeplab.interop; "
                     "assert 'torch' not in sys.modules, 'torch was imported'")
    assert result.returncode == 0, result.stderr


def test_missing_torch_gives_a_clear_import_error():
    # sys.modules['torch'] = None makes `import torch` fail as if it were not installed
    result = _python("import sys; sys.modules['torch'] = None\n"
                     "try:\n    import minideeplab.interop.torch\n"
                     "except ImportError as error:\n    print(error)\n")
    assert result.returncode == 0, result.stderr
    assert "pip install torch" in result.stdout
