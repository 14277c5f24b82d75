"""Training and evaluation: the loop that turns the pieces into a segmentation model.

The data comes from a data source (:mod:`minideeplab.datasets.source`): a generated dataset
or your own folder, asked for batches of training crops and for whole images to score.
One step is exactly what a reader would write by hand::

    logits = model(images)                                   # forward
    loss, cache = F.softmax_cross_entropy_forward(logits, masks)
    model.backward(F.softmax_cross_entropy_backward(1.0, cache),   # backward (the image's
                   input_grad=False)                               # gradient: not needed)
    optimizer.step(); optimizer.zero_grad()                  # update

:func:`train` adds what makes a run trustworthy: a fixed seed (same seed, same
numbers), the poly learning-rate schedule, periodic validation, atomic
checkpoints that resume exactly (model, optimizer, data order and dropout
RNG states), a stop with a clear message on a NaN or infinite loss, and a run
folder with ``model.npz`` and ``metrics.json``. It returns its results and
history and draws nothing (the command line draws the figures).

Nothing is lost and nothing is silent (:mod:`minideeplab.run_folder` holds the
guards): the run folder is checked before any work and a trained model in it is
never replaced unless asked; a resume refuses options that would change the
model or the data and says what it resumes; Ctrl-C saves every whole step and
raises :class:`TrainingInterrupted`; a divergence names the checkpoint that
exists; a cold Numba cache is announced before the first step compiles the
kernels, and the speed reported leaves that step out.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from . import datasets, metrics
from . import functional as F
from .allocator import reuse_freed_memory
from .backend import get_backend
from .checkpoint import build_model, load_checkpoint, save_checkpoint
from .errors import InputError, OptionError
from .fileio import atomic_write
from .nn.layers import Dropout
from .optim import SGD, Adam, PolyLR
from .run_folder import (
    RESUMABLE,
    CtrlCAfterTheStep,
    TrainingInterrupted,
    check_resume,
    describe_resume,
    diverged_message,
    interrupted,
    prepare_run_folder,
)
from .run_status import COMPILE_MESSAGE, kernel_cache_is_cold
from .run_status import progress_bar as _progress

__all__ = ["TrainConfig", "DEFAULT_LR", "train", "evaluate", "evaluate_batches",
           "TrainingDiverged", "TrainingInterrupted", "OptionError", "RESUMABLE",
           "kernel_cache_is_cold"]


#: The peak learning rate of each optimizer when none is given. SGD at 0.6 is
#: high, but BatchNorm everywhere and the warm-up keep it stable; measured on
#: the default run (3000 steps): lr 0.1 -> 0.806 val mIoU, 0.4 -> 0.846, 0.8 -> 0.863.
DEFAULT_LR = {"sgd": 0.6, "adam": 1e-3}



# the clock for every figure of speed (a test replaces it to check what is measured)
_clock = time.perf_counter


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class TrainConfig:
    """Everything that defines a run; stored in the checkpoint and in metrics.json."""

    dataset: str = "shapes"
    image_size: int = 64
    n_train: int = 2000
    n_val: int = 500
    n_test: int = 500
    steps: int = 4000
    batch_size: int = 16
    optimizer: str = "sgd"           # "sgd" or "adam"
    lr: float | None = None          # None: DEFAULT_LR of the optimizer
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_steps: int = 200
    flip: bool = True
    scale_range: tuple = (1.0, 1.0)  # e.g. (0.75, 1.25) for random scale and crop
    eval_every: int = 500
    checkpoint_every: int = 500
    seed: int = 0
    model: dict = field(default_factory=dict)   # keyword arguments of DeepLabV3Plus
    # own data (datasets.source.FolderSource): a dataset folder instead of `dataset`
    data: str | None = None
    palette: str | None = None       # JSON class table for RGB masks (default: the folder's)
    mask_255: str | None = None      # None/"ignore": 255 = ignore; "class1": 255 = class 1
    num_classes: int | None = None   # default: from the class table or the largest label
    class_weights: str = "none"      # "none", "inverse" or "median" (datasets.weights)

    def __post_init__(self):
        # errors name the option as a template field, so the command line can say --n-test
        for name in ("steps", "batch_size", "n_train", "n_val", "n_test", "image_size",
                     "eval_every", "checkpoint_every"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise OptionError(f"{{{name}}} must be a positive int, got {_quoted(value)}")
        for name in ("warmup_steps", "seed"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 0:
                raise OptionError(f"{{{name}}} must be an int >= 0, got {_quoted(value)}")
        if self.batch_size > self.n_train:
            # the batcher would quietly hand out batches of n_train, not batch_size
            raise OptionError(f"{{batch_size}} {self.batch_size} is larger than {{n_train}} "
                              f"{self.n_train}: a batch cannot hold more images than the "
                              "training set has; lower {batch_size} or raise {n_train}")
        if self.optimizer not in ("sgd", "adam"):
            raise OptionError(f"{{optimizer}} must be 'sgd' or 'adam', got "
                              f"{_quoted(self.optimizer)}")
        if self.lr is None:
            self.lr = DEFAULT_LR[self.optimizer]
        if not self.lr > 0:
            raise OptionError(f"{{lr}} must be > 0, got {_quoted(self.lr)}")
        self.scale_range = tuple(self.scale_range)
        _check_data_options(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise InputError(f"unknown training options: {sorted(unknown)}")
        return cls(**values)


def _quoted(value) -> str:
    """repr(value) for an OptionError's message (whose braces are fields)."""
    return OptionError.quote(repr(value))


