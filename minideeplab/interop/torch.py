"""The PyTorch twin of a minideeplab DeepLabV3+: same layers, same state-dict keys, same numbers.

    from minideeplab.interop.torch import to_torch, from_torch

    model = mdl.models.DeepLabV3Plus(5)
    twin = to_torch(model)             # a torch.nn.Module with model's weights, dtype and mode
    logits = twin(torch.from_numpy(images)).detach().numpy()   # == model(images)
    from_torch(twin, model)            # and back, e.g. after training the twin

Why a twin? It is the strongest test of the from-scratch code: torch's autograd
differentiates the *same* network, so every hand-written backward pass of
minideeplab (the fan-out sums in ASPP, the concat splits, BatchNorm in training
mode, the bilinear resizes) must give torch's gradients to the last digits in
float64. It is also the yardstick for ``benchmarks/bench_model.py``.

The torch classes below mirror minideeplab's one for one, with the same
attribute names, so that ``model.state_dict()`` and ``twin.state_dict()`` have
identical keys ("aspp.branches.1.0.depthwise.weight", "backbone.stem.1.running_var",
"...num_batches_tracked"). They are built from ``model.config``; :func:`to_torch`
then compares every convolution's geometry (stride, padding, dilation, groups)
with minideeplab's before copying anything, so the twin cannot drift silently
from the model it copies.

**Export.** :func:`export_torch` writes the twin's state dict and the config that rebuilds it
to one ``torch.save`` file (``minideeplab export CHECKPOINT --torch model.pt``), so training can
go on with PyTorch's tools (DistributedDataParallel, mixed precision, a GPU) from weights trained
here; :func:`load_exported` (or three lines of plain PyTorch, see the README) reads it back.

PyTorch is optional: this module imports it at its own import time (it is only
imported on demand, never by ``import minideeplab``) and raises an
``ImportError`` saying ``pip install torch`` when it is missing.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError, InputTypeError
from ..fileio import atomic_write

try:
    import torch
    from torch import nn as torch_nn
    from torch.nn import functional as torch_F
except ImportError as error:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "minideeplab.interop.torch needs PyTorch, which is not installed: "
        "pip install torch   (or: pip install 'minideeplab[torch]')") from error

from .. import nn as mdl_nn
from ..geometry import same_padding
from ..models.backbone import NATIVE_OUTPUT_STRIDE, stage_schedule
from ..models.deeplab import DeepLabV3Plus, deeplab_config, scale_rates

__all__ = ["to_torch", "from_torch", "export_torch", "load_exported", "EXPORT_FORMAT",
           "TorchDeepLabV3Plus", "TorchBackbone", "TorchASPP",
           "TorchASPPPooling", "TorchDecoder", "TorchSeparableConv2d", "TorchConvBNReLU",
           "TorchUpsample"]

_TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


# ----------------------------------------------------------------- the torch twins

class TorchUpsample(torch_nn.Module):
    """Bilinear resize to the ``size`` given at call time (minideeplab's ``nn.Upsample``)."""

    def __init__(self, align_corners=False):
        super().__init__()
        self.align_corners = bool(align_corners)

    def forward(self, x, size):
        return torch_F.interpolate(x, size=tuple(size), mode="bilinear",
                                   align_corners=self.align_corners)


class TorchConvBNReLU(torch_nn.Sequential):
    """``Conv2d (no bias, 'same' padding) -> BatchNorm2d -> ReLU``; keys ``0.*``, ``1.*``."""

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, dilation=1):
        super().__init__(
            torch_nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                            padding=same_padding(kernel_size, dilation), dilation=dilation,
                            bias=False),
            torch_nn.BatchNorm2d(out_channels),
            torch_nn.ReLU(),
        )


class TorchSeparableConv2d(torch_nn.Module):
    """Depthwise (dilated) -> BN -> ReLU -> pointwise -> BN -> ReLU, as minideeplab's."""

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, dilation=1,
                 middle_activation=True):
        super().__init__()
        self.middle_activation = bool(middle_activation)
        self.depthwise = torch_nn.Conv2d(in_channels, in_channels, kernel_size, stride=stride,
                                         padding=same_padding(kernel_size, dilation),
                                         dilation=dilation, groups=in_channels, bias=False)
        if self.middle_activation:
            self.depthwise_bn = torch_nn.BatchNorm2d(in_channels)
            self.depthwise_relu = torch_nn.ReLU()
        self.pointwise = torch_nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.pointwise_bn = torch_nn.BatchNorm2d(out_channels)
        self.pointwise_relu = torch_nn.ReLU()

    def forward(self, x):
        x = self.depthwise(x)
        if self.middle_activation:
            x = self.depthwise_relu(self.depthwise_bn(x))
        return self.pointwise_relu(self.pointwise_bn(self.pointwise(x)))


