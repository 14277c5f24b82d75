"""Argument checks shared by the dataset modules: every error names the argument."""

from __future__ import annotations

import numpy as np

from ..errors import InputError, InputTypeError

#: The three splits of every named dataset; each is generated from its own seed.
SPLITS = ("train", "val", "test")


def check_int(value, name: str, minimum: int | None = None) -> int:
    """``value`` as a Python int, or a TypeError / ValueError that names ``name``."""
    # bool is a subclass of int, but make_shapes(True) is surely a mistake.
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputTypeError(f"{name} must be an int, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise InputError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_split(split: str) -> str:
    """``split`` if it is one of :data:`SPLITS`, else a ValueError listing them."""
    if split not in SPLITS:
        raise InputError(f"split must be one of {SPLITS}, got {split!r}")
    return split
