"""DeepLabV3+ (Chen et al., ECCV 2018) and DeepLabV3 (``decoder=False``), small enough for a CPU.

    image ──backbone──> features (stride 16) ──ASPP──> encoder output
      │                                                   │ upsample x4
      └── stage 0 (stride 4) ── 1x1 projection ──concat───┘
                                                 │ two 3x3 convs, 1x1 classifier
                                                 └─ upsample x4 ──> logits (N, classes, H, W)

Why the default ASPP rates are (1, 2, 3) and not the paper's (6, 12, 18): the
paper trains on 513x513 crops at output stride 16, a 33x33 feature map, where a
3x3 conv at rate 18 keeps 40% of its taps on the map on average. Our default
images are 64x64, so the map is 4x4: at rate 6 or more every tap but the
centre falls on zero padding, and the "atrous" branch degenerates into a 1x1
conv (DeepLabV3, Sec. 3.3, Fig. 4). (1, 2, 3) is a choice for a 4x4 map, not a
proportional scaling (scaled by 4/33 and rounded, the paper's rates would be
(1, 1, 2)): three different rates, the largest with a quarter of its taps on
the map.

Rates are given for output stride 16 and scale with it: halving the output
stride doubles the map, so the rates double to keep the field of view the same
in input pixels.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..geometry import ParallelSpec, UpsampleSpec
from ..nn.blocks import ASPP, Decoder
from ..nn.conv import Conv2d
from ..nn.layers import Upsample
from ..nn.module import Module
from .backbone import Backbone

__all__ = ["DeepLabV3Plus", "deeplab_config", "scale_rates"]


def scale_rates(rates, output_stride, reference_stride=16):
    """Rates given at ``reference_stride`` for another output stride (at least 1).

    >>> scale_rates((1, 2, 3), 8)
    (2, 4, 6)
    """
    factor = reference_stride / output_stride
    return tuple(max(1, int(round(r * factor))) for r in rates)


def deeplab_config(num_classes, *, in_channels=3, output_stride=16, decoder=True, separable=True,
                   stem_channels=16, widths=(24, 48, 96, 128), blocks=(2, 2, 2, 2),
                   aspp_channels=64, aspp_rates=(1, 2, 3), aspp_pooling=True,
                   low_level_channels=24,
                   decoder_channels=64, dropout=0.1, multi_grid=None, seed=0) -> dict:
    """The arguments of :class:`DeepLabV3Plus`, checked, as a plain dict (JSON-able).

    The one place the model's options and their defaults are written:
    ``DeepLabV3Plus(num_classes, **options)`` and its PyTorch twin
    (:mod:`minideeplab.interop.torch`) both build from this dict, and a
    checkpoint stores it so the model can be rebuilt.

    >>> deeplab_config(5)["aspp_rates"]
    (1, 2, 3)
    """
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise InputError(f"num_classes must be a positive int, got {num_classes!r}")
    return dict(
        num_classes=int(num_classes), in_channels=int(in_channels),
        output_stride=int(output_stride), decoder=bool(decoder), separable=bool(separable),
        stem_channels=stem_channels, widths=tuple(widths), blocks=tuple(blocks),
        aspp_channels=aspp_channels, aspp_rates=tuple(aspp_rates),
        aspp_pooling=bool(aspp_pooling),
        low_level_channels=low_level_channels, decoder_channels=decoder_channels,
        dropout=dropout, multi_grid=None if multi_grid is None else tuple(multi_grid),
        seed=seed)


class DeepLabV3Plus(Module):
    """DeepLabV3+ with a small separable backbone; ``decoder=False`` gives DeepLabV3.

    Options (keyword-only, checked and stored by :func:`deeplab_config`, which
    holds their defaults; ``model.config`` is that dict):
        num_classes: number of classes C; the output is (N, C, H, W) logits.
        in_channels: image channels (3).
        output_stride: 8, 16 or 32, reached by dilation in the backbone.
        decoder: True for DeepLabV3+, False for DeepLabV3 (logits upsampled
            straight from the encoder, x output_stride).
        separable: atrous separable convs in backbone, ASPP and decoder; False
            uses standard 3x3 convs (for the ablation).
        stem_channels, widths, blocks: backbone sizes (see :class:`Backbone`).
        aspp_channels: channels of every ASPP branch and of its projection.
        aspp_rates: atrous rates at output stride 16 (scaled for other strides);
            ``()`` leaves ASPP without atrous branches.
        aspp_pooling: False leaves out ASPP's image-pooling branch.
        low_level_channels: the decoder's 1x1 projection of the stride-4 features.
        decoder_channels: channels of the decoder's 3x3 convs.
        dropout: after the ASPP projection.
        multi_grid: unit rates for the last backbone stage, e.g. (1, 2).
        seed: seeds the weight initialisation and dropout.

    ``model.backward(dlogits)`` returns dL/d(image) and fills every parameter's grad;
    ``model.backward(dlogits, input_grad=False)`` (what ``train()`` calls) fills the
    grads only: the image's gradient, which training never uses, is not computed.
    """

    def __init__(self, num_classes, **options):
        super().__init__()
        c = self.config = deeplab_config(num_classes, **options)
        rng = np.random.default_rng(c["seed"])
        self.num_classes, self.in_channels = c["num_classes"], c["in_channels"]
        self.output_stride = c["output_stride"]
        self.rates = scale_rates(c["aspp_rates"], self.output_stride)
        self.backbone = Backbone(c["in_channels"], c["stem_channels"], c["widths"], c["blocks"],
                                 self.output_stride, c["separable"], c["multi_grid"], rng=rng)
        self.aspp = ASPP(self.backbone.out_channels, c["aspp_channels"], self.rates,
                         separable=c["separable"], dropout=c["dropout"],
                         image_pooling=c["aspp_pooling"], rng=rng)
        if c["decoder"]:
            self.decoder = Decoder(c["aspp_channels"], self.backbone.low_level_channels,
                                   self.num_classes, project_channels=c["low_level_channels"],
                                   channels=c["decoder_channels"], separable=c["separable"],
                                   rng=rng)
        else:
            self.decoder = None
            self.classifier = Conv2d(c["aspp_channels"], self.num_classes, 1, bias=True, rng=rng)
        self.upsample = Upsample()

    def forward(self, x):
        if not isinstance(x, np.ndarray) or x.ndim != 4 or x.shape[1] != self.in_channels:
            shape = getattr(x, "shape", type(x).__name__)
            raise InputError(f"x must be an image batch (N, {self.in_channels}, H, W), "
                             f"got {shape}")
        features, low_level = self.backbone(x)
        encoded = self.aspp(features)
        if self.decoder is not None:
            logits = self.decoder(encoded, low_level)
        else:
            logits = self.classifier(encoded)
        return self.upsample(logits, size=x.shape[2:])

    def backward(self, grad_logits, input_grad=True):
        grad = self.upsample.backward(grad_logits)
        if self.decoder is not None:
            grad_encoded, grad_low_level = self.decoder.backward(grad)
        else:
            grad_encoded, grad_low_level = self.classifier.backward(grad), None
        grad_features = self.aspp.backward(grad_encoded)
        return self.backbone.backward(grad_features, grad_low_level, input_grad=input_grad)

    def layer_specs(self):
        """The model's layers in data-flow order, as :mod:`minideeplab.geometry` specs.

        Its modules (backbone stages, ASPP) describe their own layers in turn.
        The decoder joins two paths (the stride-4 features and the upsampled
        encoder output), described as parallel branches; the field of the
        output is the larger of the two, i.e. the encoder's.
        """
        encoder = [*list(self.backbone.stages)[1:], self.aspp]
        if self.decoder is None:
            return [self.backbone.stem, self.backbone.stages[0], *encoder, self.classifier,
                    UpsampleSpec(self.output_stride, "upsample to the input")]
        to_stride_4 = UpsampleSpec(self.output_stride // 4, "upsample encoder to stride 4")
        return [
            self.backbone.stem, self.backbone.stages[0],
            ParallelSpec("decoder", [[self.decoder.project], [*encoder, to_stride_4]],
                         branch_names=["low-level", "encoder"]),
            self.decoder.fuse, self.decoder.classifier,
            UpsampleSpec(4, "upsample to the input"),
        ]

    def predict(self, x):
        """Class index per pixel (N, H, W), in eval mode; the mode is restored after."""
        was_training = self.training
        self.eval()
        try:
            return self.forward(x).argmax(axis=1)
        finally:
            self.train(was_training)

    def extra_repr(self):
        return (f"num_classes={self.num_classes}, output_stride={self.output_stride}, "
                f"decoder={self.decoder is not None}, rates={self.rates}")
