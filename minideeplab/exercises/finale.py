"""The finale of every exercise notebook: the real model trained with the learner's functions.

:func:`compare_training` trains the same small DeepLabV3+ twice from the same
seed on the same batches -- once with the library's ops, once inside
:func:`minideeplab.use_implementation` with the learner's -- and returns both
loss curves. It runs in float64 with the training step written out (forward,
loss, backward, SGD step): there a correct implementation reproduces the
library's curve to about 1e-10, and a bug shows as a gap that grows. (``train()``
runs in float32, where two correct implementations round differently and
their curves drift apart after some steps, which would hide what matters.)
"""

from __future__ import annotations

import numpy as np

from .. import datasets
from .. import functional as F
from ..backend import use_backend
from ..checkpoint import build_model
from ..implementation import SWAPPABLE, use_implementation
from ..optim import SGD, PolyLR
from .registry import get

__all__ = ["compare_training", "implemented", "SMALL_MODEL"]

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


def _train_losses(steps, batch_size, image_size, n_train, lr, seed) -> list:
    """Losses of a float64 training run of the small model (the ops are whatever is installed)."""
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
    return losses


def compare_training(implementations: dict, steps=300, batch_size=8, image_size=32, n_train=64,
                     lr=0.1, seed=0, backend="numpy") -> dict:
    """Train the small model with the library's ops and with ``implementations``; both curves.

    ``implementations`` maps op names to the learner's functions (the keywords of
    :func:`~minideeplab.use_implementation`; exercises that are not ops, such as
    ``conv_output_size``, are left out with a note). Returns ``{"library": losses,
    "yours": losses, "installed": names, "skipped": names, "max_difference": float,
    "summary": str}``. The numpy backend is the default: on a model this small it is
    the faster one, and it needs no compilation.
    """
    installed = {name: fn for name, fn in implementations.items() if name in SWAPPABLE}
    skipped = sorted(set(implementations) - set(installed))
    settings = dict(steps=steps, batch_size=batch_size, image_size=image_size, n_train=n_train,
                    lr=lr, seed=seed)
    with use_backend(backend):
        library = _train_losses(**settings)
        with use_implementation(**installed):
            try:
                yours = _train_losses(**settings)
            except Exception as error:  # noqa: BLE001  (the learner's code: say, keep going)
                yours = []
                failure = f"{type(error).__name__}: {error}"
            else:
                failure = None
    gaps = [abs(a - b) for a, b in zip(library, yours, strict=False)]
    worst = max(gaps) if gaps and len(yours) == len(library) else float("inf")
    names = ", ".join(installed) or "nothing"
    if failure:
        verdict = f"training with your functions stopped: {failure}"
    elif worst <= 1e-6:
        verdict = (f"the same curve: the largest difference over {steps} steps is {worst:.1e} "
                   "(float64 round-off)")
    else:
        first = next(i for i, gap in enumerate(gaps) if gap > 1e-6)
        verdict = (f"a different curve: the losses part at step {first + 1} and differ by up "
                   f"to {worst:.3g}; final loss {yours[-1]:.4f} (yours) vs {library[-1]:.4f} "
                   "(library)")
    summary = f"trained {steps} steps with your {names}: {verdict}"
    if skipped:
        summary += f" ({', '.join(skipped)}: not an op the layers call, not installed)"
    return {"library": library, "yours": yours, "installed": list(installed),
            "skipped": skipped, "max_difference": worst, "summary": summary}
