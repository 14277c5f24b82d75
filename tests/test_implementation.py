"""The student backend: use_implementation reroutes every layer to a learner's functions (both
backends), restores the library's on exit and on error, and the real model then trains with them:
correct code gives the library's losses, a bug from the zoo does not."""

import ast
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import minideeplab as mdl
from minideeplab import functional as F
from minideeplab.implementation import SWAPPABLE
from minideeplab.models import DeepLabV3Plus
from minideeplab.train import TrainConfig, train

PACKAGE = Path(mdl.__file__).parent
SOLUTIONS = PACKAGE.parent / "notebooks" / "exercises" / "solutions"
SMALL = mdl.exercises.finale.SMALL_MODEL


def load_solutions(stem):
    """A reference-solutions file of the exercise notebooks, as a module."""
    spec = importlib.util.spec_from_file_location(f"solutions_{stem}", SOLUTIONS / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_unknown_op_is_a_clear_value_error_listing_the_names():
    with pytest.raises(ValueError, match=r"unknown op name\(s\) conv3d_forward.*"
                                         r"conv2d_forward, conv2d_backward.*aspp_backward"):
        with mdl.use_implementation(conv3d_forward=lambda: None):
            pass
    with pytest.raises(TypeError, match="relu_backward must be a function"):
        with mdl.use_implementation(relu_backward="max(0, x)"):
            pass


def test_restores_the_library_on_exit_on_error_and_when_nested():
    library = {name: getattr(F, name) for name in SWAPPABLE}

    def mine(dout, cache):
        return dout

    def inner(dout, cache):
        return dout

    with pytest.raises(RuntimeError, match="the learner's code failed"):
        with mdl.use_implementation(relu_backward=mine):
            assert F.relu_backward is mine
            with mdl.use_implementation(relu_backward=inner):
                assert F.relu_backward is inner
            assert F.relu_backward is mine
            raise RuntimeError("the learner's code failed")
    assert {name: getattr(F, name) for name in SWAPPABLE} == library


def test_no_module_bypasses_the_swappable_names():
    """A direct ``from ..functional.conv import conv2d_forward`` would skip the learner's code."""
    offences = []
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).parts
        # functional defines the ops; the exercises hold the library's own on purpose (the
        # checker's expected values, the zoo's correct halves)
        if parts[0] in ("functional", "exercises"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and "functional" in node.module:
                names = {alias.name for alias in node.names} & set(SWAPPABLE)
                if names:
                    offences.append(f"{path.relative_to(PACKAGE)}: {sorted(names)}")
    assert not offences, offences


def _spies(calls):
    def spy(name):
        library = getattr(F, name)

        def wrapper(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return library(*args, **kwargs)
        return wrapper
    return {name: spy(name) for name in SWAPPABLE}


def test_every_layer_calls_the_installed_functions(backend):
    model = DeepLabV3Plus(3, **SMALL, seed=0)
    images = np.random.default_rng(0).random((2, 3, 32, 32)).astype(np.float32)
    masks = np.random.default_rng(1).integers(0, 3, (2, 32, 32))
    calls = {}
    with mdl.use_implementation(**_spies(calls)):
        logits = model(images)
        loss, cache = F.softmax_cross_entropy_forward(logits, masks)
        model.backward(F.softmax_cross_entropy_backward(1.0, cache))
    used = {name for name in SWAPPABLE if name not in ("dropout_forward", "dropout_backward")}
    assert set(calls) >= used, f"never called: {sorted(used - set(calls))}"
    assert calls["aspp_backward"] == 1 and calls["conv2d_backward"] == calls["conv2d_forward"]


def test_train_runs_the_learners_functions_and_gives_the_library_losses():
    config = TrainConfig(image_size=32, n_train=16, n_val=8, n_test=8, steps=3, batch_size=4,
                         eval_every=3, checkpoint_every=100, warmup_steps=1, model=SMALL)
    with mdl.use_backend("numpy"):
        library = train(config, progress=False)["history"]["loss"]
        calls = {}
        with mdl.use_implementation(**_spies(calls)):
            yours = train(config, progress=False)["history"]["loss"]
    assert calls["conv2d_backward"] > 0 and calls["batch_norm2d_forward"] > 0
    assert yours == library          # the spies call the library: the very same numbers


def _learner_ops():
    ops = {}
    for stem in ("01_atrous_convolution", "03_batchnorm_relu", "04_resize_and_loss",
                 "05_aspp_decoder"):
        module = load_solutions(stem)
        ops.update({name: getattr(module, name) for name in SWAPPABLE if hasattr(module, name)})
    return ops


def test_the_learners_code_reaches_the_library_losses_in_float64():
    ops = _learner_ops()
    # every op an exercise asks for: 11 forward and backward passes
    assert set(ops) == {name for name in mdl.exercises.list()
                        if mdl.exercises.registry.get(name).swappable}
    assert len(ops) == 11
    curves = mdl.exercises.compare_training(ops, steps=4, n_train=16)
    assert curves["installed"] == list(ops)
    np.testing.assert_allclose(curves["yours"], curves["library"], rtol=0, atol=1e-6)
    assert curves["agree"] and "the same curve" in curves["summary"]


@pytest.mark.parametrize("name", ["aspp_backward_overwrite", "conv2d_backward_no_flip",
                                  "batch_norm2d_backward_no_mean_terms"])
def test_a_bug_from_the_zoo_visibly_does_not(name):
    bug = mdl.exercises.bugs[name]
    curves = mdl.exercises.compare_training({bug.exercise: bug}, steps=4, n_train=16)
    gaps = np.abs(np.subtract(curves["yours"], curves["library"]))
    assert gaps[0] == 0 and gaps[1] > 1e-3        # the first step's loss comes before any update
    assert not curves["agree"] and "a different curve" in curves["summary"]


def test_a_learners_exception_ends_the_run_with_a_message():
    def broken(dout, cache):
        raise ValueError("not yet")

    curves = mdl.exercises.compare_training({"relu_backward": broken}, steps=2, n_train=16)
    assert not curves["agree"]
    assert "stopped: ValueError: not yet" in curves["summary"]


def test_gradcheck_inside_use_implementation_checks_the_installed_function():
    layer = mdl.nn.Conv2d(2, 3, 3, padding=2, dilation=2, rng=np.random.default_rng(0))
    layer.astype(np.float64)
    x = np.random.default_rng(1).standard_normal((1, 2, 6, 6))
    with mdl.use_implementation(conv2d_backward=load_solutions(
            "01_atrous_convolution").conv2d_backward):
        assert max(mdl.gradcheck(layer, x).values()) < 1e-6
    with mdl.use_implementation(conv2d_backward=mdl.exercises.bugs[
            "conv2d_backward_dilation_only_in_dw"]):
        errors = mdl.gradcheck(layer, x)
    assert errors["input"] > 1e-2 and errors["weight"] < 1e-6


def test_receptive_field_walk_with_a_learners_step():
    module = load_solutions("06_receptive_fields")
    model = DeepLabV3Plus(3, **SMALL)
    walk = mdl.exercises.compare_receptive_fields(module.conv_step, model)
    assert walk["agree"] and "at all" in walk["summary"]
    buggy = mdl.exercises.compare_receptive_fields(mdl.exercises.bugs["conv_step_forgets_jump"],
                                                   model)
    assert not buggy["agree"] and "layers differ" in buggy["summary"]
    assert mdl.receptive_field.receptive_field(model) == walk["library"]   # restored
