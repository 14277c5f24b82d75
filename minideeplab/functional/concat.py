r"""Concatenation along an axis (channels by default), and its backward: a split.

DeepLabV3+ concatenates the ASPP branches, and the decoder concatenates the
upsampled ASPP features with the low-level features, both along channels.

.. math:: out = [x_1, x_2, \dots, x_k] \text{ along the axis}, \qquad
          dx_i = dout[\dots, o_i : o_i + C_i, \dots]

where ``o_i`` is where ``x_i`` starts in ``out``. Concatenation only copies
values, so each input's gradient is simply its own slice of ``dout``.

Shapes: every ``x_i`` (N, C_i, H, W) (equal except along ``axis``); ``out``
(N, sum C_i, H, W); the backward pass returns a list of arrays shaped like the inputs.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ._checks import check_array, check_grad, check_same_dtype

__all__ = ["concat_forward", "concat_backward", "ConcatCache"]


@dataclass
class ConcatCache:
    """Where to cut ``dout``: the axis and every input's length along it."""

    axis: int
    sizes: list
    out_shape: tuple
    dtype: np.dtype


def concat_forward(xs, axis=1):
    """Concatenate the arrays in ``xs`` (a non-empty list) along ``axis``.

    Returns ``(out, cache)``; all arrays share one dtype and every axis but ``axis``.
    """
    if not isinstance(xs, (list, tuple)) or len(xs) == 0:
        raise InputError(f"xs must be a non-empty list of arrays, got {xs!r:.80}")
    for i, x in enumerate(xs):
        check_array(x, f"xs[{i}]")
    check_same_dtype(**{f"xs[{i}]": x for i, x in enumerate(xs)})
    ndim = xs[0].ndim
    if not isinstance(axis, numbers.Integral) or not -ndim <= axis < ndim:
        raise InputError(f"axis must be an int in [{-ndim}, {ndim}), got {axis!r}")
    axis = int(axis) % ndim
    reference = xs[0].shape
    for i, x in enumerate(xs):
        if x.ndim != ndim or any(x.shape[k] != reference[k] for k in range(ndim) if k != axis):
            raise InputError(
                f"xs[{i}] has shape {x.shape}, but every array must match xs[0]'s shape "
                f"{reference} except along axis {axis}")
    out = np.concatenate(xs, axis=axis)
    return out, ConcatCache(axis, [x.shape[axis] for x in xs], out.shape, out.dtype)


def concat_backward(dout, cache: ConcatCache):
    """Split ``dout`` back into one gradient per input (a list, in input order)."""
    check_grad(dout, cache.out_shape, cache.dtype)
    boundaries = np.cumsum(cache.sizes)[:-1]
    return [np.ascontiguousarray(part) for part in np.split(dout, boundaries, axis=cache.axis)]
