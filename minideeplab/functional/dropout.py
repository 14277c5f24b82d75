r"""Inverted dropout: zero each activation with probability ``p`` while training.

.. math:: out = x \cdot \frac{m}{1 - p}, \qquad m \sim \mathrm{Bernoulli}(1 - p)
          \text{ per element}, \qquad dx = dout \cdot \frac{m}{1 - p}

Dividing the survivors by ``1 - p`` ("inverted" dropout) keeps the expected
value of every activation unchanged, ``E[out] = x``, so that at evaluation time
dropout is simply the identity and nothing has to be rescaled. ``p = 1`` drops
everything (output and gradient are 0).

The mask is random, so the backward pass must reuse the *same* mask: it lives in
the cache. Randomness comes from the ``rng`` the caller passes (a seeded
``numpy.random.Generator`` makes a run reproducible).

Shapes: ``x``, ``out``, ``dout``, ``dx`` all the same (any shape).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from ..errors import InputError, InputTypeError
from ._checks import check_array, check_grad

__all__ = ["dropout_forward", "dropout_backward", "DropoutCache"]


@dataclass
class DropoutCache:
    """The scaled mask ``m / (1 - p)`` in x's dtype, or None when dropout was the identity."""

    scaled_mask: np.ndarray | None
    shape: tuple
    dtype: np.dtype


def dropout_forward(x, p, training, rng):
    """Drop each element of ``x`` with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    The identity (``out`` is ``x`` itself, no copy) when ``training`` is False or
    ``p == 0``. ``rng`` is a ``numpy.random.Generator`` (``None`` means a fresh,
    unseeded one). Returns ``(out, cache)``.
    """
    check_array(x, "x")
    if not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise InputError(f"p must be a probability in [0, 1], got {p!r}")
    if not isinstance(training, (bool, np.bool_)):
        raise InputTypeError(f"training must be a bool, got {training!r}")
    if rng is None:
        rng = np.random.default_rng()
    if not isinstance(rng, np.random.Generator):
        raise InputTypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
                             f"got {type(rng).__name__}")
    if not training or p == 0:
        return x, DropoutCache(None, x.shape, x.dtype)
    keep = rng.random(x.shape) >= p          # each element survives with probability 1 - p
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    scaled_mask = keep.astype(x.dtype) * x.dtype.type(scale)
    return x * scaled_mask, DropoutCache(scaled_mask, x.shape, x.dtype)


def dropout_backward(dout, cache: DropoutCache):
    """``dx = dout * m / (1 - p)`` with the forward pass's mask (``dout`` itself in eval)."""
    check_grad(dout, cache.shape, cache.dtype)
    if cache.scaled_mask is None:
        return dout
    return dout * cache.scaled_mask
