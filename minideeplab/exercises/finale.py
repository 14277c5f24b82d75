"""The finale of every exercise notebook: the real model trained with the learner's functions.

:func:`compare_training` trains the same small DeepLabV3+ twice from the same
seed on the same batches -- once with the library's ops, once inside
:func:`minideeplab.use_implementation` with the learner's -- and returns both
loss curves. It runs in float64 with the training step written out (forward,
loss, backward, SGD step). There a correct implementation gives the library's
losses to round-off (~1e-12) for the first steps, and a bug parts the curves at
once. Later even two correct implementations drift apart: training is chaotic
(a last-bit difference eventually flips a ReLU, and the step changes), so the
verdict reads the first steps and compares the rest on average. (``train()``
runs in float32, where the drift starts within a few steps.)
"""

from __future__ import annotations

import math

import numpy as np

from .. import datasets
from .. import functional as F
from ..backend import use_backend
from ..checkpoint import build_model
from ..implementation import SWAPPABLE, library_implementation, use_implementation
from ..optim import SGD, PolyLR
from ..receptive_field import theoretical
from .registry import get

__all__ = ["compare_training", "train_small_model", "compare_receptive_fields", "implemented",
           "SMALL_MODEL"]

#: Two losses "agree" when they differ by at most this (float64 round-off is ~1e-12).
AGREE = 1e-6

#: A DeepLabV3+ small enough to train for a few hundred steps in a notebook (about 9k weights).
SMALL_MODEL = dict(stem_channels=8, widths=(8, 16, 24, 32), blocks=(1, 1, 1, 1),
                   aspp_channels=16, low_level_channels=8, decoder_channels=16)


def implemented(functions: dict) -> dict:
    """The entries of ``{exercise name: function}`` that are written (no NotImplementedError).

    Each function is called once, on the first rung of its exercise's ladder.
    """
    written = {}
    for name, fn in functions.items():
        exercise = get(name)
        with library_implementation():
            trial = exercise.build(exercise.ladder[0].params, seed=1001)
            args, kwargs = trial.make_args()
        try:
            fn(*args, **kwargs)
        except NotImplementedError:
            continue
        except Exception:  # noqa: BLE001  (written, even if wrong: check() says what is wrong)
            pass
        written[name] = fn
    return written


def _train(steps, batch_size, image_size, n_train, lr, seed):
    """``(losses, model)`` of a float64 training run of the small model (with the installed ops)."""
    images, masks = datasets.load_dataset("shapes", "train", n=n_train, size=image_size)
    num_classes = datasets.dataset_info("shapes")["num_classes"]
    model = build_model({"num_classes": num_classes, "seed": seed, **SMALL_MODEL})
    model.astype(np.float64).train()
    optimizer = SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    scheduler = PolyLR(optimizer, steps, warmup_steps=min(10, steps // 10))
    rng = np.random.default_rng(seed + 1)
    losses = []
    for step in range(steps):
        scheduler.step(step)
        batch = rng.choice(len(images), size=batch_size, replace=False)
        logits = model(images[batch].astype(np.float64))
        loss, cache = F.softmax_cross_entropy_forward(logits, masks[batch])
        model.backward(F.softmax_cross_entropy_backward(1.0, cache))
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss))
    return losses, model


def train_small_model(steps=300, batch_size=8, image_size=32, n_train=64, lr=0.05, seed=0,
                      backend="numpy") -> dict:
    """Train the small model as :func:`compare_training` does, once: ``{"losses", "model"}``."""
    with use_backend(backend):
        losses, model = _train(steps, batch_size, image_size, n_train, lr, seed)
    return {"losses": losses, "model": model}


def compare_receptive_fields(conv_step, layers) -> dict:
    """Walk ``layers`` (a model or layer specs) with a learner's ``conv_step`` and the library's.

    The library's walker (:func:`minideeplab.receptive_field.receptive_field`)
    calls its recurrence step by name, so for the walk the learner's function
    takes its place. Returns ``{"library": rows, "yours": rows, "agree": bool,
    "summary": str}``; an exception in ``conv_step`` ends up in the summary.
    """
    library = theoretical.receptive_field(layers)
    saved = theoretical.conv_step
    theoretical.conv_step = conv_step
    try:
        yours = theoretical.receptive_field(layers)
    except Exception as error:  # noqa: BLE001  (the learner's code: say, keep going)
        return {"library": library, "yours": [], "agree": False,
                "summary": f"walking the layers with your conv_step stopped: "
                           f"{type(error).__name__}: {error}"}
    finally:
        theoretical.conv_step = saved
    fields = ("size", "stride", "padding", "start")
    different = [(a, b) for a, b in zip(library, yours, strict=True)
                 if any(getattr(a, f) != getattr(b, f) for f in fields)]
    if not different:
        finite = [row for row in library if row.size != math.inf] or library
        summary = (f"your conv_step gives the library's receptive field at all {len(library)} "
                   f"layers (the widest finite one, {finite[-1].name}: size {finite[-1].size}, "
                   f"jump {finite[-1].stride})")
    else:
        a, b = different[0]
        summary = (f"{len(different)} of {len(library)} layers differ; the first, {a.name}: "
                   f"size {b.size} (yours) vs {a.size}, jump {b.stride} vs {a.stride}, padding "
                   f"{b.padding} vs {a.padding}, start {b.start} vs {a.start}")
    return {"library": library, "yours": yours, "agree": not different, "summary": summary}


