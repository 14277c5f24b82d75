r"""Batch normalisation over the channels of an (N, C, H, W) batch, as in PyTorch.

Every channel ``c`` is normalised with statistics taken over the ``M = N*H*W``
values it has in the batch, then scaled and shifted by learned ``gamma[c]`` and
``beta[c]``:

.. math::

    \mu_c = \frac{1}{M}\sum_{n,h,w} x[n,c,h,w], \qquad
    \sigma^2_c = \frac{1}{M}\sum_{n,h,w} (x[n,c,h,w] - \mu_c)^2

    \hat x[n,c,h,w] = \frac{x[n,c,h,w] - \mu_c}{\sqrt{\sigma^2_c + \epsilon}}, \qquad
    out[n,c,h,w] = \gamma_c \, \hat x[n,c,h,w] + \beta_c

* **training**: ``mu`` and ``sigma^2`` are the batch's own (biased variance, divide
  by ``M``), and the running estimates move towards them *in place*:
  ``running_mean = (1 - momentum) * running_mean + momentum * mu`` and
  ``running_var = (1 - momentum) * running_var + momentum * sigma^2 * M / (M - 1)``
  (the *unbiased* variance, exactly like ``torch.nn.BatchNorm2d``).
* **eval**: ``mu`` and ``sigma^2`` are ``running_mean`` and ``running_var``, so
  BatchNorm is a fixed per-channel affine map ``out = a_c x + b_c``.

A batch with one value per channel (``M == 1``, e.g. ASPP's image-pooling branch
at batch size 1) cannot be normalised in training: the variance is 0, ``x_hat``
is 0 for every input and the unbiased running variance divides by zero. Like
torch we raise a ``ValueError``; in eval mode batch size 1 is fine.

Shapes: ``x`` (N, C, H, W); ``gamma``, ``beta``, ``running_mean``,
``running_var`` (C,); ``out`` like ``x``.

The backward pass (per channel, sums over ``n, h, w``; ``sigma = sqrt(sigma^2 + eps)``):

* ``dbeta = sum(dout)`` and ``dgamma = sum(dout * x_hat)``.
* eval: ``x_hat`` is affine in ``x`` with slope ``1 / sigma`` (the running stats are
  constants), so ``dx = gamma / sigma * dout``.
* training: ``mu`` and ``sigma`` depend on every ``x`` of the channel. With
  ``g = gamma * dout`` = dL/dx_hat, the chain rule through ``x_hat = (x - mu) / sigma``
  gives ``dx = (1/sigma) (g - mean(g) - x_hat mean(g x_hat))``: the gradient minus
  its component along the constant direction (the ``mu`` path) and along
  ``x_hat`` (the ``sigma`` path, since ``d sigma / dx = x_hat / M``). Pulling
  ``gamma`` out:

  .. math:: dx = \frac{\gamma}{\sigma}\Big(dout - \overline{dout}
            - \hat x\,\overline{dout\,\hat x}\Big)

The cache keeps the input ``x`` with ``mu`` and ``1/sigma`` (not ``x_hat``): the
backward pass recomputes ``x_hat = (x - mu) / sigma``, which costs a subtraction
and a product per value, where storing ``x_hat`` would cost writing a whole
array in the forward pass (PyTorch does the same).

The NumPy code here is the reference; :mod:`minideeplab.kernels.batchnorm` has
the same three hot loops (normalising a training batch with its own
statistics, normalising with given statistics, the backward pass) in Numba,
threads sharing the channels.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from ..errors import InputError, InputTypeError
from ._checks import check_array, check_grad, check_same_dtype
from ._dispatch import hot_loop

__all__ = ["batch_norm2d_forward", "batch_norm2d_backward", "BatchNorm2dCache"]


@dataclass
class BatchNorm2dCache:
    """What the backward pass needs from the forward pass."""

    x: np.ndarray           # (N, C, H, W) the input
    mean: np.ndarray        # (C,) mu: the batch's (training) or the running mean (eval)
    inv_std: np.ndarray     # (C,) 1 / sqrt(var + eps), var = batch's (training) or running (eval)
    gamma: np.ndarray       # (C,)
    training: bool          # whether mu and sigma were the batch's own (they then get gradients)

    @property
    def x_hat(self) -> np.ndarray:
        """The normalised input ``(x - mean) * inv_std`` (N, C, H, W), made on each access."""
        return (self.x - self.mean[None, :, None, None]) * self.inv_std[None, :, None, None]


# --------------------------------------------------------------------------- checks

def _check_bn_args(x, gamma, beta, running_mean, running_var, training, momentum, eps):
    check_array(x, "x", 4, "(N, C, H, W)")
    channels = x.shape[1]
    for name, value in (("gamma", gamma), ("beta", beta), ("running_mean", running_mean),
                        ("running_var", running_var)):
        check_array(value, name, 1, "(C,)")
        if value.shape != (channels,):
            raise InputError(f"{name} must have shape (C,) = ({channels},) to match x's "
                             f"{channels} channels, got {value.shape}")
    check_same_dtype(x=x, gamma=gamma, beta=beta, running_mean=running_mean,
                     running_var=running_var)
    if not isinstance(training, (bool, np.bool_)):
        raise InputTypeError(f"training must be a bool, got {training!r}")
    if not isinstance(momentum, numbers.Real) or not 0.0 <= momentum <= 1.0:
        raise InputError(f"momentum must be a number in [0, 1], got {momentum!r}")
    if not isinstance(eps, numbers.Real) or eps < 0:
        raise InputError(f"eps must be a non-negative number, got {eps!r}")
    values_per_channel = x.shape[0] * x.shape[2] * x.shape[3]
    if training and values_per_channel < 2:
        raise InputError(
            f"Expected more than 1 value per channel when training, got input of shape "
            f"{x.shape} (N*H*W = {values_per_channel}). BatchNorm in training mode needs a "
            "batch variance; a 1x1 map at batch size 1 (e.g. ASPP image pooling) has none. "
            "Use a batch of 2 or more, or eval mode."
        )
    if training:
        if not running_mean.flags.writeable or not running_var.flags.writeable:
            raise InputError("running_mean and running_var must be writeable arrays: training "
                             "mode updates them in place")


# --------------------------------------------------------------- reference hot loops

# Per-channel sums are written ``np.einsum("nchw->c", a)``: sum over n, h and w,
# keep c. NumPy's einsum does it in one pass, 2-3x faster than
# ``a.sum(axis=(0, 2, 3))`` on these shapes, and ``"nchw,nchw->c"`` sums a
# product without writing the product out. Element-wise steps work in place
# (``out=`` or ``*=``) on one array instead of making a new one per operator.

def _per_channel(values):
    """A (C,) array as (1, C, 1, 1), to broadcast against (N, C, H, W)."""
    return values[None, :, None, None]


def _normalize_numpy(x, mean, inv_std, gamma, beta):
    """``out = gamma * x_hat + beta`` with ``x_hat = (x - mean) * inv_std``, per channel."""
    out = x - _per_channel(mean)
    out *= _per_channel(gamma * inv_std)
    out += _per_channel(beta)
    return out


def _normalize_batch_numpy(x, gamma, beta, eps):
    """Training: normalise with the batch's own statistics. ``(out, mean, var, inv_std)``.

    ``mean`` and ``var`` (the biased variance) are taken per channel over (N, H, W).
    """
    values_per_channel = x.shape[0] * x.shape[2] * x.shape[3]
    mean = np.einsum("nchw->c", x) / values_per_channel
    centred = x - _per_channel(mean)
    var = np.einsum("nchw,nchw->c", centred, centred) / values_per_channel
    inv_std = (1.0 / np.sqrt(var + eps)).astype(x.dtype)
    # out = gamma * (x - mean) * inv_std + beta, in place on the centred values
    centred *= _per_channel(gamma * inv_std)
    centred += _per_channel(beta)
    return centred, mean, var, inv_std


def _backward_numpy(dout, x, mean, inv_std, gamma, training):
    """``(dx, dgamma, dbeta)``; see the module docstring for the derivation."""
    x_hat = x - _per_channel(mean)
    x_hat *= _per_channel(inv_std)
    dbeta = np.einsum("nchw->c", dout)
    dgamma = np.einsum("nchw,nchw->c", dout, x_hat)
    scale = _per_channel(gamma * inv_std)
    if not training:
        return scale * dout, dgamma, dbeta
    values_per_channel = dout.shape[0] * dout.shape[2] * dout.shape[3]
    mean_dout = dbeta / values_per_channel
    mean_dout_x_hat = dgamma / values_per_channel
    # dx = scale * (dout - mean(dout) - x_hat * mean(dout * x_hat)), reusing x_hat's array
    dx = x_hat
    dx *= _per_channel(-mean_dout_x_hat)
    dx += dout
    dx -= _per_channel(mean_dout)
    dx *= scale
    return dx, dgamma, dbeta


# ------------------------------------------------------------------------ public API

def batch_norm2d_forward(x, gamma, beta, running_mean, running_var, training, momentum=0.1,
                         eps=1e-5):
    """Normalise ``x`` (N, C, H, W) per channel, then scale by ``gamma`` and shift by ``beta``.

    ``training=True`` uses the batch's mean and biased variance and updates
    ``running_mean`` / ``running_var`` (C,) **in place** (running_var with the
    unbiased variance); ``training=False`` uses the running statistics and
    leaves them alone. All arrays share one floating dtype, which ``out`` keeps.
    Returns ``(out, cache)`` for :func:`batch_norm2d_backward`.
    """
    _check_bn_args(x, gamma, beta, running_mean, running_var, training, momentum, eps)
    x = np.ascontiguousarray(x)
    gamma, beta = np.ascontiguousarray(gamma), np.ascontiguousarray(beta)
    if training:
        normalize_batch = hot_loop("batchnorm", "normalize_batch", _normalize_batch_numpy)
        out, mean, var, inv_std = normalize_batch(x, gamma, beta, eps)
        values_per_channel = x.shape[0] * x.shape[2] * x.shape[3]
        unbiased_var = var * (values_per_channel / (values_per_channel - 1))
        # in place, so the caller's (the layer's) buffers see the update
        running_mean *= 1.0 - momentum
        running_mean += momentum * mean
        running_var *= 1.0 - momentum
        running_var += momentum * unbiased_var
    else:
        normalize = hot_loop("batchnorm", "normalize", _normalize_numpy)
        mean = np.array(running_mean, dtype=x.dtype)       # a copy: training may update it
        inv_std = (1.0 / np.sqrt(running_var + eps)).astype(x.dtype)
        out = normalize(x, mean, inv_std, gamma, beta)
    cache = BatchNorm2dCache(x, mean, inv_std, np.array(gamma, copy=True), bool(training))
    return out, cache


def batch_norm2d_backward(dout, cache: BatchNorm2dCache):
    """Gradients ``(dx, dgamma, dbeta)`` given ``dout`` = dL/d(out) of shape (N, C, H, W).

    ``dx`` is shaped like x, ``dgamma`` and ``dbeta`` like gamma (C,). Works for
    both modes: in eval the running statistics are constants.
    """
    check_grad(dout, cache.x.shape, cache.x.dtype)
    dout = np.ascontiguousarray(dout)
    backward = hot_loop("batchnorm", "backward", _backward_numpy)
    return backward(dout, cache.x, cache.mean, cache.inv_std, cache.gamma, cache.training)
