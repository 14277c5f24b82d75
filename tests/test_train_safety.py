"""Nothing lost, nothing silent, in the training loop: resume refuses changed options and says
what it resumes, a trained run is never overwritten by accident, the run folder is checked
before any work, Ctrl-C saves whole steps, a divergence names the checkpoint that exists, stale
temporary files are cleaned, and options that cannot mean what they say are refused."""

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

import minideeplab as mdl
import minideeplab.train as train_module
from minideeplab.checkpoint import load_checkpoint
from minideeplab.train import (
    OptionError,
    TrainingDiverged,
    TrainingInterrupted,
    train,
)

from .tiny_training import TINY_MODEL, cache_in_tmp, tiny_config  # noqa: F401


def _config(**overrides):
    return tiny_config(**{**dict(n_train=16, n_val=8, n_test=8, steps=4, batch_size=4,
                                  eval_every=4, checkpoint_every=2), **overrides})


def _quiet(*args):
    pass


# ------------------------------------------------------------------ resume

@pytest.fixture
def finished_run(tmp_path):
    out = tmp_path / "run"
    train(_config(), out_dir=out, progress=False, log=_quiet)
    return out


@pytest.mark.parametrize("overrides, option, saved, given", [
    (dict(model={**TINY_MODEL, "output_stride": 8}), "output_stride", "16", "8"),
    (dict(model={**TINY_MODEL, "decoder": False}), "decoder", "True", "False"),
    (dict(image_size=48), "image_size", "32", "48"),
    (dict(batch_size=2), "batch_size", "4", "2"),
    (dict(seed=3), "seed", "0", "3"),
])
def test_resume_refuses_an_option_that_changes_the_model_or_the_data(
        finished_run, overrides, option, saved, given):
    before = (finished_run / "model.npz").read_bytes()
    with pytest.raises(OptionError) as error:
        train(_config(steps=6, **overrides), out_dir=finished_run, resume=True, progress=False,
              log=_quiet)
    message = str(error.value)
    assert option in message and f"{given} here but {saved} in the checkpoint" in message
    assert "\n" not in message                     # one line, not a list of missing keys
    assert (finished_run / "model.npz").read_bytes() == before


def test_resume_may_change_steps_and_intervals_and_says_what_it_resumes(finished_run):
    lines = []
    result = train(_config(steps=6, eval_every=3, checkpoint_every=3), out_dir=finished_run,
                   resume=True, progress=False, log=lines.append)
    assert result["steps"] == 6 and result["history"]["step"] == [1, 2, 3, 4, 5, 6]
    said = "\n".join(lines)
    assert "resuming" in said and "at step 4 of 6" in said
    assert "steps 4 -> 6" in said and "eval_every 4 -> 3" in said
    assert load_checkpoint(finished_run / "model.npz")[2]["train_config"]["steps"] == 6


def test_resume_cannot_go_back_before_the_steps_done(finished_run):
    with pytest.raises(OptionError, match="steps 2 is fewer than the 4 steps already done"):
        train(_config(steps=2), out_dir=finished_run, resume=True, progress=False, log=_quiet)


def test_resume_without_a_checkpoint_says_so(tmp_path):
    with pytest.raises(OptionError, match="no checkpoint .*model.npz to continue"):
        train(_config(), out_dir=tmp_path / "empty", resume=True, progress=False, log=_quiet)
    assert not (tmp_path / "empty").exists()          # refused before anything is created


# ------------------------------------------------------------ the run folder

def test_a_trained_run_is_not_overwritten_without_asking(finished_run):
    before = (finished_run / "model.npz").read_bytes()
    with pytest.raises(OptionError) as error:
        train(_config(seed=1), out_dir=finished_run, progress=False, log=_quiet)
    message = str(error.value)
    assert "already holds a trained model" in message and "step 4 of 4" in message
    assert "resume=True" in message and "overwrite=True" in message
    assert (finished_run / "model.npz").read_bytes() == before
    # asked explicitly: the old run is replaced
    train(_config(seed=1), out_dir=finished_run, overwrite=True, progress=False, log=_quiet)
    assert (finished_run / "model.npz").read_bytes() != before
    assert load_checkpoint(finished_run / "model.npz")[2]["train_config"]["seed"] == 1


def test_resume_and_overwrite_contradict(finished_run):
    with pytest.raises(OptionError, match="resume=True and overwrite=True"):
        train(_config(), out_dir=finished_run, resume=True, overwrite=True, progress=False)


