"""Argument checks shared by the functional ops: clear errors naming the argument."""

from __future__ import annotations

import numpy as np

from ..errors import InputError, InputTypeError

#: The dtypes every op accepts: float32 to train, float64 to check gradients.
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_array(x, name: str, ndim: int | None = None, shape_hint: str = "") -> np.ndarray:
    """Check that ``x`` is a float32 or float64 ndarray of rank ``ndim``.

    Other dtypes are refused (a TypeError) on both backends: the ops keep the
    dtype they are given, an integer convolution would silently truncate, and
    float16 loses too much precision to train or to check a gradient.
    """
    if not isinstance(x, np.ndarray):
        raise InputTypeError(f"{name} must be a numpy array, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise InputTypeError(
            f"{name} must have a floating dtype (float32 or float64), got {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        hint = f" {shape_hint}" if shape_hint else ""
        raise InputError(f"{name} must have rank {ndim}{hint}, got shape {x.shape}")
    return x


def check_same_dtype(**arrays) -> None:
    """All named arrays must share one dtype (mixing float32 and float64 is a bug)."""
    dtypes = {name: a.dtype for name, a in arrays.items() if a is not None}
    if len(set(dtypes.values())) > 1:
        listing = ", ".join(f"{n}: {d}" for n, d in dtypes.items())
        raise InputTypeError(f"arrays must share one dtype, got {listing}")


def check_grad(grad_out: np.ndarray, shape: tuple, dtype=None, name: str = "dout") -> np.ndarray:
    """The upstream gradient must have the shape (and, given, the dtype) of the forward output.

    The same rule as the forward passes: mixing float32 and float64 is refused,
    not silently converted (a float64 ``dout`` into a float32 layer is a bug).
    """
    check_array(grad_out, name)
    if grad_out.shape != tuple(shape):
        raise InputError(f"{name} must have the forward output's shape {tuple(shape)}, "
                         f"got {grad_out.shape}")
    if dtype is not None and grad_out.dtype != np.dtype(dtype):
        raise InputTypeError(f"{name} must have the forward pass's dtype {np.dtype(dtype)}, "
                             f"got {grad_out.dtype}")
    return grad_out
