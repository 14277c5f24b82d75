"""Weight initialisation, seeded so that the same seed builds the same model.

Layers take an optional ``rng`` (a ``numpy.random.Generator``); without one
they draw from a module-level generator that :func:`manual_seed` resets.
"""

from __future__ import annotations

import numpy as np

__all__ = ["manual_seed", "default_rng", "kaiming_normal"]

_rng = np.random.default_rng(0)


def manual_seed(seed: int) -> None:
    """Reset the generator that layers use when they are given no ``rng``."""
    global _rng
    _rng = np.random.default_rng(seed)


def default_rng(rng=None) -> np.random.Generator:
    return _rng if rng is None else rng


def kaiming_normal(shape, fan_in: int, rng=None, dtype=np.float32) -> np.ndarray:
    """He initialisation: N(0, 2 / fan_in), which keeps the variance of activations
    roughly constant through ReLU layers (He et al., 2015)."""
    std = np.sqrt(2.0 / fan_in)
    return (default_rng(rng).standard_normal(shape) * std).astype(dtype)