def test_an_out_dir_that_is_a_file_is_refused_before_any_work(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("not a folder")

    def no_data(*args, **kwargs):
        raise AssertionError("the data was loaded before the run folder was checked")

    monkeypatch.setattr(mdl.datasets, "load_dataset", no_data)
    with pytest.raises(OptionError, match="is a file, not a folder"):
        train(_config(), out_dir=tmp_path / "file", progress=False)
    with pytest.raises(OptionError, match="cannot create the folder"):
        train(_config(), out_dir=tmp_path / "file" / "run", progress=False)


def test_an_out_dir_that_cannot_be_written_is_refused_before_any_work(tmp_path, monkeypatch):
    import minideeplab.run_folder as run_folder

    def read_only(*args, **kwargs):         # what a folder without write permission does
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(run_folder.tempfile, "TemporaryFile", read_only)
    with pytest.raises(OptionError, match="cannot write into the folder .Permission denied"):
        train(_config(), out_dir=tmp_path / "locked", progress=False)


def test_stale_temporary_files_of_a_killed_save_are_removed_at_the_next_start(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    stale = []
    for name in ("model.npz", "metrics.json"):     # named as fileio.atomic_write names them
        handle, path = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out)
        os.write(handle, b"half a file")
        os.close(handle)
        stale.append(Path(path))
    keep = out / "notes.tmp"
    keep.write_text("the user's own file")
    lines = []
    train(_config(steps=2), out_dir=out, progress=False, log=lines.append)
    assert not any(path.exists() for path in stale) and keep.exists()
    assert any("removed 2 stale temporary files" in line for line in lines)


# ----------------------------------------------------------------- divergence

def _poison_at(at_step):
    def poison(step, loss, model):
        if step == at_step:
            model.parameters()[0].data[...] = np.nan
    return poison


def test_divergence_names_the_checkpoint_that_exists(tmp_path):
    with pytest.raises(TrainingDiverged) as error:
        train(_config(steps=8), out_dir=tmp_path / "run", progress=False, callback=_poison_at(2))
    message = str(error.value)
    assert "loss became nan at step 3" in message
    assert f"{tmp_path / 'run' / 'model.npz'} (step 2)" in message


def test_divergence_before_any_checkpoint_says_there_is_none(tmp_path):
    with pytest.raises(TrainingDiverged) as error:
        train(_config(steps=8, checkpoint_every=4), out_dir=tmp_path / "run", progress=False,
              callback=_poison_at(1))
    message = str(error.value)
    assert "No checkpoint was written (the first was due at step 4)" in message
    assert "model.npz" not in message
    assert not (tmp_path / "run" / "model.npz").exists()


# ------------------------------------------------------------------ Ctrl-C

def test_ctrl_c_saves_the_current_step_and_resume_continues_exactly(tmp_path):
    handler_before = signal.getsignal(signal.SIGINT)
    uninterrupted = train(_config(steps=6, checkpoint_every=100), out_dir=tmp_path / "a",
                          progress=False, log=_quiet)

    def press_ctrl_c(step, loss, model):
        if step == 3:                      # no checkpoint interval has passed yet
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(TrainingInterrupted) as interrupted:
        train(_config(steps=6, checkpoint_every=100), out_dir=tmp_path / "b", progress=False,
              log=_quiet, callback=press_ctrl_c)
    assert isinstance(interrupted.value, KeyboardInterrupt)
    assert interrupted.value.step == 3
    assert interrupted.value.checkpoint == tmp_path / "b" / "model.npz"
    assert load_checkpoint(tmp_path / "b" / "model.npz")[2]["step"] == 3
    assert "saved" in str(interrupted.value) and "step 3" in str(interrupted.value)
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["model.npz"]
    resumed = train(_config(steps=6, checkpoint_every=100), out_dir=tmp_path / "b", resume=True,
                    progress=False, log=_quiet)
    assert resumed["history"]["loss"] == uninterrupted["history"]["loss"]
    assert signal.getsignal(signal.SIGINT) is handler_before      # the handler is restored


def test_ctrl_c_without_a_run_folder_stops_cleanly():
    def press_ctrl_c(step, loss, model):
        os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(TrainingInterrupted, match="nothing saved") as interrupted:
        train(_config(), progress=False, log=_quiet, callback=press_ctrl_c)
    assert interrupted.value.checkpoint is None and interrupted.value.step == 1


# ------------------------------------------------- options that cannot mean what they say

@pytest.mark.parametrize("overrides, pattern", [
    (dict(n_train=8, batch_size=16), "batch_size 16 is larger than n_train 8"),
    (dict(n_test=0), "n_test must be a positive int, got 0"),
    (dict(seed=-1), "seed must be an int >= 0, got -1"),
])
def test_options_that_cannot_mean_what_they_say_are_refused(overrides, pattern):
    with pytest.raises(OptionError, match=pattern):
        _config(**overrides)


def test_an_option_error_names_options_in_the_callers_words():
    with pytest.raises(OptionError) as error:
        _config(n_train=8, batch_size=16)
    assert error.value.in_terms({"batch_size": "--batch-size", "n_train": "--n-train"}) \
        .startswith("--batch-size 16 is larger than --n-train 8")


# ----------------------------------------------------- speed and progress, said honestly

def test_images_per_second_leave_out_the_first_step(monkeypatch):
    now = [0.0]
    first = [True]
    forward = train_module.F.softmax_cross_entropy_forward

    def slow_first_loss(*args, **kwargs):
        now[0] += 100.0 if first[0] else 1.0      # the first step "compiles" for 100 s
        first[0] = False
        return forward(*args, **kwargs)

    monkeypatch.setattr(train_module, "_clock", lambda: now[0])
    monkeypatch.setattr(train_module.F, "softmax_cross_entropy_forward", slow_first_loss)
    result = train(_config(steps=5, batch_size=4), progress=False, log=_quiet)
    assert result["images_per_second"] == pytest.approx(4.0)     # 4 images per 1 s step
    assert result["first_step_seconds"] == pytest.approx(100.0)


@pytest.mark.parametrize("cold", [True, False])
def test_a_cold_kernel_cache_is_announced(monkeypatch, cold):
    monkeypatch.setattr(train_module, "kernel_cache_is_cold", lambda: cold)
    lines = []
    with mdl.use_backend("numba" if mdl.backend.numba_available() else "numpy"):
        train(_config(steps=1), progress=False, log=lines.append)
    announced = any("compiling the kernels, once" in line for line in lines)
    assert announced == (cold and mdl.backend.numba_available())


@pytest.mark.skipif(not mdl.backend.numba_available(), reason="numba not installed")
def test_the_kernel_cache_check_tells_cold_from_warm(tmp_path):
    with mdl.use_backend("numba"):          # warm: every kernel training uses is cached now
        train(_config(steps=1), progress=False, log=_quiet)
    assert train_module.kernel_cache_is_cold() is False
    code = "from minideeplab.train import kernel_cache_is_cold; print(kernel_cache_is_cold())"
    cold = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "empty")},
                          check=True)
    assert cold.stdout.strip() == "True"


