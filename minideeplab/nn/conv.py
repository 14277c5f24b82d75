"""The convolution layer: ``nn.Conv2d`` with PyTorch's signature.

``Conv2d(3, 16, 3)`` is a standard 3x3 convolution, ``dilation=6`` makes it
atrous, ``groups=in_channels`` depthwise, ``kernel_size=1`` pointwise. The
arithmetic lives in :mod:`minideeplab.functional.conv`; this class owns the
weights and the cache between forward and backward.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..errors import InputError
from ..geometry import pair
from . import init
from .module import Module, Parameter

__all__ = ["Conv2d"]


class Conv2d(Module):
    """2-D convolution over (N, C_in, H, W) inputs.

    Parameters: ``weight`` (C_out, C_in // groups, kH, kW) and ``bias`` (C_out,)
    or None. Weights are He-normal with ``fan_in = C_in // groups * kH * kW``,
    biases zero.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, groups=1, bias=True, rng=None, dtype=np.float32):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("groups", groups)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise InputError(f"{name} must be a positive int, got {value!r}")
        if in_channels % groups or out_channels % groups:
            raise InputError(f"groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = pair(kernel_size, "kernel_size", minimum=1)
        self.stride = pair(stride, "stride", minimum=1)
        self.padding = pair(padding, "padding", minimum=0)
        self.dilation = pair(dilation, "dilation", minimum=1)
        self.groups = int(groups)
        kh, kw = self.kernel_size
        fan_in = in_channels // groups * kh * kw
        self.weight = Parameter(init.kaiming_normal(
            (out_channels, in_channels // groups, kh, kw), fan_in, rng, dtype))
        self.bias = Parameter(np.zeros(out_channels, dtype=dtype)) if bias else None

    def forward(self, x):
        out, cache = F.conv2d_forward(
            x, self.weight.data, None if self.bias is None else self.bias.data,
            self.stride, self.padding, self.dilation, self.groups)
        self._save_for_backward(cache)
        return out

    def backward(self, grad_out, input_grad=True):
        """Fill the parameters' grads; return dL/dx (``input_grad=False``: None, and dL/dx
        is not computed, as for the first layer in training, whose input is the data)."""
        cache = self._pop_cache()
        if input_grad or not getattr(F.conv2d_backward, "can_skip_input_grad", False):
            # (a learner's conv2d_backward, mdl.use_implementation: it takes (dout, cache)
            # and computes all three)
            dx, dw, db = F.conv2d_backward(grad_out, cache)
        else:
            dx, dw, db = F.conv2d_backward(grad_out, cache, input_grad=False)
        self.weight.grad += dw
        if self.bias is not None:
            self.bias.grad += db
        return dx if input_grad else None

    def extra_repr(self):
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        if self.stride != (1, 1):
            text += f", stride={self.stride}"
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text
