"""Counting parameters and mult-adds, per layer and in total.

``mult-adds`` counts the multiply-accumulate operations of convolutions (the
work that dominates a CNN; BatchNorm, ReLU and resizing are not counted), per
image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .nn.conv import Conv2d
from .nn.module import Module, record_calls

__all__ = ["count_parameters", "layer_mult_adds", "summary", "LayerRow", "Summary"]


def count_parameters(module) -> int:
    """Number of learnable scalars in ``module`` (weights and biases; not buffers).

    >>> from minideeplab import nn
    >>> count_parameters(nn.Conv2d(3, 16, 3, bias=False))
    432
    """
    return int(sum(p.data.size for p in module.parameters()))


def layer_mult_adds(layer, output_size) -> int:
    """Multiply-adds of a convolution layer producing an ``output_size`` (H_out, W_out) map.

    Every output value needs ``C_in / groups * kH * kW`` products:
    ``mult_adds = C_out * (C_in / groups) * kH * kW * H_out * W_out`` (per image;
    the bias add is not counted).
    """
    h_out, w_out = output_size
    c_out, c_per_group, kh, kw = layer.weight.data.shape
    return int(c_out * c_per_group * kh * kw * h_out * w_out)


@dataclass
class LayerRow:
    name: str
    kind: str
    output_shape: tuple
    parameters: int
    mult_adds: int
    note: str = ""


@dataclass
class Summary:
    rows: list
    total_parameters: int
    total_mult_adds: int
    input_shape: tuple

    def __str__(self):
        header = (f"{'layer':<42} {'type':<16} {'output shape':<18} {'params':>9} "
                  f"{'mult-adds':>12}  note")
        lines = [header, "-" * len(header)]
        for row in self.rows:
            lines.append(f"{row.name:<42} {row.kind:<16} {str(row.output_shape):<18} "
                         f"{row.parameters:>9,} {row.mult_adds:>12,}  {row.note}")
        lines.append("-" * len(header))
        lines.append(f"{'total':<42} {'':<16} {'input ' + str(self.input_shape):<18} "
                     f"{self.total_parameters:>9,} {self.total_mult_adds:>12,}")
        return "\n".join(lines)


def summary(model: Module, input_shape) -> Summary:
    """Run one forward pass (eval mode, zeros) and tabulate every layer.

    ``input_shape`` is (C, H, W) or (N, C, H, W); mult-adds are per image. Rows
    are the layers that own parameters, in call order; a separable block adds a
    note with its cost relative to a standard conv of the same shape, which is
    ``1/N + 1/k^2`` (N output channels, k x k kernel).
    """
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 3:
        shape = (1, *shape)
    if len(shape) != 4:
        raise InputError(f"input_shape must be (C, H, W) or (N, C, H, W), got {input_shape}")
    names = {id(module): name for name, module in model.named_modules()}
    calls = []
    with record_calls(lambda module, inputs, out: calls.append((module, out))):
        was_training = model.training
        model.eval()
        try:
            model(np.zeros(shape, dtype=model.dtype))
        finally:
            model.train(was_training)
    from .nn.blocks import SeparableConv2d

    rows = []
    for module, out in calls:
        out_shape = tuple(out.shape[1:]) if isinstance(out, np.ndarray) else ()
        own_parameters = int(sum(p.data.size for p in module._parameters.values()))
        name = names.get(id(module), "?")
        if isinstance(module, SeparableConv2d):
            n_out = module.pointwise.out_channels
            kh, kw = module.depthwise.kernel_size
            ratio = 1.0 / n_out + 1.0 / (kh * kw)
            rows.append(LayerRow(name, "SeparableConv2d", out_shape, 0, 0,
                                 f"{ratio:.3f} x a standard conv (1/N + 1/k^2, N={n_out})"))
            continue
        if own_parameters == 0:
            continue
        mult_adds = layer_mult_adds(module, out_shape[1:]) if isinstance(module, Conv2d) else 0
        rows.append(LayerRow(name, type(module).__name__, out_shape, own_parameters, mult_adds))
    # each module is counted once even if it were called twice
    seen, total_mult_adds = set(), 0
    for module, out in calls:
        if isinstance(module, Conv2d) and id(module) not in seen:
            seen.add(id(module))
            total_mult_adds += layer_mult_adds(module, out.shape[2:])
    return Summary(rows, count_parameters(model), total_mult_adds, shape[1:])