def _check_data_options(config):
    """The own-data fields of a TrainConfig: an error naming the field."""
    if config.class_weights not in datasets.CLASS_WEIGHTS:
        raise InputError(f"class_weights must be one of {datasets.CLASS_WEIGHTS}, "
                         f"got {config.class_weights!r}")
    if config.mask_255 is not None and config.mask_255 not in datasets.MASK_255_CHOICES:
        raise InputError(f"mask_255 must be one of {datasets.MASK_255_CHOICES} or None, "
                         f"got {config.mask_255!r}")
    if config.data is None:
        for name in ("palette", "mask_255", "num_classes"):
            if getattr(config, name) is not None:
                raise InputError(f"{name} applies to your own data (data=DIR, --data DIR)")
    else:
        config.data = str(config.data)
    if config.num_classes is not None and (
            not isinstance(config.num_classes, (int, np.integer)) or config.num_classes < 1):
        raise InputError(f"num_classes must be a positive int, got {config.num_classes!r}")


def _make_optimizer(config, parameters):
    if config.optimizer == "adam":
        return Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)
    return SGD(parameters, lr=config.lr, momentum=config.momentum,
               weight_decay=config.weight_decay)


def _dropout_layers(model):
    return [m for m in model.modules() if isinstance(m, Dropout)]


def _rng_states(data_rng, model):
    return {"data": data_rng.bit_generator.state,
            "dropout": [m.rng.bit_generator.state for m in _dropout_layers(model)]}


def _restore_rng_states(states, data_rng, model):
    data_rng.bit_generator.state = states["data"]
    for layer, state in zip(_dropout_layers(model), states["dropout"], strict=True):
        layer.rng.bit_generator.state = state


def evaluate(model, images, masks, num_classes, batch_size=32, boundary_width=3) -> dict:
    """Metrics of ``model`` on (images, masks), in eval mode (mode restored after)."""
    batches = ((images[start:start + batch_size], masks[start:start + batch_size])
               for start in range(0, len(images), batch_size))
    return evaluate_batches(model, batches, num_classes, boundary_width)


def evaluate_batches(model, batches, num_classes, boundary_width=3) -> dict:
    """Metrics of ``model`` over ``(images, masks)`` batches (e.g. a data source's whole images,
    one at a time, padded with ignored pixels), in eval mode (mode restored after)."""
    accumulator = metrics.SegmentationMetrics(num_classes, boundary_width=boundary_width)
    for images, masks in batches:
        accumulator.update(model.predict(images.astype(model.dtype)), masks)
    return accumulator.compute()


class _Batches:
    """Shuffled mini-batches from a seeded generator, epoch after epoch."""

    def __init__(self, n, batch_size, rng):
        self.n, self.batch_size, self.rng = n, batch_size, rng
        self.order, self.position = np.arange(0), 0

    def state(self):
        return {"order": self.order.tolist(), "position": self.position}

    def load(self, state):
        self.order = np.asarray(state["order"], dtype=np.int64)
        self.position = int(state["position"])

    def next(self):
        if self.position + self.batch_size > len(self.order):
            self.order = self.rng.permutation(self.n)
            self.position = 0
        batch = self.order[self.position:self.position + self.batch_size]
        self.position += self.batch_size
        return batch


