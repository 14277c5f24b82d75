"""Predicting a whole image of any size: the paper's test-time settings, padding and tiling.

DeepLabV3+ (Sec. 4.1, Table 3) improves its test mIoU with three inference-only changes, each
paid for in compute:

* **a smaller output stride at test time.** A model trained at output stride 16 can run at 8
  with the *same weights*: the backbone's last strided stage swaps its stride for dilation, and
  the ASPP rates double (``models.deeplab.scale_rates``), so every weight still sees the same
  input pixels, at four times as many positions. No weight depends on the output stride, so
  :func:`at_output_stride` rebuilds the model from its config and loads the state dict;
* **multi-scale inputs**: the image resized by each scale (e.g. 0.75, 1, 1.25), each result's
  class probabilities resized back and averaged;
* **left-right flipping**: the flipped image too, its probabilities flipped back and averaged.

An image is padded (zeros, bottom and right) to a multiple of the output stride and the logits
cropped back, so stride-2 layers halve exactly. An image larger than ``tile`` pixels is cut into
tiles with a margin of context on every side; only each tile's centre is kept. Memory then
depends on the tile, not the image (a 4000x4000 photo needs the memory of a 512x512 one). The
ASPP image-pooling branch then sees the tile's average instead of the image's, a small change
far from the training size anyway.

:class:`count_mult_adds` counts the convolutions' multiply-adds of every forward pass it sees,
the cost column of the paper's table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checkpoint import build_model
from ..datasets.augment import pad_to_multiple
from ..datasets.resize import resize_bilinear
from ..errors import InputError
from ..nn.conv import Conv2d
from ..nn.module import record_calls
from ..summary import layer_mult_adds

__all__ = ["Settings", "at_output_stride", "class_probabilities", "predict_labels",
           "predict_batch",
           "count_mult_adds", "single_pass_cost", "OUTPUT_STRIDES", "parse_scales"]

#: Output strides a model can be evaluated at.
OUTPUT_STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class Settings:
    """Test-time settings: output stride (None = the model's), scales, flip, tile side."""

    output_stride: int | None = None
    scales: tuple = (1.0,)
    flip: bool = False
    tile: int | None = 512

    def __post_init__(self):
        if self.output_stride is not None and self.output_stride not in OUTPUT_STRIDES:
            raise InputError(f"output_stride must be one of {OUTPUT_STRIDES}, "
                             f"got {self.output_stride!r}")
        object.__setattr__(self, "scales", parse_scales(self.scales))
        if self.tile is not None and (not isinstance(self.tile, (int, np.integer))
                                      or self.tile < 32):
            raise InputError(f"tile must be an int >= 32 (pixels) or None, got {self.tile!r}")

    def label(self, model_output_stride: int) -> str:
        """e.g. ``"OS 8, scales 0.75/1/1.25, flip"``."""
        scales = "/".join(f"{s:g}" for s in self.scales)
        text = f"OS {self.output_stride or model_output_stride}"
        text += f", scales {scales}" if self.scales != (1.0,) else ", single scale"
        return text + (", flip" if self.flip else "")


def parse_scales(scales) -> tuple:
    """``"0.75,1,1.25"`` or a sequence of numbers -> a tuple of positive floats."""
    if isinstance(scales, str):
        try:
            scales = [float(part) for part in scales.split(",") if part.strip()]
        except ValueError:
            raise InputError(f"scales must be numbers separated by commas like 0.75,1,1.25, "
                             f"got {scales!r}") from None
    scales = tuple(float(s) for s in scales)
    if not scales or not all(0.1 <= s <= 4.0 for s in scales):
        raise InputError(f"scales must be one or more numbers in [0.1, 4], got {scales}")
    return scales


def at_output_stride(model, output_stride):
    """``model`` with the same weights at another output stride, in eval mode.

    The weights do not depend on the output stride (only strides, dilations and the ASPP rates
    do), so the model is rebuilt from its config and its state dict (BatchNorm statistics
    included) loaded as it is.
    """
    if output_stride is None or output_stride == model.output_stride:
        return model
    if output_stride not in OUTPUT_STRIDES:
        raise InputError(f"output_stride must be one of {OUTPUT_STRIDES}, got {output_stride!r}")
    twin = build_model({**model.config, "output_stride": int(output_stride)})
    twin.astype(model.dtype)
    twin.load_state_dict(model.state_dict())
    return twin.eval()


def _softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the class axis 1 of (N, C, H, W) logits (maximum subtracted first)."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def class_probabilities(model, image, scales=(1.0,), flip=False) -> np.ndarray:
    """Class probabilities of an image (3, H, W) -> (C, H, W), or of a batch of images of one
    size (N, 3, H, W) -> (N, C, H, W), averaged over the scales and flips.

    Each pass: resize the image by the scale, pad to a multiple of the output stride, run the
    model (in eval mode), crop the padding off the logits, softmax, flip back if flipped,
    resize the probabilities back to (H, W) bilinearly, add. The mean is returned.
    """
    single = image.ndim == 3
    images = image[None] if single else image
    height, width = images.shape[-2:]
    total, passes = None, 0
    for scale in scales:
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        scaled = images if size == (height, width) else resize_bilinear(images, *size)
        for flipped in ((False, True) if flip else (False,)):
            view = scaled[..., ::-1] if flipped else scaled
            padded = pad_to_multiple(np.ascontiguousarray(view, dtype=model.dtype),
                                     model.output_stride, 0)
            probabilities = _softmax(model(padded)[:, :, :size[0], :size[1]])
            if flipped:
                probabilities = probabilities[..., ::-1]
            if size != (height, width):
                probabilities = resize_bilinear(np.ascontiguousarray(probabilities), height,
                                                width)
            total = probabilities if total is None else total + probabilities
            passes += 1
    total /= passes
    return total[0] if single else total


def predict_batch(model, images, settings: Settings | None = None) -> np.ndarray:
    """Labels (N, H, W) of a batch of images of one size (N, 3, H, W), without tiles.

    One forward pass for many small images is several times faster than one pass each (the
    cost of a layer call is paid once); ``evaluate_images`` batches images of equal size.
    """
    settings = settings or Settings()
    dtype = np.uint8 if model.num_classes <= 255 else np.int64
    was_training = model.training
    model.eval()
    try:
        return class_probabilities(model, images, settings.scales, settings.flip) \
            .argmax(axis=1).astype(dtype)
    finally:
        model.train(was_training)


def _tile_starts(length: int, core: int) -> range:
    return range(0, length, core)


def predict_labels(model, image, settings: Settings | None = None) -> np.ndarray:
    """The class of every pixel of one image (3, H, W): (H, W) uint8 (int64 beyond 255 classes).

    ``model`` must already be at the output stride wanted (:func:`at_output_stride`); it runs in
    eval mode (its mode is restored after). Images larger than ``settings.tile`` are predicted
    tile by tile: each tile is read with a margin of ``tile // 8`` pixels of context on every
    side, and only its centre is written.
    """
    settings = settings or Settings()
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[0] != model.in_channels:
        raise InputError(f"image must be ({model.in_channels}, H, W), got {image.shape}")
    height, width = image.shape[1:]
    dtype = np.uint8 if model.num_classes <= 255 else np.int64
    was_training = model.training
    model.eval()
    try:
        tile = settings.tile
        if tile is None or max(height, width) <= tile:
            return class_probabilities(model, image, settings.scales, settings.flip) \
                .argmax(axis=0).astype(dtype)
        margin = max(tile // 8, model.output_stride)
        core = tile - 2 * margin
        labels = np.empty((height, width), dtype=dtype)
        for top in _tile_starts(height, core):
            for left in _tile_starts(width, core):
                y0, x0 = max(0, top - margin), max(0, left - margin)
                y1, x1 = min(height, top + core + margin), min(width, left + core + margin)
                probabilities = class_probabilities(model, image[:, y0:y1, x0:x1],
                                                    settings.scales, settings.flip)
                rows, cols = min(core, height - top), min(core, width - left)
                centre = probabilities[:, top - y0:top - y0 + rows, left - x0:left - x0 + cols]
                labels[top:top + rows, left:left + cols] = centre.argmax(axis=0)
        return labels
    finally:
        model.train(was_training)


class count_mult_adds:
    """Context manager: the convolutions' multiply-adds of every forward pass inside it.

        with count_mult_adds() as counter:
            predict_labels(model, image, settings)
        counter.total        # e.g. 3 scales x 2 flips: the sum of six forward passes

    Each call of a Conv2d adds ``C_out * C_in/groups * kH * kW * H_out * W_out`` per image of
    its batch (``summary.layer_mult_adds``), the count ``minideeplab summary`` reports.
    """

    def __init__(self):
        self.total = 0
        self._recording = record_calls(self._record)

    def _record(self, module, inputs, out):
        if isinstance(module, Conv2d):
            self.total += layer_mult_adds(module, out.shape[2:]) * out.shape[0]

    def __enter__(self):
        self._recording.__enter__()
        return self

    def __exit__(self, *exc):
        return self._recording.__exit__(*exc)


def single_pass_cost(model):
    """A function ``cost(height, width)``: mult-adds of one plain forward pass of ``model`` on an
    image of that size (padded to a multiple of the output stride), without running it.

    With H and W multiples of the output stride, a conv of stride s (relative to the input)
    produces exactly (H/s) x (W/s) outputs, so the total is ``a * H * W + b``, where ``b`` is the
    ASPP image-pooling branch (a 1x1 conv on a 1x1 map, whatever the image). Two forward passes
    on zeros (one and two output strides square) give ``a`` and ``b``.
    """
    stride = model.output_stride
    costs = []
    was_training = model.training
    model.eval()
    try:
        for side in (stride, 2 * stride):
            with count_mult_adds() as counter:
                model(np.zeros((1, model.in_channels, side, side), dtype=model.dtype))
            costs.append(counter.total)
    finally:
        model.train(was_training)
    per_pixel = (costs[1] - costs[0]) / (3 * stride * stride)
    constant = costs[0] - per_pixel * stride * stride

    def cost(height, width):
        padded = (-(-height // stride) * stride) * (-(-width // stride) * stride)
        return int(round(per_pixel * padded + constant))

    return cost
