"""A small Xception/MobileNet-like backbone whose output stride is set by dilation.

Layout (strides are relative to the input image):

    stem      3x3 conv, stride 2, BN, ReLU                      stride 2
    stage 0   separable blocks, the first with stride 2         stride 4   -> low-level features
    stage 1   separable blocks, the first with stride 2         stride 8
    stage 2   separable blocks, the first with stride 2         stride 16
    stage 3   separable blocks, the first with stride 2         stride 32

Built as is, the network has output stride 32. DeepLab makes the features
denser by **replacing strides with dilation**: once the requested
``output_stride`` is reached, a stage's stride becomes 1 and its dilation is
multiplied by 2 instead. The later layers then sample the (now twice larger)
map with holes twice as far apart, so every weight sees the same input pixels
as in the strided network, at twice as many positions. Following DeepLab's
ResNets, the first block of a dilated stage keeps the previous dilation (it is
where the stride was) and the following blocks use the new one.

``multi_grid`` (DeepLabV3, Sec. 4.2) multiplies the rates of the last stage's
blocks by unit rates such as (1, 2): the stage then mixes two scales.
"""

from __future__ import annotations

from ..errors import InputError
from ..nn.blocks import ConvBNReLU, SeparableConv2d
from ..nn.module import Module, ModuleList, Sequential

__all__ = ["Backbone", "stage_schedule"]

NATIVE_OUTPUT_STRIDE = 32


def stage_schedule(blocks=(2, 2, 2, 2), output_stride=16, multi_grid=None, stem_stride=2):
    """``(stride, dilation)`` of every block, stage by stage: where strides become dilations.

    Each stage would halve the resolution. Once that would pass
    ``output_stride``, the stage keeps stride 1 and doubles the dilation
    instead; its first block (where the stride was) keeps the previous
    dilation. ``multi_grid`` multiplies the last stage's rates by unit rates.

    >>> stage_schedule((2, 2, 2, 2), output_stride=16)
    [[(2, 1), (1, 1)], [(2, 1), (1, 1)], [(2, 1), (1, 1)], [(1, 1), (1, 2)]]
    """
    current_stride, dilation = stem_stride, 1
    schedule = []
    for index, count in enumerate(blocks):
        previous_dilation = dilation
        if current_stride * 2 > output_stride:
            stride, dilation = 1, dilation * 2       # stride replaced by dilation
        else:
            stride, current_stride = 2, current_stride * 2
        stage = []
        for block in range(count):
            rate = previous_dilation if block == 0 else dilation
            if index == len(blocks) - 1 and multi_grid is not None:
                rate = dilation * multi_grid[block]
            stage.append((stride if block == 0 else 1, rate))
        schedule.append(stage)
    return schedule


class Backbone(Module):
    """Stem + four stages of separable (or standard) 3x3 blocks.

    ``forward(x)`` returns ``(features, low_level)``: the final features at
    ``output_stride`` and the stride-4 features of stage 0 for the decoder.
    ``backward(grad_features, grad_low_level)`` returns the input gradient.
    ``grad_low_level`` may be None (DeepLabV3 without decoder); ``input_grad=False``
    skips the input gradient (None; the stem's conv computes its dW and db only).
    """

    def __init__(self, in_channels=3, stem_channels=16, widths=(24, 48, 96, 128),
                 blocks=(2, 2, 2, 2), output_stride=16, separable=True, multi_grid=None,
                 rng=None):
        super().__init__()
        if output_stride not in (4, 8, 16, 32):
            raise InputError(f"output_stride must be 8, 16 or 32 (or 4), got {output_stride!r}")
        if len(widths) != 4 or len(blocks) != 4:
            raise InputError(f"widths and blocks need one entry per stage (4), got {widths}, "
                             f"{blocks}")
        if any(b < 1 for b in blocks):
            raise InputError(f"every stage needs at least one block, got blocks={blocks}")
        if multi_grid is not None and len(multi_grid) != blocks[-1]:
            raise InputError(f"multi_grid needs one unit rate per block of the last stage "
                             f"({blocks[-1]}), got {multi_grid}")
        self.output_stride = int(output_stride)
        self.out_channels = widths[-1]
        self.low_level_channels = widths[0]
        self.stem = ConvBNReLU(in_channels, stem_channels, 3, stride=2, rng=rng)

        stages, previous = [], stem_channels
        for width, plan in zip(widths, stage_schedule(blocks, output_stride, multi_grid),
                                   strict=True):
            stage = []
            for block, (stride, rate) in enumerate(plan):
                stage.append(self._block(previous if block == 0 else width, width, stride, rate,
                                         separable, rng))
            stages.append(Sequential(stage))
            previous = width
        self.stages = ModuleList(stages)

    @staticmethod
    def _block(in_channels, out_channels, stride, dilation, separable, rng):
        if separable:
            return SeparableConv2d(in_channels, out_channels, 3, stride=stride, dilation=dilation,
                                   rng=rng)
        return ConvBNReLU(in_channels, out_channels, 3, stride=stride, dilation=dilation, rng=rng)

    def layer_specs(self):
        """The layers in data-flow order (:mod:`minideeplab.geometry`): stem, then stages."""
        return [self.stem, *self.stages]

    def forward(self, x):
        x = self.stem(x)
        low_level = x = self.stages[0](x)
        for stage in list(self.stages)[1:]:
            x = stage(x)
        return x, low_level

    def backward(self, grad_features, grad_low_level=None, input_grad=True):
        grad = grad_features
        for stage in reversed(list(self.stages)[1:]):
            grad = stage.backward(grad)
        if grad_low_level is not None:
            # stage 0's output fed both stage 1 and the decoder: the gradients add
            grad = grad + grad_low_level
        grad = self.stages[0].backward(grad)
        return self.stem.backward(grad, input_grad=input_grad)
