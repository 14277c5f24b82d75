"""The building blocks of DeepLabV3+: separable convolution, ASPP and the decoder.

Each block writes its backward pass by hand, so that a reader sees the two
rules that every network graph needs beyond the chain rule:

* **fan-out sums**: when one tensor feeds several branches (ASPP's input feeds
  every branch), its gradient is the *sum* of the branches' input gradients;
* **concat splits**: the gradient of a concatenation is the upstream gradient
  cut back into the pieces that were concatenated.
"""

from __future__ import annotations

from .. import functional as F
from ..errors import InputError
from ..geometry import ParallelSpec, same_padding
from .conv import Conv2d
from .layers import BatchNorm2d, Dropout, GlobalAvgPool2d, ReLU, Upsample
from .module import Module, ModuleList, Sequential

__all__ = ["ConvBNReLU", "SeparableConv2d", "ASPPPooling", "ASPP", "Decoder"]


class ConvBNReLU(Sequential):
    """``Conv2d (no bias) -> BatchNorm2d -> ReLU``, the standard (non-separable) block.

    Keys: ``0.weight`` (conv), ``1.weight``/``1.bias``/``1.running_*`` (BN).
    Padding defaults to 'same' for the dilated kernel.
    """

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, dilation=1,
                 padding=None, rng=None):
        if padding is None:
            padding = same_padding(kernel_size, dilation)
        super().__init__([
            Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                   dilation=dilation, bias=False, rng=rng),
            BatchNorm2d(out_channels),
            ReLU(),
        ])


class SeparableConv2d(Module):
    """Atrous separable convolution: depthwise (dilated) -> BN -> ReLU -> pointwise -> BN -> ReLU.

    This is the form of the DeepLabV3+ paper (Sec. 3.2: "extra batch
    normalization and ReLU activation are added after each 3x3 depthwise
    convolution, similar to MobileNet"). With ``middle_activation=False`` the
    BN + ReLU between the two convolutions is left out (Xception's original
    form).

    A standard ``k x k`` convolution from N_in to N channels costs
    ``N_in * N * k^2`` weights; the separable one ``N_in * k^2 + N_in * N``, a
    ratio of ``1/N + 1/k^2`` (MobileNet, Howard et al. 2017): about 1/9 for
    3x3 kernels and many channels.

    Keys: ``depthwise.weight``, ``depthwise_bn.*``, ``pointwise.weight``, ``pointwise_bn.*``.
    """

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, dilation=1,
                 middle_activation=True, rng=None):
        super().__init__()
        self.middle_activation = bool(middle_activation)
        self.depthwise = Conv2d(in_channels, in_channels, kernel_size, stride=stride,
                                padding=same_padding(kernel_size, dilation), dilation=dilation,
                                groups=in_channels, bias=False, rng=rng)
        if self.middle_activation:
            self.depthwise_bn = BatchNorm2d(in_channels)
            self.depthwise_relu = ReLU()
        self.pointwise = Conv2d(in_channels, out_channels, 1, bias=False, rng=rng)
        self.pointwise_bn = BatchNorm2d(out_channels)
        self.pointwise_relu = ReLU()

    @property
    def stride(self):
        return self.depthwise.stride

    @property
    def dilation(self):
        return self.depthwise.dilation

    def layer_specs(self):
        """Its geometry: the depthwise conv, then the pointwise one (BN and ReLU have none)."""
        return [self.depthwise, self.pointwise]

    def forward(self, x):
        x = self.depthwise(x)
        if self.middle_activation:
            x = self.depthwise_relu(self.depthwise_bn(x))
        x = self.pointwise(x)
        return self.pointwise_relu(self.pointwise_bn(x))

    def backward(self, grad_out):
        grad = self.pointwise_bn.backward(self.pointwise_relu.backward(grad_out))
        grad = self.pointwise.backward(grad)
        if self.middle_activation:
            grad = self.depthwise_bn.backward(self.depthwise_relu.backward(grad))
        return self.depthwise.backward(grad)


class ASPPPooling(Module):
    """ASPP's image-level branch: global average pool -> 1x1 conv -> BN -> ReLU -> upsample.

    DeepLabV3 (Sec. 3.3) adds it because a 3x3 conv whose rate approaches the
    feature map's size sees only padding except at its centre tap: it
    degenerates into a 1x1 conv. The global pool gives every position the
    context of the whole image instead.

    The BN here normalises one value per channel and image. With batch size 1
    in training that single value has no variance and BN is undefined, so
    training raises a clear error (use batch >= 2); evaluation with batch 1
    works (it uses the running statistics).

    Upsampling a 1x1 map bilinearly copies the value everywhere, so the
    backward pass of that step sums the gradient over the map.
    """

    def __init__(self, in_channels, out_channels, rng=None):
        super().__init__()
        self.pool = GlobalAvgPool2d()
        self.conv = Conv2d(in_channels, out_channels, 1, bias=False, rng=rng)
        self.bn = BatchNorm2d(out_channels)
        self.relu = ReLU()
        self.upsample = Upsample()

    def layer_specs(self):
        """Its geometry: the global pool (broadcast back by the upsampling), then the 1x1 conv."""
        return [self.pool, self.conv]

    def forward(self, x):
        if self.training and x.shape[0] == 1:
            raise InputError(
                "ASPP image pooling: batch size 1 in training mode gives BatchNorm one value per "
                "channel, so its variance is undefined; train with batch size >= 2 "
                "(evaluation with batch size 1 works)")
        pooled = self.relu(self.bn(self.conv(self.pool(x))))
        return self.upsample(pooled, size=x.shape[2:])

    def backward(self, grad_out):
        grad = self.upsample.backward(grad_out)
        grad = self.conv.backward(self.bn.backward(self.relu.backward(grad)))
        return self.pool.backward(grad)


