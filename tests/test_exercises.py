"""The exercises' checker has teeth: it accepts every reference, rejects every bug of the zoo and
says why, reports (never raises) whatever a learner's function does wrong, and refuses bad input."""

import dataclasses

import numpy as np
import pytest

import minideeplab as mdl
from minideeplab import functional as F
from minideeplab.exercises import registry
from minideeplab.exercises.describe import cache_fields, task_text
from minideeplab.exercises.diagnose import array_findings
from minideeplab.exercises.hints import HINTS

EXERCISES = mdl.exercises.list()

#: For every bug of the zoo, words that the first line of its report must contain: the cause.
BUG_WORDS = {
    "conv2d_backward_no_flip": ["dx is wrong", "kernel not flipped", "larger than 1x1"],
    "conv2d_backward_stride_forgotten": ["dx is wrong", "exactly in the cases with stride > 1"],
    "conv2d_backward_dilation_only_in_dw": ["dx is wrong", "cases with dilation > 1"],
    "conv2d_backward_db_mean": ["db is wrong", "batch > 1", "factor 0.5", "1 / N"],
    "conv2d_backward_dw_transposed": ["dw is wrong", "channels transposed"],
    "conv2d_forward_groups_mix": ["out is wrong", "groups > 1 and several output channels"],
    "conv2d_forward_dilated_offset": ["out is wrong", "dilation > 1", "shifted by (-1, -1)"],
    "conv_output_size_no_dilation": ["dilation ignored", "dilation > 1"],
    "batch_norm2d_backward_no_mean_terms": ["dx is wrong", "eval formula in training",
                                            "training mode"],
    "batch_norm2d_backward_dgamma_mean": ["dx, dgamma are wrong",
                                          "dgamma", "factor 0.125 (= 1 / M"],
    "batch_norm2d_forward_running_stats_in_training": ["out", "running statistics in training",
                                                       "training mode"],
    "relu_backward_mask_from_dout": ["dx is wrong", "relu of dout"],
    "global_avg_pool2d_backward_no_division": ["dx is wrong", "H*W > 1", "factor 9 (= H*W)"],
    "bilinear_resize_backward_align_corners_ignored": ["align_corners swapped",
                                                       "align_corners=True"],
    "bilinear_resize_backward_fancy_add": ["repeated indices added once", "upsampling"],
    "softmax_cross_entropy_backward_mean_over_all": ["dlogits is wrong", "some pixels ignored",
                                                     "valid pixels / all pixels"],
    "concat_backward_sizes_as_offsets": ["dx[1] has shape", "3 or more inputs"],
    "aspp_backward_overwrite": ["dx is wrong", "only one branch", "several branches"],
    "conv_step_forgets_jump": ["size is wrong", "jump forgotten", "incoming jump"],
}


def test_the_exercises_the_issue_asks_for():
    assert set(EXERCISES) >= {
        "conv2d_forward", "conv2d_backward", "batch_norm2d_forward", "batch_norm2d_backward",
        "relu_backward", "global_avg_pool2d_backward", "bilinear_resize_forward",
        "bilinear_resize_backward", "softmax_cross_entropy_backward", "concat_backward",
        "aspp_backward", "conv_step", "conv_output_size"}


@pytest.mark.parametrize("name", EXERCISES)
def test_check_accepts_the_library_reference(name):
    exercise = registry.get(name)
    reference = exercise.build(exercise.ladder[0].params, seed=1).reference
    report = mdl.exercises.check(name, reference)
    assert report.passed, str(report)
    assert str(report).startswith(f"{name}: passed all {len(exercise.ladder)} cases")


def test_the_zoo_has_a_dozen_bugs_each_with_its_story():
    bugs = mdl.exercises.bugs
    assert len(bugs) >= 12
    assert set(bugs) == set(BUG_WORDS), "every bug needs its expected words in BUG_WORDS"
    for name, bug in bugs.items():
        assert bug.name == name and bug.exercise in EXERCISES
        assert len(bug.explanation) > 80
        assert "explanation" in repr(bug) and bug.explanation not in repr(bug)


