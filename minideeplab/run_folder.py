"""A training run's folder: checked before any work, resumed only as it was, saved whole on Ctrl-C.

A run folder holds one checkpoint, ``model.npz``, and ``metrics.json``. The training loop
(:func:`minideeplab.train.train`) calls these guards so that a run loses nothing and keeps
nothing silent:

* :func:`prepare_run_folder`, before the data is loaded: the folder must be a folder that can
  be written; a trained model in it is continued (``resume``) or replaced (``overwrite``)
  only when asked; temporary files of a save that was killed are removed;
* :func:`check_resume`: a resumed run may change only :data:`RESUMABLE` options; any other
  difference would change the model or the data, and is refused in one line that names
  every such option with both values; :func:`describe_resume` says what is resumed;
* :class:`CtrlCAfterTheStep`: Ctrl-C lets the step in progress finish, so the checkpoint
  written then holds whole steps and resumes exactly; :func:`interrupted` and
  :func:`diverged_message` say which checkpoint exists, or that none does.

Errors are :class:`~minideeplab.errors.OptionError`: their messages name options as
template fields (``{resume}``), which the library shows as ``resume=True`` and the command
line as ``--resume``.
"""

from __future__ import annotations

import re
import signal
import tempfile
import threading
from pathlib import Path

from .checkpoint import CheckpointError, load_checkpoint
from .errors import OptionError

__all__ = ["CHECKPOINT_NAME", "RESUMABLE", "TrainingInterrupted", "prepare_run_folder",
           "remove_stale_temporaries", "check_resume", "describe_resume", "diverged_message",
           "interrupted", "CtrlCAfterTheStep"]

#: The checkpoint of a run folder.
CHECKPOINT_NAME = "model.npz"

#: The options a resumed run may change; every other one would change the model or the data.
RESUMABLE = ("steps", "eval_every", "checkpoint_every")

#: How the library names the choices about a run folder (the command line says --resume, ...).
LIBRARY_NAMES = {"resume": "resume=True", "overwrite": "overwrite=True", "out_dir": "out_dir"}

# fileio.atomic_write writes "<folder>/.<name>.<8 random characters>.tmp" (tempfile.mkstemp)
_TEMPORARY = re.compile(r"^\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp$")


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped training. ``checkpoint`` (a path, or None) holds ``step`` whole steps."""

    def __init__(self, message, step=None, checkpoint=None):
        super().__init__(message)
        self.step, self.checkpoint = step, checkpoint


# ----------------------------------------------------------- before any work

def prepare_run_folder(out_dir, resume=False, overwrite=False, log=print) -> Path:
    """Check the run folder ``out_dir`` before any work; return the path of its checkpoint.

    Refused (:class:`~minideeplab.errors.OptionError`): a path that is a file, a folder that
    cannot be created or written, a folder that holds a trained model when neither
    ``resume`` nor ``overwrite`` is given, ``resume`` without a checkpoint, and ``resume``
    with ``overwrite``. With ``overwrite``, the previous ``model.npz`` and ``metrics.json``
    are removed. Temporary files of an interrupted save are removed, and ``log`` says so.
    """
    out_dir = Path(out_dir)
    checkpoint = out_dir / CHECKPOINT_NAME
    folder = _literal(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise _refuse(f"{{out_dir}} {folder} is a file, not a folder: give a folder for the run")
    if resume and not checkpoint.exists():
        raise _refuse(f"{{resume}}: there is no checkpoint {_literal(checkpoint)} to continue; "
                      "leave out {resume} to start a new run")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        failed = "write into"
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as error:
        failed = "create" if not out_dir.is_dir() else failed
        raise _refuse(f"{{out_dir}} {folder}: cannot {failed} the folder "
                      f"({_literal(error.strerror or error)})") from None
    if resume and overwrite:
        raise _refuse(f"{{resume}} and {{overwrite}} contradict each other: continue the run in "
                      f"{folder} or replace it, not both")
    if checkpoint.exists() and not resume:
        if not overwrite:
            raise _refuse(f"{folder} already holds a trained model ({CHECKPOINT_NAME}, "
                          f"{_literal(_progress_of(checkpoint))}). Continue it with {{resume}}, "
                          "start again with {overwrite} (replaces it), or choose another "
                          "{out_dir}")
        for name in (CHECKPOINT_NAME, "metrics.json"):
            (out_dir / name).unlink(missing_ok=True)
        log(f"overwrite: removed the previous run's {CHECKPOINT_NAME} and metrics.json "
            f"from {out_dir}")
    removed = remove_stale_temporaries(out_dir)
    if removed:
        log(f"removed {len(removed)} stale temporary file{'s' if len(removed) > 1 else ''} "
            f"left by an interrupted save: {', '.join(path.name for path in removed)}")
    return checkpoint


def remove_stale_temporaries(folder) -> list:
    """Remove the temporary files an interrupted atomic write left in ``folder``; list them.

    Only names of the form ``.<file>.<8 characters>.tmp`` (what
    :func:`~minideeplab.fileio.atomic_write` writes) are touched.
    """
    removed = []
    for path in sorted(Path(folder).glob(".*.tmp")):
        if path.is_file() and _TEMPORARY.match(path.name):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _progress_of(checkpoint) -> str:
    """'step 400 of 4000' from a checkpoint's metadata, or why it cannot be read."""
    try:
        _, _, metadata = load_checkpoint(checkpoint)
    except CheckpointError as error:
        return f"unreadable: {error}"
    total = (metadata.get("train_config") or {}).get("steps")
    return f"step {metadata.get('step', '?')}" + (f" of {total}" if total else "")