class TorchASPPPooling(torch_nn.Module):
    """Global average pool -> 1x1 conv -> BN -> ReLU -> upsample to the input's size."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.pool = torch_nn.AdaptiveAvgPool2d(1)
        self.conv = torch_nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn = torch_nn.BatchNorm2d(out_channels)
        self.relu = torch_nn.ReLU()
        self.upsample = TorchUpsample()

    def forward(self, x):
        pooled = self.relu(self.bn(self.conv(self.pool(x))))
        return self.upsample(pooled, size=x.shape[2:])


class TorchASPP(torch_nn.Module):
    """1x1 branch, one 3x3 atrous branch per rate, image pooling; concat; 1x1 projection."""

    def __init__(self, in_channels, out_channels, rates, separable=True, dropout=0.1,
                 image_pooling=True):
        super().__init__()
        branches = [TorchConvBNReLU(in_channels, out_channels, 1)]
        for rate in rates:
            if separable:
                # wrapped in a Sequential like minideeplab's, hence the keys "branches.1.0.*"
                branches.append(torch_nn.Sequential(
                    TorchSeparableConv2d(in_channels, out_channels, 3, dilation=rate)))
            else:
                branches.append(TorchConvBNReLU(in_channels, out_channels, 3, dilation=rate))
        if image_pooling:
            branches.append(TorchASPPPooling(in_channels, out_channels))
        self.branches = torch_nn.ModuleList(branches)
        self.project = torch_nn.Sequential(
            torch_nn.Conv2d(len(branches) * out_channels, out_channels, 1, bias=False),
            torch_nn.BatchNorm2d(out_channels),
            torch_nn.ReLU(),
            torch_nn.Dropout(dropout),
        )

    def forward(self, x):
        return self.project(torch.cat([branch(x) for branch in self.branches], dim=1))


class TorchDecoder(torch_nn.Module):
    """Project the stride-4 features, upsample the encoder to them, concat, refine, classify."""

    def __init__(self, encoder_channels, low_level_channels, num_classes, project_channels=48,
                 channels=256, separable=True):
        super().__init__()
        self.project = TorchConvBNReLU(low_level_channels, project_channels, 1)
        self.upsample = TorchUpsample()
        fused = encoder_channels + project_channels
        block = TorchSeparableConv2d if separable else TorchConvBNReLU
        self.fuse = torch_nn.Sequential(block(fused, channels, 3), block(channels, channels, 3))
        self.classifier = torch_nn.Conv2d(channels, num_classes, 1, bias=True)

    def forward(self, features, low_level):
        projected = self.project(low_level)
        upsampled = self.upsample(features, size=low_level.shape[2:])
        return self.classifier(self.fuse(torch.cat([upsampled, projected], dim=1)))


class TorchBackbone(torch_nn.Module):
    """Stem + four stages; strides past ``output_stride`` become dilations (see minideeplab's)."""

    def __init__(self, in_channels=3, stem_channels=16, widths=(24, 48, 96, 128),
                 blocks=(2, 2, 2, 2), output_stride=16, separable=True, multi_grid=None):
        super().__init__()
        self.stem = TorchConvBNReLU(in_channels, stem_channels, 3, stride=2)
        block_type = TorchSeparableConv2d if separable else TorchConvBNReLU
        stages, previous = [], stem_channels
        for width, plan in zip(widths, stage_schedule(blocks, output_stride, multi_grid),
                                   strict=True):
            stage = []
            for block, (stride, rate) in enumerate(plan):
                stage.append(block_type(previous if block == 0 else width, width, 3,
                                        stride=stride, dilation=rate))
            stages.append(torch_nn.Sequential(*stage))
            previous = width
        self.stages = torch_nn.ModuleList(stages)

    def forward(self, x):
        x = self.stem(x)
        low_level = x = self.stages[0](x)
        for stage in self.stages[1:]:
            x = stage(x)
        return x, low_level


class TorchDeepLabV3Plus(torch_nn.Module):
    """DeepLabV3+ in PyTorch, built from the same keyword arguments as minideeplab's.

    ``config`` keeps those arguments (like ``DeepLabV3Plus.config``), so that
    :func:`from_torch` can build the minideeplab model back. ``seed`` is only
    stored: torch initialises its own weights (``to_torch`` overwrites them).
    """

    def __init__(self, num_classes, **options):
        super().__init__()
        c = self.config = deeplab_config(num_classes, **options)
        if c["output_stride"] > NATIVE_OUTPUT_STRIDE:
            raise InputError(f"output_stride must be at most {NATIVE_OUTPUT_STRIDE}, "
                             f"got {c['output_stride']!r}")
        self.rates = scale_rates(c["aspp_rates"], c["output_stride"])
        self.backbone = TorchBackbone(c["in_channels"], c["stem_channels"], c["widths"],
                                      c["blocks"], c["output_stride"], c["separable"],
                                      c["multi_grid"])
        self.aspp = TorchASPP(c["widths"][-1], c["aspp_channels"], self.rates,
                              separable=c["separable"], dropout=c["dropout"],
                              image_pooling=c["aspp_pooling"])
        if c["decoder"]:
            self.decoder = TorchDecoder(c["aspp_channels"], c["widths"][0], c["num_classes"],
                                        project_channels=c["low_level_channels"],
                                        channels=c["decoder_channels"], separable=c["separable"])
        else:
            self.decoder = None
            self.classifier = torch_nn.Conv2d(c["aspp_channels"], c["num_classes"], 1, bias=True)
        self.upsample = TorchUpsample()

    def forward(self, x):
        features, low_level = self.backbone(x)
        encoded = self.aspp(features)
        if self.decoder is not None:
            logits = self.decoder(encoded, low_level)
        else:
            logits = self.classifier(encoded)
        return self.upsample(logits, size=x.shape[2:])


# ---------------------------------------------------- checking that the twins match

def _conv_geometry(conv):
    """The numbers that define a convolution, in one form for both libraries."""
    return dict(in_channels=conv.in_channels, out_channels=conv.out_channels,
                kernel_size=tuple(conv.kernel_size), stride=tuple(conv.stride),
                padding=tuple(conv.padding), dilation=tuple(conv.dilation),
                groups=conv.groups, bias=conv.bias is not None)


# minideeplab layer type -> the torch type of its twin (checked most specific first)
_TWIN_TYPES = [
    (mdl_nn.Conv2d, torch_nn.Conv2d),
    (mdl_nn.BatchNorm2d, torch_nn.BatchNorm2d),
    (mdl_nn.ReLU, torch_nn.ReLU),
    (mdl_nn.Dropout, torch_nn.Dropout),
    (mdl_nn.GlobalAvgPool2d, torch_nn.AdaptiveAvgPool2d),
    (mdl_nn.Upsample, TorchUpsample),
]


def _check_same_layers(model, torch_module):
    """Raise a ``ValueError`` unless both trees have the same layers with the same geometry."""
    ours = dict(model.named_modules())
    theirs = dict(torch_module.named_modules())
    problems = []
    if set(ours) != set(theirs):
        only_ours = sorted(set(ours) - set(theirs))
        only_theirs = sorted(set(theirs) - set(ours))
        problems.append(f"modules only in minideeplab: {only_ours}; only in torch: {only_theirs}")
    for name in (n for n in ours if n in theirs):
        mine, twin = ours[name], theirs[name]
        for mdl_type, torch_type in _TWIN_TYPES:
            if isinstance(mine, mdl_type):
                if not isinstance(twin, torch_type):
                    problems.append(f"{name!r}: {type(mine).__name__} vs "
                                    f"{type(twin).__name__}")
                elif mdl_type is mdl_nn.Conv2d and _conv_geometry(mine) != _conv_geometry(twin):
                    problems.append(f"{name!r}: minideeplab {_conv_geometry(mine)} vs "
                                    f"torch {_conv_geometry(twin)}")
                elif mdl_type is mdl_nn.BatchNorm2d and mine.num_features != twin.num_features:
                    problems.append(f"{name!r}: BatchNorm2d({mine.num_features}) vs "
                                    f"BatchNorm2d({twin.num_features})")
                elif mdl_type is mdl_nn.Upsample and (
                        mine.size is not None or mine.scale_factor is not None
                        or mine.align_corners != twin.align_corners):
                    problems.append(f"{name!r}: the twin resizes to the size given at call time "
                                    f"with align_corners={twin.align_corners}, got {mine!r}")
                break
    if problems:
        raise InputError("the minideeplab model and the torch module differ: "
                         + " | ".join(problems))


def _copy_settings(source_modules, target_modules):
    """Copy train/eval mode, BatchNorm eps and momentum and dropout p, module by module.

    Both arguments are dicts name -> module (one of them minideeplab's, the other
    torch's); the attribute names are the same in both libraries.
    """
    for name, source in source_modules.items():
        target = target_modules[name]
        target.training = bool(source.training)
        if isinstance(source, (mdl_nn.BatchNorm2d, torch_nn.BatchNorm2d)):
            if source.momentum is None:
                raise InputError(f"{name!r}: BatchNorm2d with momentum=None (a cumulative "
                                 "average) has no minideeplab equivalent")
            target.eps = float(source.eps)
            target.momentum = float(source.momentum)
        elif isinstance(source, (mdl_nn.Dropout, torch_nn.Dropout)):
            target.p = float(source.p)


# ------------------------------------------------------------------------ the API

def to_torch(model) -> "TorchDeepLabV3Plus":
    """The PyTorch twin of a minideeplab ``DeepLabV3Plus``, with its weights, dtype and mode.

    Every parameter and buffer (BatchNorm running statistics and
    ``num_batches_tracked`` included) is copied under the same key; BatchNorm's
    eps and momentum, dropout's p and each module's train/eval flag are copied
    too. The result is float32 or float64 like the model, and shares no memory
    with it.
    """
    if not isinstance(model, DeepLabV3Plus):
        raise InputTypeError(
            f"model must be a minideeplab DeepLabV3Plus, got {type(model).__name__}")
    dtype = np.dtype(model.dtype)
    if dtype not in _TORCH_DTYPES:
        raise InputTypeError(f"model dtype must be float32 or float64, got {dtype}")
    twin = TorchDeepLabV3Plus(**model.config).to(_TORCH_DTYPES[dtype])
    _check_same_layers(model, twin)
    state = {key: torch.from_numpy(np.array(value, copy=True))
             for key, value in model.state_dict().items()}
    twin.load_state_dict(state, strict=True)
    _copy_settings(dict(model.named_modules()), dict(twin.named_modules()))
    return twin


def from_torch(torch_module, model=None):
    """Copy a torch twin's weights, buffers and settings into a minideeplab model; return it.

    ``model=None`` builds a new ``DeepLabV3Plus`` from ``torch_module.config``
    (set by :class:`TorchDeepLabV3Plus`) in the twin's dtype; a given ``model``
    keeps its own dtype and must have the same layers (else ``ValueError``).
    """
    if not isinstance(torch_module, torch_nn.Module):
        raise InputTypeError(f"torch_module must be a torch.nn.Module, "
                             f"got {type(torch_module).__name__}")
    if model is None:
        config = getattr(torch_module, "config", None)
        if not isinstance(config, dict):
            raise InputTypeError("torch_module has no .config to build the minideeplab model from "
                                 "(it is not a TorchDeepLabV3Plus): pass model= as well")
        model = DeepLabV3Plus(**config)
        first = next(torch_module.parameters(), None)
        if first is not None and first.dtype in (torch.float32, torch.float64):
            model.astype(np.float64 if first.dtype == torch.float64 else np.float32)
    elif not isinstance(model, DeepLabV3Plus):
        raise InputTypeError(
            f"model must be a minideeplab DeepLabV3Plus, got {type(model).__name__}")
    _check_same_layers(model, torch_module)
    state = {key: value.detach().cpu().numpy() for key, value in torch_module.state_dict().items()}
    model.load_state_dict(state)
    _copy_settings(dict(torch_module.named_modules()), dict(model.named_modules()))
    return model


# ------------------------------------------------------------------ export to a file

#: The ``format`` entry of an exported file.
EXPORT_FORMAT = "minideeplab-torch-v1"


def export_torch(model, path, class_names=None) -> dict:
    """Write ``model``'s PyTorch twin to ``path`` with ``torch.save``, atomically.

    The file holds a plain dict (tensors, strings, numbers, lists: ``torch.load`` reads it with
    ``weights_only=True``, so loading runs no code): ``format``, ``config`` (the keyword
    arguments of :class:`TorchDeepLabV3Plus`, as in ``model.config``), ``class_names`` and
    ``state_dict``. Returns that dict.
    """
    twin = to_torch(model).eval()
    payload = {"format": EXPORT_FORMAT, "config": dict(model.config),
               "class_names": None if class_names is None else [str(n) for n in class_names],
               "state_dict": twin.state_dict()}
    atomic_write(path, lambda file: torch.save(payload, file))
    return payload


def load_exported(path) -> "TorchDeepLabV3Plus":
    """The :class:`TorchDeepLabV3Plus` saved by :func:`export_torch`, in eval mode."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(saved, dict) or saved.get("format") != EXPORT_FORMAT:
        raise InputError(f"{path} is not a file written by export_torch "
                         f"(format {EXPORT_FORMAT!r})")
    twin = TorchDeepLabV3Plus(**saved["config"])
    twin.load_state_dict(saved["state_dict"])
    return twin.eval()