@pytest.mark.parametrize("name", sorted(BUG_WORDS))
def test_check_rejects_every_bug_and_points_at_its_cause(name):
    bug = mdl.exercises.bugs[name]
    report = mdl.exercises.check(bug.exercise, bug)
    assert not report.passed and report.implemented
    first_line = str(report).splitlines()[0]
    assert first_line.startswith(f"{bug.exercise}: FAILED")
    for words in BUG_WORDS[name]:
        assert words in first_line, first_line
    text = str(report)
    assert "first failing case" in text and "hint:" in text and "geometry:" in text


def test_report_shows_the_ladder_worst_element_and_gradcheck():
    bug = mdl.exercises.bugs["conv2d_backward_dilation_only_in_dw"]
    text = str(mdl.exercises.check("conv2d_backward", bug))
    assert "ladder (simplest first):" in text
    assert "   1 ok   1x1 kernel, one channel" in text
    assert "   6 FAIL dilation 2 (atrous)" in text
    assert "worst element: dx[" in text and "expected" in text and "got" in text
    assert "gradient check (random upstream gradient, float64): relative error" in text
    assert "fails" in text.split("gradient check")[1].splitlines()[0]
    assert "outputs: dx WRONG" in text and "dw ok" in text


# ------------------------------------------------------- what a learner gets wrong

def _conv_backward_raising(dout, cache):
    raise IndexError("index 7 is out of bounds")


def test_an_exception_is_reported_with_the_learners_line():
    report = mdl.exercises.check("conv2d_backward", _conv_backward_raising)
    assert not report.passed
    text = str(report)
    assert "raised IndexError: index 7 is out of bounds" in text
    assert 'raise IndexError("index 7 is out of bounds")' in text      # the learner's line


def test_wrong_shape_dtype_form_and_nan_are_reported():
    def wrong_shape(dout, cache):
        return dout[:, :, :1]

    def float64_always(dout, cache):
        return np.where(cache.positive, dout, 0).astype(np.float64)

    def no_cache(x, size, align_corners=False):
        return F.bilinear_resize_forward(x, size, align_corners)[0]

    def nan(dloss, cache):
        return cache.probs * np.nan

    shape = mdl.exercises.check("relu_backward", wrong_shape)
    assert "dx has shape" in shape.headline() and "expected" in shape.headline()
    dtype = mdl.exercises.check("relu_backward", float64_always)
    assert [c.passed for c in dtype.cases] == [True] * 4 + [False]          # only float32 fails
    assert "dtype float64, expected float32" in dtype.headline()
    assert "exactly in the cases with float32" in dtype.headline()
    form = mdl.exercises.check("bilinear_resize_forward", no_cache)
    assert "must return 2 values (out, cache)" in form.headline()
    assert "NaN" in mdl.exercises.check("softmax_cross_entropy_backward", nan).headline()


