"""Argument checks shared by the functional ops: clear errors naming the argument."""

from __future__ import annotations

import numpy as np


def check_array(x, name: str, ndim: int | None = None, shape_hint: str = "") -> np.ndarray:
    """Check that ``x`` is a floating-point ndarray of rank ``ndim``.

    Integer arrays are refused (a TypeError), because the ops keep the dtype
    they are given and an integer convolution would silently truncate.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} must have a floating dtype (float32 or float64), got {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        hint = f" {shape_hint}" if shape_hint else ""
        raise ValueError(f"{name} must have rank {ndim}{hint}, got shape {x.shape}")
    return x


def check_same_dtype(**arrays) -> None:
    """All named arrays must share one dtype (mixing float32 and float64 is a bug)."""
    dtypes = {name: a.dtype for name, a in arrays.items() if a is not None}
    if len(set(dtypes.values())) > 1:
        listing = ", ".join(f"{n}: {d}" for n, d in dtypes.items())
        raise TypeError(f"arrays must share one dtype, got {listing}")


def check_grad(grad_out: np.ndarray, shape: tuple, name: str = "dout") -> np.ndarray:
    """The upstream gradient must have the shape of the forward output."""
    check_array(grad_out, name)
    if grad_out.shape != tuple(shape):
        raise ValueError(f"{name} must have the forward output's shape {tuple(shape)}, "
                         f"got {grad_out.shape}")
    return grad_out