# ----------------------------------------------------------------- resume

def check_resume(meta, config, model_config, out_dir) -> None:
    """Refuse a resume whose options would change the model or the data.

    ``meta`` is the checkpoint's metadata, ``config`` the run's options and ``model_config``
    the config of the model they build, both as JSON-ready dicts. The model is compared as
    built (its whole config), so ``output_stride=16`` given and the default saved agree.
    Only :data:`RESUMABLE` options may differ; every other difference is named, with both
    values, in one line.
    """
    saved = meta["train_config"]
    differences = [(name, value, saved.get(name)) for name, value in config.items()
                   if name not in (*RESUMABLE, "model") and value != saved.get(name)]
    saved_model = meta.get("config") or {}
    for key, value in model_config.items():
        # num_classes and seed follow the dataset and the seed, compared above
        if key not in ("num_classes", "seed") and value != saved_model.get(key):
            differences.append((key, value, saved_model.get(key)))
    if differences:
        listed = "; ".join(f"{{{name}}} is {_shown(given)} here but {_shown(was)} in the "
                           "checkpoint" for name, given, was in differences)
        raise _refuse(f"cannot resume {_literal(out_dir)} with different settings: {listed}. "
                      "Only {steps}, {eval_every} and {checkpoint_every} may change on resume; "
                      "keep the checkpoint's values, or train into another {out_dir}")
    if config["steps"] < int(meta["step"]):
        raise _refuse(f"{{steps}} {config['steps']} is fewer than the {meta['step']} steps "
                      f"already done in {_literal(out_dir)}")


def describe_resume(path, config, model_config, meta) -> str:
    """One line: what is resumed, from where, and which of the :data:`RESUMABLE` changed."""
    saved = meta["train_config"]
    model = (f"output stride {model_config['output_stride']}, "
             f"{'decoder' if model_config['decoder'] else 'no decoder'}, "
             f"{'separable' if model_config['separable'] else 'standard'} convs")
    text = (f"resuming {path} at step {meta['step']} of {config['steps']}: "
            f"'{config['dataset']}' {config['image_size']}x{config['image_size']}, "
            f"{config['n_train']} training images, batch {config['batch_size']}, "
            f"{config['optimizer']} lr {config['lr']:g}, {model}, seed {config['seed']}")
    changed = [f"{name} {saved.get(name)} -> {config[name]}" for name in RESUMABLE
               if saved.get(name) != config[name]]
    return text + ("; changed: " + ", ".join(changed) if changed else "")


# ------------------------------------------------------------ stopping

def diverged_message(loss, step, checkpoint, saved_step, checkpoint_every) -> str:
    """Why training stopped at ``step`` (counted from 1), and which checkpoint exists."""
    if checkpoint is None:
        where = "No run folder was given, so nothing was saved"
    elif saved_step is None:
        where = f"No checkpoint was written (the first was due at step {checkpoint_every})"
    else:
        where = f"The last good checkpoint is {checkpoint} (step {saved_step})"
    return (f"loss became {loss} at step {step}; training stopped. {where}; try a smaller "
            "learning rate (--lr)")


def interrupted(step, checkpoint, saved_step) -> TrainingInterrupted:
    """The :class:`TrainingInterrupted` for Ctrl-C after ``step`` (None: mid-step)."""
    if checkpoint is None:
        return TrainingInterrupted(f"stopped after step {step}; no run folder, nothing saved",
                                   step, None)
    if saved_step is None:
        return TrainingInterrupted("stopped mid-step by a second Ctrl-C; no checkpoint was "
                                   "written yet", None, None)
    when = f"after step {step}" if step is not None else "mid-step by a second Ctrl-C"
    return TrainingInterrupted(f"stopped {when}; saved {checkpoint} at step {saved_step}",
                               saved_step, checkpoint)


class CtrlCAfterTheStep:
    """Within this block, Ctrl-C is noted (``.pressed``) and acted on once the step is whole.

    A checkpoint written in the middle of a step would hold BatchNorm statistics and random
    states a step ahead of the weights, and would not resume exactly. A second Ctrl-C
    raises KeyboardInterrupt at once. Signal handlers can be set only in the main thread;
    elsewhere Ctrl-C keeps its usual meaning.
    """

    def __enter__(self):
        self.pressed, self.installed, self.previous = False, False, None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._note)
            self.installed = True
        return self

    def _note(self, signum, frame):
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True

    def __exit__(self, *exc_info):
        if self.installed:
            # None: the previous handler was not set from Python; Python's own is the default
            signal.signal(signal.SIGINT, self.previous if self.previous is not None
                          else signal.default_int_handler)
        return False


# ---------------------------------------------------------------- text

def _refuse(template) -> OptionError:
    return OptionError(template, LIBRARY_NAMES)


def _shown(value) -> str:
    """An option's value as a person writes it: 8, False, shapes, (0.75, 1.25)."""
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_shown(v) for v in value) + ")"
    return _literal(value)


_literal = OptionError.quote
