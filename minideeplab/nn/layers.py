"""The layers around the convolutions: BatchNorm2d, ReLU, Dropout, GlobalAvgPool2d, Upsample.

Each is a thin :class:`~minideeplab.nn.module.Module` over a forward/backward
pair in :mod:`minideeplab.functional`: ``forward`` calls ``<op>_forward`` and keeps
the cache, ``backward`` consumes it (so a second backward without a new forward
raises) and adds parameter gradients into ``parameter.grad``.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import functional as F
from ..errors import InputError, InputTypeError
from ..geometry import pair
from .module import Module, Parameter

__all__ = ["BatchNorm2d", "ReLU", "Dropout", "GlobalAvgPool2d", "Upsample"]


class BatchNorm2d(Module):
    """Batch normalisation of (N, C, H, W) inputs over N, H and W, per channel.

    Parameters ``weight`` (gamma, ones) and ``bias`` (beta, zeros), both (C,).
    Buffers, named as in torch so that state dicts line up: ``running_mean``
    (zeros), ``running_var`` (ones) and ``num_batches_tracked`` (an int64 scalar
    counting training batches). Training mode normalises with the batch's
    statistics and updates the running ones; eval mode uses the running ones.
    A training batch with one value per channel (N*H*W == 1) raises a ValueError.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, dtype=np.float32):
        super().__init__()
        if not isinstance(num_features, numbers.Integral) or num_features < 1:
            raise InputError(f"num_features must be a positive int, got {num_features!r}")
        if not isinstance(momentum, numbers.Real) or not 0.0 <= momentum <= 1.0:
            raise InputError(f"momentum must be a number in [0, 1], got {momentum!r}")
        if not isinstance(eps, numbers.Real) or eps < 0:
            raise InputError(f"eps must be a non-negative number, got {eps!r}")
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.weight = Parameter(np.ones(num_features, dtype=dtype))
        self.bias = Parameter(np.zeros(num_features, dtype=dtype))
        self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
        self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
        self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))

    def forward(self, x):
        # the buffers are read afresh (load_state_dict / astype replace them) and
        # updated in place by the functional op
        out, cache = F.batch_norm2d_forward(
            x, self.weight.data, self.bias.data, self.running_mean, self.running_var,
            self.training, self.momentum, self.eps)
        if self.training:
            # item assignment, not `self.num_batches_tracked += 1`: assigning the
            # attribute would go through Module.__setattr__
            self.num_batches_tracked[...] = self.num_batches_tracked + 1
        self._save_for_backward(cache)
        return out

    def backward(self, grad_out):
        dx, dgamma, dbeta = F.batch_norm2d_backward(grad_out, self._pop_cache())
        self.weight.grad += dgamma
        self.bias.grad += dbeta
        return dx

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class ReLU(Module):
    """``max(x, 0)`` element-wise."""

    def forward(self, x):
        out, cache = F.relu_forward(x)
        self._save_for_backward(cache)
        return out

    def backward(self, grad_out):
        return F.relu_backward(grad_out, self._pop_cache())


class Dropout(Module):
    """Inverted dropout with probability ``p``; the identity in eval mode.

    The layer owns a ``numpy.random.Generator`` seeded with ``seed`` (unseeded
    when None) and draws a fresh mask on every training forward pass.
    """

    def __init__(self, p=0.1, seed=None):
        super().__init__()
        if not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
            raise InputError(f"p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)
        self.rng = np.random.default_rng(seed)

    def forward(self, x):
        out, cache = F.dropout_forward(x, self.p, self.training, self.rng)
        self._save_for_backward(cache)
        return out

    def backward(self, grad_out):
        return F.dropout_backward(grad_out, self._pop_cache())

    def extra_repr(self):
        return f"p={self.p}"


class GlobalAvgPool2d(Module):
    """Mean over H and W: (N, C, H, W) -> (N, C, 1, 1) (ASPP's image-pooling branch)."""

    def forward(self, x):
        out, cache = F.global_avg_pool2d_forward(x)
        self._save_for_backward(cache)
        return out

    def backward(self, grad_out):
        return F.global_avg_pool2d_backward(grad_out, self._pop_cache())


class Upsample(Module):
    """Bilinear resize to a fixed ``size`` or by a ``scale_factor``, as ``torch.nn.Upsample``.

    ``size`` (an int or ``(H_out, W_out)``) may instead be given at call time,
    ``layer(x, size=(h, w))``, which is how DeepLab resizes to a feature map's
    or the image's size. With ``scale_factor`` the output is
    ``floor(H * scale_factor)`` (per axis) and the interpolation uses the ratio of
    the sizes, i.e. torch's ``recompute_scale_factor=True``; for integer factors
    that is identical to torch's default.
    """

    def __init__(self, size=None, scale_factor=None, align_corners=False, mode="bilinear"):
        super().__init__()
        if mode != "bilinear":
            raise InputError(f"mode must be 'bilinear' (the only one implemented), got {mode!r}")
        if size is not None and scale_factor is not None:
            raise InputError("give either size or scale_factor, not both")
        self.size = None if size is None else pair(size, "size", minimum=1)
        if scale_factor is not None:
            factors = (scale_factor, scale_factor) if isinstance(scale_factor, numbers.Real) \
                else tuple(scale_factor)
            if len(factors) != 2 or not all(isinstance(f, numbers.Real) and f > 0
                                            for f in factors):
                raise InputError(f"scale_factor must be a positive number or an (h, w) pair, "
                                 f"got {scale_factor!r}")
            # kept as given, like torch: a number, or an (h, w) pair
            scale_factor = float(scale_factor) if isinstance(scale_factor, numbers.Real) \
                else (float(factors[0]), float(factors[1]))
        self.scale_factor = scale_factor
        if not isinstance(align_corners, (bool, np.bool_)):
            raise InputTypeError(f"align_corners must be a bool, got {align_corners!r}")
        self.align_corners = bool(align_corners)

    def _output_size(self, x, size):
        if size is not None:
            return pair(size, "size", minimum=1)
        if self.size is not None:
            return self.size
        if self.scale_factor is not None:
            if not isinstance(x, np.ndarray) or x.ndim != 4:
                raise InputError(f"x must have rank 4 (N, C, H, W), got shape {np.shape(x)}")
            factors = self.scale_factor if isinstance(self.scale_factor, tuple) \
                else (self.scale_factor, self.scale_factor)
            return (int(np.floor(x.shape[2] * factors[0])),
                    int(np.floor(x.shape[3] * factors[1])))
        raise InputError("Upsample needs a size: give size or scale_factor to the constructor, "
                         "or size=(h, w) when calling the layer")

    def forward(self, x, size=None):
        out, cache = F.bilinear_resize_forward(x, self._output_size(x, size), self.align_corners)
        self._save_for_backward(cache)
        return out

    def backward(self, grad_out):
        return F.bilinear_resize_backward(grad_out, self._pop_cache())

    def extra_repr(self):
        what = f"size={self.size}" if self.size is not None else (
            f"scale_factor={self.scale_factor}" if self.scale_factor is not None else "size=None")
        return f"{what}, mode='bilinear', align_corners={self.align_corners}"