def compare_training(implementations: dict, steps=300, batch_size=8, image_size=32, n_train=64,
                     lr=0.05, seed=0, backend="numpy", agree_steps=10) -> dict:
    """Train the small model with the library's ops and with ``implementations``; both curves.

    ``implementations`` maps op names to the learner's functions (the keywords of
    :func:`~minideeplab.use_implementation`; exercises that are not ops, such as
    ``conv_output_size``, are left out with a note). Returns ``{"library": losses,
    "yours": losses, "installed": names, "skipped": names, "agree": bool,
    "parted_at": step or None, "max_difference": float, "summary": str}``.

    ``agree`` is True when the losses agree to 1e-6 for at least the first
    ``agree_steps`` steps. Not for all of them: training is chaotic, and a
    difference in the last bit (two correct implementations that add in another
    order) eventually flips a ReLU somewhere and grows. A bug parts the curves at
    once. The numpy backend is the default: on a model this small it is the
    faster one, and it needs no compilation.
    """
    installed = {name: fn for name, fn in implementations.items() if name in SWAPPABLE}
    skipped = sorted(set(implementations) - set(installed))
    settings = dict(steps=steps, batch_size=batch_size, image_size=image_size, n_train=n_train,
                    lr=lr, seed=seed)
    with use_backend(backend):
        library, _ = _train(**settings)
        with use_implementation(**installed):
            try:
                yours, _ = _train(**settings)
            except Exception as error:  # noqa: BLE001  (the learner's code: say, keep going)
                yours = []
                failure = f"{type(error).__name__}: {error}"
            else:
                failure = None
    return {"library": library, "yours": yours, "installed": list(installed),
            "skipped": skipped, **_verdict(library, yours, failure, agree_steps, names=", ".join(
                installed) or "nothing", skipped=skipped)}


def _verdict(library, yours, failure, agree_steps, names, skipped) -> dict:
    """Do the curves agree? Round-off first, then the chaos of training, told apart from a bug."""
    steps = len(library)
    gaps = [abs(a - b) for a, b in zip(library, yours, strict=False)]
    parted = next((i for i, gap in enumerate(gaps) if gap > AGREE), None)
    if failure or len(yours) != steps:
        agree, verdict = False, f"training with your functions stopped: {failure}"
    elif parted is None:
        agree, verdict = True, (f"the same curve: the largest difference over {steps} steps "
                                f"is {max(gaps):.1e} (float64 round-off)")
    elif parted >= min(agree_steps, steps):
        tail = max(1, steps // 5)
        agree, verdict = True, (
            f"the same start: the first {parted} losses agree to {AGREE:g}. After that the "
            "round-off grows, as it does between any two correct implementations (ReLU's kink "
            "turns a tiny difference into a different step), and the curves stay alike: mean "
            f"loss over the last {tail} steps {np.mean(yours[-tail:]):.4f} (yours) vs "
            f"{np.mean(library[-tail:]):.4f} (library)")
    else:
        agree, verdict = False, (
            f"a different curve: the losses part at step {parted + 1} (correct code agrees to "
            f"{AGREE:g} for at least the first {agree_steps}) and differ by up to "
            f"{max(gaps):.3g}; final loss {yours[-1]:.4f} (yours) vs {library[-1]:.4f} "
            "(library)")
    summary = f"trained {steps} steps with your {names}: {verdict}"
    if skipped:
        summary += f" ({', '.join(skipped)}: not an op the layers call, not installed)"
    worst = max(gaps) if gaps and len(yours) == steps else float("inf")
    return {"agree": agree, "parted_at": None if parted is None else parted + 1,
            "max_difference": worst, "summary": summary}
