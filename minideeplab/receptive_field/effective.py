r"""The effective receptive field: how much each input pixel *does* change one output.

Luo et al. ("Understanding the Effective Receptive Field in Deep Convolutional
Neural Networks", NeurIPS 2016) set the gradient to 1 at one output unit and 0
elsewhere, back-propagate to the input, and look at ``|d y_centre / d x|``
(:func:`effective_receptive_field`). Its mass is roughly Gaussian and
concentrated near the centre: a stack of ``n`` uniform ``k``-tap kernels gives
the ``n``-fold convolution of a uniform distribution, whose variance is
``n (k^2 - 1) / 12`` per axis, so the ERF's width grows like ``sqrt(n)`` while
the theoretical field (:mod:`.theoretical`) grows like ``n``.

Reading the map as a distribution over pixels: :func:`erf_moments` gives its
centre and variance per axis, :func:`erf_radius` the half-width of the square
(or disc) that holds a given share of its mass -- comparable with the
theoretical field's side. :func:`check_erf` is the check both apply to a map.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import InputError, InputTypeError
from ..geometry import pair
from ..nn.module import Module

__all__ = ["effective_receptive_field", "check_erf", "erf_moments", "erf_radius"]


def effective_receptive_field(model, input_shape, n_samples: int = 8, seed: int = 0,
                              output_index=None, channel: int | None = None) -> np.ndarray:
    r"""Luo et al.'s effective receptive field of one output unit, as an (H, W) map summing to 1.

    For ``n_samples`` random inputs ``x ~ N(0, 1)`` of shape ``input_shape`` =
    ``(C, H, W)``, run ``y = model(x)``, set the upstream gradient to 1 at the
    output unit ``output_index`` = ``(i, j)`` (default: the centre of the output
    map) -- in every output channel, or only in ``channel`` -- and 0 elsewhere,
    and back-propagate with ``dx = model.backward(grad)``. Then

    .. math::  ERF[h, w] \propto \frac{1}{N} \sum_n \sum_c
               \left| \frac{\partial y_{centre}}{\partial x[n, c, h, w]} \right|

    normalised to sum 1.

    **Measured in eval mode.** In training mode BatchNorm normalises with the
    statistics of the whole batch and of every pixel, so the centre output
    depends a little on *every* input pixel of every sample: the gradient would
    be non-zero everywhere and hide the locality we want to see. Eval mode
    (running statistics, no dropout) makes every sample an independent function
    of its own pixels, which also lets the ``n_samples`` inputs run as one batch.
    The model's modes and parameter gradients are restored afterwards.

    ``model`` is any callable with a ``backward(grad_out)`` method, e.g. an
    :class:`~minideeplab.nn.Module`, whose output is (N, C_out, H_out, W_out).
    """
    if not callable(model) or not callable(getattr(model, "backward", None)):
        raise InputTypeError(f"model must be callable and have a backward(grad_out) method, "
                             f"got {type(model).__name__}")
    if (not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3
            or not all(isinstance(v, numbers.Integral) and v >= 1 for v in input_shape)):
        raise InputError(f"input_shape must be (C, H, W) with positive ints, got {input_shape!r}")
    if not isinstance(n_samples, numbers.Integral) or n_samples < 1:
        raise InputError(f"n_samples must be a positive int, got {n_samples!r}")

    modules = list(model.modules()) if isinstance(model, Module) else []
    saved_modes = [module.training for module in modules]
    parameters = model.parameters() if isinstance(model, Module) else []
    saved_grads = [parameter.grad.copy() for parameter in parameters]
    dtype = model.dtype if isinstance(model, Module) else np.float64
    if hasattr(model, "eval"):
        model.eval()
    try:
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n_samples, *input_shape)).astype(dtype)
        y = model(x)
        if not isinstance(y, np.ndarray) or y.ndim != 4:
            raise InputError(f"the model's output must be an (N, C, H, W) array, "
                             f"got {getattr(y, 'shape', type(y).__name__)}")
        _, c_out, h_out, w_out = y.shape
        if output_index is None:
            output_index = (h_out // 2, w_out // 2)
        i, j = pair(output_index, "output_index", minimum=0)
        if i >= h_out or j >= w_out:
            raise InputError(f"output_index {(i, j)} is outside the output map {(h_out, w_out)}")
        grad = np.zeros_like(y)
        if channel is None:
            grad[:, :, i, j] = 1.0
        else:
            if not isinstance(channel, numbers.Integral) or not 0 <= channel < c_out:
                raise InputError(f"channel must be an int in [0, {c_out}), got {channel!r}")
            grad[:, channel, i, j] = 1.0
        dx = model.backward(grad)
        if not isinstance(dx, np.ndarray) or dx.shape != x.shape:
            raise InputTypeError(
                f"model.backward must return the input gradient, an array of shape {x.shape}; "
                f"got {getattr(dx, 'shape', type(dx).__name__)}")
    finally:
        for module, mode in zip(modules, saved_modes, strict=True):
            module.training = mode
        for parameter, grad_before in zip(parameters, saved_grads, strict=True):
            parameter.grad = grad_before
    erf = np.abs(np.asarray(dx, dtype=np.float64)).sum(axis=1).mean(axis=0)
    total = erf.sum()
    if total == 0.0:
        raise RuntimeError("the gradient of the chosen output is zero at every input pixel "
                           "(every path blocked, e.g. all ReLUs dead); no ERF to normalise")
    return erf / total


def check_erf(erf) -> np.ndarray:
    """An ERF map as a float64 (H, W) array summing to 1; a ``ValueError`` naming ``erf`` otherwise.

    Any non-negative map with a positive sum is accepted (e.g. an unnormalised
    gradient magnitude) and normalised, so that it reads as a distribution.
    """
    erf = np.asarray(erf, dtype=np.float64)
    if erf.ndim != 2:
        raise InputError(f"erf must be an (H, W) array, got shape {erf.shape}")
    if np.any(erf < 0) or erf.sum() <= 0:
        raise InputError("erf must be non-negative with a positive sum")
    return erf / erf.sum()


def erf_moments(erf):
    """Centre of mass ``(cy, cx)`` and variance ``(var_y, var_x)`` of an ERF, per axis.

    The ERF is read as a probability distribution over pixels; its marginals
    along rows and columns give ``mean = sum_h h p(h)`` and
    ``var = sum_h (h - mean)^2 p(h)``. For ``n`` stacked uniform ``k``-tap
    kernels ``var = n (k^2 - 1) / 12`` exactly.
    """
    erf = check_erf(erf)
    centres, variances = [], []
    for axis in range(2):
        marginal = erf.sum(axis=1 - axis)
        positions = np.arange(marginal.size, dtype=np.float64)
        mean = float(np.sum(positions * marginal))
        centres.append(mean)
        variances.append(float(np.sum((positions - mean) ** 2 * marginal)))
    return tuple(centres), tuple(variances)


def erf_radius(erf, share: float = 0.9, centre=None, metric: str = "box") -> float:
    """Smallest radius around ``centre`` that holds ``share`` of the ERF's mass.

    ``metric="box"`` (default) measures the Chebyshev distance
    ``max(|h - cy|, |w - cx|)``, so the square of side ``2 radius + 1`` holds the
    share -- directly comparable with the (square) theoretical field of side
    ``r``. ``metric="disc"`` uses the Euclidean distance. ``centre`` defaults to
    the ERF's centre of mass.
    """
    erf = check_erf(erf)
    if not 0.0 < share <= 1.0:
        raise InputError(f"share must be in (0, 1], got {share!r}")
    if metric not in ("box", "disc"):
        raise InputError(f"metric must be 'box' or 'disc', got {metric!r}")
    if centre is None:
        centre, _ = erf_moments(erf)
    rows, cols = np.indices(erf.shape, dtype=np.float64)
    dy, dx = np.abs(rows - centre[0]), np.abs(cols - centre[1])
    distance = np.maximum(dy, dx) if metric == "box" else np.hypot(dy, dx)
    order = np.argsort(distance, axis=None, kind="stable")
    cumulative = np.cumsum(erf.reshape(-1)[order])
    # a small tolerance: a share of exactly 1.0 must not fail on rounding
    position = int(np.searchsorted(cumulative, share - 1e-12))
    position = min(position, cumulative.size - 1)
    return float(distance.reshape(-1)[order][position])