class ASPP(Module):
    """Atrous Spatial Pyramid Pooling (DeepLabV3, Sec. 3.3; DeepLabV3+ uses it as is).

    Parallel branches look at the same feature map at several scales:

    * branch 0: a 1x1 conv (rate 0, "the centre tap only"),
    * one 3x3 atrous conv per rate in ``rates`` (separable or standard),
    * the image-pooling branch (:class:`ASPPPooling`);

    each ends in BN + ReLU with ``out_channels`` channels. Their outputs are
    concatenated (``(len(rates) + 2) * out_channels`` channels) and projected
    back to ``out_channels`` by a 1x1 conv + BN + ReLU + dropout.

    In the paper the rates are (6, 12, 18) at output stride 16 on 513x513 crops,
    i.e. on a 33x33 feature map. Any number of rates works here, none included
    (``rates=()`` leaves the 1x1 and pooling branches); ``image_pooling=False``
    leaves out the pooling branch (for the ablation of notebook 03).

    Keys: ``branches.0.0.weight`` (1x1), ``branches.1.0....`` (first rate), ...,
    ``branches.{R+1}.conv.weight`` (pooling), ``project.0.weight``.
    """

    def __init__(self, in_channels, out_channels, rates, separable=True, dropout=0.1,
                 image_pooling=True, rng=None):
        super().__init__()
        rates = tuple(int(r) for r in rates)
        if any(r < 1 for r in rates):
            raise InputError(f"rates must be positive ints, got {rates}")
        self.rates = rates
        self.separable = bool(separable)
        self.image_pooling = bool(image_pooling)
        branches = [ConvBNReLU(in_channels, out_channels, 1, rng=rng)]
        for rate in rates:
            if separable:
                branches.append(Sequential([
                    SeparableConv2d(in_channels, out_channels, 3, dilation=rate, rng=rng)]))
            else:
                branches.append(ConvBNReLU(in_channels, out_channels, 3, dilation=rate, rng=rng))
        if self.image_pooling:
            branches.append(ASPPPooling(in_channels, out_channels, rng=rng))
        self.branches = ModuleList(branches)
        self.project = Sequential([
            Conv2d(len(branches) * out_channels, out_channels, 1, bias=False, rng=rng),
            BatchNorm2d(out_channels),
            ReLU(),
            Dropout(dropout, seed=None if rng is None else int(rng.integers(2**31))),
        ])

    def layer_specs(self):
        """Its geometry: the branches side by side (named after this block), then the projection."""
        names = ["1x1", *(f"rate {rate}" for rate in self.rates)]
        names += ["image pooling"] if self.image_pooling else []
        return [ParallelSpec(None, [[branch] for branch in self.branches], names), self.project]

    def forward(self, x):
        outputs = [branch(x) for branch in self.branches]
        stacked, concat_cache = F.concat_forward(outputs, axis=1)
        self._save_for_backward(concat_cache)
        return self.project(stacked)

    def backward(self, grad_out):
        # project back, split the concat (each branch gets its own channels), and sum the
        # fan-out (x fed every branch): F.aspp_backward spells the three steps out, and
        # mdl.use_implementation(aspp_backward=...) lets a learner write them instead
        cache = F.ASPPCache(self.project.backward, self._pop_cache(),
                            [branch.backward for branch in self.branches])
        return F.aspp_backward(grad_out, cache)


class Decoder(Module):
    """The DeepLabV3+ decoder (Sec. 3.1, Fig. 2): sharpen the coarse encoder output.

    1. project the stride-4 low-level features with a 1x1 conv (48 channels in
       the paper) so that they do not outweigh the encoder's features;
    2. upsample the encoder output bilinearly to the low-level map's size;
    3. concatenate and refine with two 3x3 convs (separable or standard);
    4. a 1x1 classifier with bias gives the logits at stride 4.

    ``forward(features, low_level)`` returns logits (N, num_classes, H/4, W/4);
    ``backward(dlogits)`` returns ``(d_features, d_low_level)``.
    """

    def __init__(self, encoder_channels, low_level_channels, num_classes,
                 project_channels=48, channels=256, separable=True, rng=None):
        super().__init__()
        self.project = ConvBNReLU(low_level_channels, project_channels, 1, rng=rng)
        self.upsample = Upsample()
        fused = encoder_channels + project_channels
        if separable:
            self.fuse = Sequential([SeparableConv2d(fused, channels, 3, rng=rng),
                                    SeparableConv2d(channels, channels, 3, rng=rng)])
        else:
            self.fuse = Sequential([ConvBNReLU(fused, channels, 3, rng=rng),
                                    ConvBNReLU(channels, channels, 3, rng=rng)])
        self.classifier = Conv2d(channels, num_classes, 1, bias=True, rng=rng)

    def forward(self, features, low_level):
        projected = self.project(low_level)
        upsampled = self.upsample(features, size=low_level.shape[2:])
        stacked, concat_cache = F.concat_forward([upsampled, projected], axis=1)
        self._save_for_backward(concat_cache)
        return self.classifier(self.fuse(stacked))

    def backward(self, grad_out):
        concat_cache = self._pop_cache()
        grad_stacked = self.fuse.backward(self.classifier.backward(grad_out))
        grad_upsampled, grad_projected = F.concat_backward(grad_stacked, concat_cache)
        return self.upsample.backward(grad_upsampled), self.project.backward(grad_projected)