def test_a_cache_the_library_cannot_use_is_reported():
    def tuple_cache(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
        out, cache = F.batch_norm2d_forward(x, gamma, beta, running_mean, running_var, training,
                                            momentum, eps)
        return out, (cache.x_hat, cache.inv_std)

    report = mdl.exercises.check("batch_norm2d_forward", tuple_cache)
    assert "could not use the cache" in report.headline()
    assert "BatchNorm2dCache" in report.headline()


def test_not_implemented_yet():
    def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
        raise NotImplementedError

    report = mdl.exercises.check("conv2d_forward", conv2d_forward)
    assert not report.passed and not report.implemented
    assert str(report).startswith("conv2d_forward: not implemented yet")
    assert len(report.cases) == 1                       # the ladder stops at once


# ------------------------------------------------------------------- bad input

def test_unknown_exercise_lists_the_names():
    with pytest.raises(ValueError, match="unknown exercise 'conv3d'.*conv2d_forward.*conv_step"):
        mdl.exercises.check("conv3d", lambda: None)
    with pytest.raises(ValueError, match="the exercises are"):
        mdl.exercises.show("relu")


def test_not_callable_and_wrong_signature_are_clear_errors():
    with pytest.raises(TypeError, match="fn must be a function, got int"):
        mdl.exercises.check("relu_backward", 3)

    def relu_backward(dout):
        return dout

    with pytest.raises(TypeError, match=r"relu_backward\(dout\) cannot be called.*"
                                        r"expected def relu_backward\(dout, cache\)"):
        mdl.exercises.check("relu_backward", relu_backward)


# --------------------------------------------------------- inside the student backend

def _reference(name):
    exercise = registry.get(name)
    return exercise.build(exercise.ladder[0].params, seed=1).reference


def test_check_tells_the_truth_inside_use_implementation():
    bug = mdl.exercises.bugs["conv2d_backward_no_flip"]

    def broken_forward(*args, **kwargs):
        raise AssertionError("the checker must not use the installed forward")

    with mdl.use_implementation(conv2d_backward=bug, conv2d_forward=broken_forward,
                                concat_backward=mdl.exercises.bugs[
                                    "concat_backward_sizes_as_offsets"]):
        assert mdl.exercises.check("conv2d_backward", _reference("conv2d_backward")).passed
        assert not mdl.exercises.check("conv2d_backward", bug).passed
        # ASPP's real block and the reference's split run with the library's ops
        assert mdl.exercises.check("aspp_backward", _reference("aspp_backward")).passed


# ------------------------------------------------------------------ show, hints

@pytest.mark.parametrize("name", EXERCISES)
def test_show_prints_signature_task_and_every_cache_field(name, capsys):
    mdl.exercises.show(name)
    text = capsys.readouterr().out
    exercise = registry.get(name)
    assert f"def {exercise.signature}" in text
    assert "Task:" in text and "Shapes:" in text
    if exercise.cache is not None:
        for field in dataclasses.fields(exercise.cache):
            assert f".{field.name} " in text
    assert text.strip() == task_text(name)


def test_cache_fields_come_from_the_dataclass_with_its_comments():
    @dataclasses.dataclass
    class Example:
        alpha: int          # the first
        beta: str

    assert cache_fields(Example) == [("alpha", "int", "the first"), ("beta", "str", "")]


@pytest.mark.parametrize("name", EXERCISES)
def test_every_classic_mistake_the_checker_knows_has_a_hint(name):
    exercise = registry.get(name)
    assert HINTS[name].get("default"), name
    for number, case in enumerate(exercise.ladder, start=1):
        trial = exercise.build(case.params, seed=1000 + number)
        if trial.suspects is None:
            continue
        for suspect in trial.suspects(trial.make_args()[0]):
            assert suspect.key in HINTS[name], (name, suspect.key)


# ---------------------------------------------------------------- array patterns

def _pattern(expected, actual, context=None):
    return [f.key for f in array_findings("dx", expected, actual, context or {})]


def test_array_patterns_a_learner_can_act_on():
    rng = np.random.default_rng(0)
    e = rng.standard_normal((2, 3, 5, 6))
    findings = array_findings("dx", e, e / 4, {"H*W": 4})
    assert findings[0].key == "factor" and "(= 1 / H*W)" in findings[0].text
    assert _pattern(e, -e) == ["sign"]
    assert _pattern(e, e[..., ::-1, ::-1].copy()) == ["flipped"]
    w = rng.standard_normal((3, 3, 2, 2))
    assert _pattern(w, w.transpose(1, 0, 2, 3).copy()) == ["transposed"]
    shifted = np.zeros_like(e)
    shifted[..., 1:, :] = e[..., :-1, :]
    assert _pattern(e, shifted) == ["shifted"]
    border = e.copy()
    border[..., 0, :] += 1.0
    assert _pattern(e, border) == ["border"]
    assert _pattern(e, np.zeros_like(e)) == ["zero"]
    assert _pattern(e, e + rng.standard_normal(e.shape)) == []


def test_import_minideeplab_does_not_load_the_exercises():
    """They load on first use of mdl.exercises, so the start-up time does not grow."""
    import subprocess
    import sys

    code = ("import sys, minideeplab as mdl; a = 'minideeplab.exercises' in sys.modules; "
            "mdl.exercises.list(); print(a, 'minideeplab.exercises' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
