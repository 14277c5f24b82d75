"""Checkpoints: ``.npz`` files of plain arrays plus one JSON metadata entry; never pickle.

Layout of a checkpoint file:

* ``model/<state-dict key>``: every parameter and buffer of the model;
* ``optimizer/<key>``: optimizer state (momentum buffers, Adam moments, step), if saved;
* ``__metadata__``: UTF-8 JSON (as a uint8 array) with the format version, the
  model's config (so :func:`load_model` can rebuild it from the file alone), the
  training step, RNG states and anything else the trainer adds.

Writing goes to a temporary file in the same folder which is then renamed over
the target, so a crash never leaves half a checkpoint behind. Loading uses
``allow_pickle=False``: a checkpoint cannot run code.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from .errors import InputError
from .fileio import atomic_write

__all__ = ["save_checkpoint", "load_checkpoint", "load_model", "CheckpointError", "FORMAT"]

FORMAT = "minideeplab-checkpoint-v1"


class CheckpointError(InputError):
    """A file that is not a readable minideeplab checkpoint (truncated, foreign, mismatched)."""


def save_checkpoint(path, model, optimizer=None, metadata=None) -> None:
    """Save ``model`` (and ``optimizer``) to ``path`` atomically."""
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    if optimizer is not None:
        arrays.update({f"optimizer/{k}": np.asarray(v) for k, v in optimizer.state_dict().items()})
    meta = {"format": FORMAT, "model_class": type(model).__name__,
            "config": getattr(model, "config", None), **(metadata or {})}
    arrays["__metadata__"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load_checkpoint(path):
    """Read a checkpoint: returns ``(model_state, optimizer_state, metadata)``.

    Raises :class:`CheckpointError` (a ValueError) for a missing, truncated or
    foreign file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
        raise CheckpointError(f"checkpoint {path} is truncated or not an .npz file ({error})") \
            from None
    if "__metadata__" not in arrays:
        raise CheckpointError(f"{path} is an .npz file but not a minideeplab checkpoint "
                              "(no __metadata__ entry)")
    try:
        metadata = json.loads(arrays.pop("__metadata__").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"checkpoint {path} has unreadable metadata ({error})") from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path} has format {metadata.get('format')!r}, expected {FORMAT!r}")
    model_state = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    optimizer_state = {k[len("optimizer/"):]: v for k, v in arrays.items()
                       if k.startswith("optimizer/")}
    return model_state, optimizer_state, metadata


def build_model(config):
    """A DeepLabV3Plus from the config dict stored in a checkpoint."""
    from .models import DeepLabV3Plus

    config = dict(config)
    num_classes = config.pop("num_classes")
    for key in ("widths", "blocks", "aspp_rates", "multi_grid"):
        if config.get(key) is not None:
            config[key] = tuple(config[key])
    return DeepLabV3Plus(num_classes, **config)


def load_model(path):
    """Rebuild the model saved in ``path`` from the checkpoint alone, in eval mode.

    >>> model = load_model("runs/x/model.npz")      # doctest: +SKIP
    """
    model_state, _, metadata = load_checkpoint(path)
    if metadata.get("model_class") != "DeepLabV3Plus" or not metadata.get("config"):
        raise CheckpointError(f"{path} does not describe a DeepLabV3Plus model")
    model = build_model(metadata["config"])
    try:
        model.load_state_dict(model_state)
    except ValueError as error:
        raise CheckpointError(f"{path}: {error}") from None
    return model.eval()
