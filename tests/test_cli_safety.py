"""Nothing lost, nothing silent, on the command line: every refusal is one line that names the
option as the user typed it; Ctrl-C saves, says how to resume and exits 130 without a
traceback; sizes that cannot fit in memory are refused; every benchmark command runs."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import minideeplab.train as train_module
from minideeplab.checkpoint import load_checkpoint
from minideeplab.cli import main

SMALL = ["--image-size", "32", "--n-train", "16", "--n-val", "4", "--n-test", "4",
         "--batch-size", "4", "--eval-every", "2", "--no-progress"]


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDEEPLAB_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny run, trained once for the module (tests get a copy: :func:`run`)."""
    out = tmp_path_factory.mktemp("trained") / "run"
    previous = os.environ.get("MINIDEEPLAB_CACHE_DIR")
    os.environ["MINIDEEPLAB_CACHE_DIR"] = str(out.parent / "cache")
    try:
        assert main(["train", "--out", str(out), "--steps", "2", *SMALL]) == 0
    finally:
        if previous is None:
            del os.environ["MINIDEEPLAB_CACHE_DIR"]
        else:
            os.environ["MINIDEEPLAB_CACHE_DIR"] = previous
    return out


@pytest.fixture
def run(trained, tmp_path, capsys):
    capsys.readouterr()
    return Path(shutil.copytree(trained, tmp_path / "run"))


def _one_line_error(capsys):
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("options, expected", [
    (["--output-stride", "8"], "--output-stride is 8 here but 16 in the checkpoint"),
    (["--no-decoder"], "(--no-decoder) is False here but True in the checkpoint"),
    (["--image-size", "48"], "--image-size is 48 here but 32 in the checkpoint"),
    (["--scale-aug"], "(--scale-aug) is (0.75, 1.25) here but (1.0, 1.0) in the checkpoint"),
])
def test_resume_refuses_changed_options_in_one_line(run, capsys, options, expected):
    before = (run / "model.npz").read_bytes()
    assert main(["train", "--out", str(run), "--resume", *options]) == 2
    err = _one_line_error(capsys)
    assert expected in err and "--steps, --eval-every and --checkpoint-every" in err
    assert (run / "model.npz").read_bytes() == before


def test_resume_takes_the_checkpoints_options_and_says_what_it_resumes(run, capsys):
    # no --image-size 32 or --n-train 16 here: they come from the checkpoint, not the defaults
    assert main(["train", "--out", str(run), "--resume", "--steps", "3", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "resuming" in out and "at step 2 of 3" in out and "32x32" in out
    assert load_checkpoint(run / "model.npz")[2]["step"] == 3


def test_a_trained_run_is_not_overwritten_without_asking(run, capsys):
    before = (run / "model.npz").read_bytes()
    assert main(["train", "--out", str(run), "--steps", "2", *SMALL]) == 2
    err = _one_line_error(capsys)
    assert "already holds a trained model" in err
    assert "--resume" in err and "--overwrite" in err and "--out" in err
    assert (run / "model.npz").read_bytes() == before
    assert main(["train", "--out", str(run), "--steps", "2", "--seed", "1", "--overwrite",
                 *SMALL]) == 0
    assert load_checkpoint(run / "model.npz")[2]["train_config"]["seed"] == 1


def test_out_pointing_at_a_file_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "file.txt").write_text("x")
    assert main(["train", "--out", str(tmp_path / "file.txt"), "--steps", "2", *SMALL]) == 2
    assert "--out" in _one_line_error(capsys)
    assert not (tmp_path / "cache").exists()          # refused before any data was made


@pytest.mark.parametrize("options, expected", [
    (["--n-train", "8", "--batch-size", "16"], "--batch-size 16 is larger than --n-train 8"),
    (["--n-test", "0"], "--n-test must be a positive int, got 0"),
    (["--seed", "-1"], "--seed must be an int >= 0, got -1"),
    (["--steps", "0"], "--steps must be a positive int, got 0"),
])
def test_options_that_cannot_mean_what_they_say(tmp_path, capsys, options, expected):
    values = {"--image-size": "32", "--n-train": "16", "--n-val": "4", "--n-test": "4",
              "--batch-size": "4", "--steps": "2"}
    values.update(zip(options[::2], options[1::2], strict=True))
    argv = [item for option_and_value in values.items() for item in option_and_value]
    assert main(["train", "--out", str(tmp_path / "x"), *argv, "--no-progress"]) == 2
    assert expected in _one_line_error(capsys)


def test_ctrl_c_in_process_exits_130_and_says_how_to_resume(tmp_path, capsys, monkeypatch):
    calls = [0]
    next_batch = train_module._Batches.next

    def press_ctrl_c_at_step_3(self):
        calls[0] += 1
        if calls[0] == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return next_batch(self)

    monkeypatch.setattr(train_module._Batches, "next", press_ctrl_c_at_step_3)
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--steps", "10", *SMALL]) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err and "interrupted" in err
    assert f"minideeplab train --out {out} --resume" in err
    assert load_checkpoint(out / "model.npz")[2]["step"] == 3


@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT")
def test_ctrl_c_of_a_real_process(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "MINIDEEPLAB_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    process = subprocess.Popen(
        [sys.executable, "-m", "minideeplab", "train", "--out", str(out), "--steps", "100000",
         "--checkpoint-every", "2", *SMALL[:-3], "--eval-every", "100000", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while not (out / "model.npz").exists():          # training has begun
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "--resume" in stderr
    step = load_checkpoint(out / "model.npz")[2]["step"]
    assert step >= 2 and f"step {step}" in stderr
    assert not list(out.glob(".*.tmp"))


@pytest.mark.parametrize("command", [["summary"], ["receptive-field", "--plot", "rf.png"]])
def test_an_image_size_that_cannot_fit_in_memory_is_refused(command, tmp_path, capsys,
                                                            monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([*command, "--size", "100000"]) == 2
    err = _one_line_error(capsys)
    assert "--size 100000" in err and "GiB" in err and not list(tmp_path.glob("*.png"))


def test_size_must_be_positive(capsys):
    assert main(["summary", "--size", "0"]) == 2
    assert "--size must be a positive int, got 0" in _one_line_error(capsys)


def test_an_unknown_benchmark_is_one_line_naming_the_choices(capsys):
    assert main(["bench", "nosuch"]) == 2
    err = _one_line_error(capsys)
    assert "nosuch" in err and "conv" in err and "model" in err and "performance" in err