@pytest.mark.skipif(os.name != "posix", reason="needs a pseudo-terminal")
def test_the_progress_bar_shows_progress_when_the_terminal_reports_zero_columns():
    import fcntl
    import pty
    import struct
    import termios

    code = textwrap.dedent("""
        from minideeplab.run_status import progress_bar
        bar = progress_bar(True, 0, 3)
        for step in range(3):
            bar.update(1)
        bar.close()
    """)
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 0, 0, 0, 0))  # 0 rows, 0 cols
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
    process = subprocess.Popen([sys.executable, "-c", code], stdin=terminal, stdout=terminal,
                               stderr=terminal, env=env)
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:                    # the terminal closed: the child has finished
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    assert process.wait() == 0, output
    assert b"3/3" in output, output


def test_the_progress_bar_starts_after_the_first_step(monkeypatch, finished_run):
    """The first step compiles the kernels (seconds); counted in the bar's rate, it made the
    first estimate of the time left hours long. The bar appears after it, at step 1 (or at
    the resumed step + 1), and counts the other steps one by one."""
    made = []

    class Bar:
        def __init__(self, initial, total):
            self.initial, self.n, self.total, self.closed = initial, initial, total, False
            made.append(self)

        def update(self, k):
            self.n += k

        def set_postfix(self, **_):
            pass

        def close(self):
            self.closed = True

    def progress(enabled, initial, total):
        assert enabled
        return Bar(initial, total)

    monkeypatch.setattr(train_module, "_progress", progress)
    train(_config(steps=4), progress=True, log=_quiet)
    (bar,) = made
    assert (bar.initial, bar.n, bar.total, bar.closed) == (1, 4, 4, True)
    made.clear()
    train(_config(steps=6), out_dir=finished_run, resume=True, progress=True, log=_quiet)
    (bar,) = made
    assert (bar.initial, bar.n, bar.total) == (5, 6, 6)


def test_generated_data_says_where_it_comes_from(tmp_path):
    """The first run generates the shapes and caches them (hundreds of MB at the default
    size): the log says so, and where; a later run says it reads the cache."""
    lines = []
    config = _config(steps=1)
    train(config, progress=False, log=lines.append)
    said = [line for line in lines if line.startswith("data: ")]
    assert said and "16 train, 8 val, 8 test images of 32x32" in said[0], lines
    assert "generating 3 of the 3 splits from their seeds" in said[0]
    assert str(tmp_path / "cache") in said[0]
    lines.clear()
    train(config, progress=False, log=lines.append)
    assert any(line.startswith("data: ") and "read from the cache in" in line for line in lines)