def train(config: TrainConfig | None = None, out_dir=None, resume=False, progress=True,
          log=print, callback=None, overwrite=False) -> dict:
    """Train a DeepLabV3+ as ``config`` says; write the run folder ``out_dir`` if given.

    Returns the final metrics dict (also written to ``out_dir/metrics.json``)
    and, under ``"model"``, the trained model. The loop draws nothing: the
    command line (or a notebook) draws the curves and predictions from the
    result (``viz.plot_training_curves(result["history"])``).

    A folder that already holds a trained model is continued with
    ``resume=True`` (exactly; only :data:`RESUMABLE` options may differ from the
    checkpoint's) or replaced with ``overwrite=True``; otherwise it is refused
    with an :class:`OptionError`. Ctrl-C ends the step in progress, saves a
    checkpoint of every step done and raises :class:`TrainingInterrupted`.
    ``callback(step, loss, model)``, if given, runs after every step (after any
    checkpoint of that step is written).
    """
    config = config or TrainConfig()
    out_dir = Path(out_dir) if out_dir is not None else None
    checkpoint_path = None
    # the folders prepare_run_folder is about to create, deepest first
    created = [] if out_dir is None else [p for p in (out_dir, *out_dir.parents) if not p.exists()]
    if out_dir is not None:      # checked before any work: nothing is lost at the first save
        checkpoint_path = prepare_run_folder(out_dir, resume=resume, overwrite=overwrite, log=log)
    elif resume:
        raise OptionError("{resume} needs {out_dir}, the run folder to continue",
                          {"resume": "resume=True"})

    # the data: a generated dataset or your own folder (checked and reported first)
    try:
        source = datasets.data_source(config)
    except Exception:
        for folder in created:   # refused data leaves no empty run folder behind
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise
    log(source.report())
    num_classes, class_names = source.num_classes, list(source.class_names)
    class_weights = datasets.weights_for(source, config.class_weights)
    if class_weights is not None:
        log(f"class weights ({config.class_weights}, from the training masks): " + ", ".join(
            f"{name} {w:.2f}" for name, w in zip(class_names, class_weights, strict=True)))

    model_kwargs = {"seed": config.seed, **config.model}
    model = build_model({"num_classes": num_classes, **model_kwargs})
    saved = None
    if resume:
        saved = load_checkpoint(checkpoint_path)
        check_resume(saved[2], _jsonable(asdict(config)), _jsonable(model.config), out_dir)
    optimizer = _make_optimizer(config, model.parameters())
    scheduler = PolyLR(optimizer, config.steps, warmup_steps=config.warmup_steps)
    data_rng = np.random.default_rng(config.seed + 1)
    batches = _Batches(source.n_train, config.batch_size, data_rng)
    loss_weight = None if class_weights is None else class_weights.astype(model.dtype)

    def val_batches():
        # whole validation images (own data: one at a time, padded to the output stride)
        return source.eval_batches("val", multiple=model.output_stride)

    history = {"step": [], "loss": [], "lr": [], "eval_step": [], "val_miou": [],
               "val_boundary_miou": []}
    start_step, elapsed_before = 0, 0.0
    saved_step = None            # the step model.npz holds, once it holds this run

    if saved is not None:
        model_state, optimizer_state, meta = saved
        model.load_state_dict(model_state)
        optimizer.load_state_dict(optimizer_state)
        _restore_rng_states(meta["rng"], data_rng, model)
        batches.load(meta["batches"])
        history = meta["history"]
        start_step = saved_step = int(meta["step"])
        elapsed_before = float(meta.get("train_seconds", 0.0))
        log(describe_resume(checkpoint_path, _jsonable(asdict(config)),
                            _jsonable(model.config), meta))

    def save(step, seconds):
        nonlocal saved_step
        if checkpoint_path is None:
            return
        save_checkpoint(checkpoint_path, model, optimizer, metadata={
            "step": step, "train_config": _jsonable(asdict(config)),
            "rng": _rng_states(data_rng, model), "batches": batches.state(),
            "history": history, "train_seconds": seconds, "image_size": config.image_size,
            "dataset": source.name, "class_names": class_names, "data": source.describe()})
        saved_step = step

    if start_step < config.steps and get_backend() == "numba" and kernel_cache_is_cold():
        log(COMPILE_MESSAGE)
    # The bar appears after the first step: that step compiles (or loads) the kernels, and
    # timed with the others it made the bar's first estimate hours long.
    bar = None
    started = _clock()
    first_step_seconds = after_first_step = None
    last_eval = {}
    done = start_step
    model.train()
    # reuse_freed_memory: each step reuses the pages the step before freed (allocator.py)
    with CtrlCAfterTheStep() as ctrl_c, reuse_freed_memory():
        try:
            for step in range(start_step, config.steps):
                lr = scheduler.step(step)
                indices = batches.next()
                images, masks = source.train_batch(indices, data_rng)
                logits = model(images)
                loss, loss_cache = F.softmax_cross_entropy_forward(logits, masks,
                                                                   weight=loss_weight)
                if not math.isfinite(loss):
                    raise TrainingDiverged(diverged_message(loss, step + 1, checkpoint_path,
                                                            saved_step, config.checkpoint_every))
                # (the image's gradient is not needed: input_grad=False skips it)
                model.backward(F.softmax_cross_entropy_backward(1.0, loss_cache), input_grad=False)
                optimizer.step()
                optimizer.zero_grad()
                history["step"].append(step + 1)
                history["loss"].append(float(loss))
                history["lr"].append(float(lr))
                done = step + 1
                if after_first_step is None:
                    # the first step compiles (or loads) the kernels: speed leaves it out
                    after_first_step = _clock()
                    first_step_seconds = after_first_step - started
                    bar = _progress(progress, done, config.steps)
                elif bar is not None:
                    bar.update(1)
                if done % config.eval_every == 0 or done == config.steps:
                    last_eval = evaluate_batches(model, val_batches(), num_classes)
                    history["eval_step"].append(done)
                    history["val_miou"].append(last_eval["miou"])
                    history["val_boundary_miou"].append(last_eval["boundary_miou"])
                    model.train()
                if bar is not None:
                    rate = _images_per_second(done - start_step - 1, config.batch_size,
                                              _clock() - after_first_step)
                    # refresh=False: tqdm redraws at most once a second (mininterval)
                    bar.set_postfix(loss=f"{loss:.3f}",
                                    val_miou=f"{last_eval['miou']:.3f}" if last_eval else "-",
                                    img_s=f"{rate:.0f}" if rate else "-", refresh=False)
                if done % config.checkpoint_every == 0 and done != config.steps:
                    save(done, elapsed_before + _clock() - started)
                if callback is not None:
                    callback(done, loss, model)
                if ctrl_c.pressed:
                    if checkpoint_path is not None and saved_step != done:
                        save(done, elapsed_before + _clock() - started)
                    raise interrupted(done, checkpoint_path, saved_step)
        except KeyboardInterrupt as interrupt:
            if isinstance(interrupt, TrainingInterrupted):
                raise
            # a second Ctrl-C stops at once, mid-step: only the last checkpoint is whole
            raise interrupted(None, checkpoint_path, saved_step) from None
        finally:
            if bar is not None:
                bar.close()
    ended = _clock()
    train_seconds = elapsed_before + ended - started
    if config.steps > start_step or not last_eval:
        last_eval = last_eval or evaluate_batches(model, val_batches(), num_classes)
    save(config.steps, train_seconds)

    test_metrics = (evaluate_batches(model, source.eval_batches("test", model.output_stride),
                                     num_classes) if source.has_split("test") else None)
    result = {
        "image_size": config.image_size,
        "dataset": source.name,
        "class_names": class_names,
        "data": source.describe(),
        "class_weights": None if class_weights is None else class_weights.tolist(),
        "steps": config.steps,
        "train_seconds": round(train_seconds, 2),
        # this session's speed without its first step (compiling, loading the kernels)
        "images_per_second": _images_per_second(
            done - start_step - 1, config.batch_size,
            ended - after_first_step if after_first_step is not None else 0.0),
        "first_step_seconds": first_step_seconds,
        "val": last_eval,
        "test": test_metrics,
        "parameters": int(sum(p.data.size for p in model.parameters())),
        "config": _jsonable(asdict(config)),
        "model_config": _jsonable(model.config),
        "history": history,
    }
    if out_dir is not None:
        text = json.dumps(_jsonable(result), indent=1)
        atomic_write(out_dir / "metrics.json", lambda f: f.write(text.encode("utf-8")))
    # not in metrics.json: the trained model itself, for whoever draws or inspects it next
    return {**result, "model": model, "data_source": source}


def _images_per_second(steps, batch_size, seconds):
    """Images a second over ``steps`` steps that took ``seconds``; None when there are none."""
    return steps * batch_size / seconds if steps > 0 and seconds > 0 else None


def _jsonable(value):
    """Tuples to lists and NumPy scalars to Python numbers, NaN to None, for JSON."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
