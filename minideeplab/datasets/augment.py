"""Augmentation for training: random flip, random rescale, random crop or pad.

Images and their masks are changed together and in the same way; labels are never blended
(nearest neighbour) and padding is labelled "ignore", never background.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError, InputTypeError
from ..functional.loss import IGNORE_INDEX
from ._checks import check_int
from .resize import resize_bilinear, resize_nearest


def _crop_or_pad(rng: np.random.Generator, length: int, target: int):
    """Along one axis: (source start, destination start, count) to fit ``length`` into ``target``.

    Longer than the target: a random crop. Shorter: placed at a random offset in the padded
    canvas (so padding is not always on the same side).
    """
    if length >= target:
        return int(rng.integers(0, length - target + 1)), 0, target
    return 0, int(rng.integers(0, target - length + 1)), length


def _check_augment_args(images, masks, rng, scale_range, crop_size):
    """The checked ``((low, high) or None, crop_h, crop_w)``; an error naming a bad argument."""
    if not isinstance(images, np.ndarray) or images.ndim != 4:
        raise InputError(f"images must be an (N, C, H, W) array, got "
                         f"{getattr(images, 'shape', type(images).__name__)}")
    if not np.issubdtype(images.dtype, np.floating):
        raise InputTypeError(f"images must have a floating dtype, got {images.dtype}")
    if not isinstance(masks, np.ndarray) or masks.shape != images.shape[:1] + images.shape[2:]:
        raise InputError(f"masks must be an (N, H, W) array matching images "
                         f"{images.shape[:1] + images.shape[2:]}, got "
                         f"{getattr(masks, 'shape', type(masks).__name__)}")
    if not np.issubdtype(masks.dtype, np.integer) or np.iinfo(masks.dtype).max < IGNORE_INDEX:
        raise InputTypeError(f"masks must have an integer dtype that can hold {IGNORE_INDEX}, "
                             f"got {masks.dtype}")
    if not isinstance(rng, np.random.Generator):
        raise InputTypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
                             f"got {type(rng).__name__}")
    scales = None
    if scale_range is not None:
        scales = tuple(float(v) for v in scale_range)
        if len(scales) != 2 or not 0 < scales[0] <= scales[1]:
            raise InputError(f"scale_range must be (low, high) with 0 < low <= high, "
                             f"got {scale_range}")
    if crop_size is None:
        return scales, images.shape[2], images.shape[3]
    pair = (crop_size, crop_size) if np.isscalar(crop_size) else tuple(crop_size)
    if len(pair) != 2:
        raise InputError(f"crop_size must be an int or a (height, width) pair, got {crop_size!r}")
    return (scales, check_int(pair[0], "crop_size", minimum=1),
            check_int(pair[1], "crop_size", minimum=1))


def pad_to_multiple(array: np.ndarray, multiple: int, value) -> np.ndarray:
    """Pad the last two axes at the bottom and right up to a multiple of ``multiple``.

    A fully convolutional model takes any size, but with H and W multiples of its output stride
    every stride-2 layer halves the map exactly and every upsampling lands on the input's grid.
    Images are padded with 0 and masks with 255 (ignore), so the padding is never scored;
    crop the prediction back with ``[..., :H, :W]``.

    >>> pad_to_multiple(np.ones((3, 5, 17)), 16, 0).shape
    (3, 16, 32)
    """
    multiple = check_int(multiple, "multiple", minimum=1)
    height, width = array.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if pad_h == 0 and pad_w == 0:
        return array
    pad = [(0, 0)] * (array.ndim - 2) + [(0, pad_h), (0, pad_w)]
    return np.pad(array, pad, mode="constant", constant_values=value)


def augment(images, masks, rng, flip: bool = True, scale_range=(0.75, 1.25), crop_size=None):
    """Random horizontal flip, random rescale, then random crop / pad to ``crop_size``.

    Scaling uses bilinear interpolation for the images and nearest neighbour for the masks (a
    label is a category: averaging class 1 and class 3 must not give class 2). Padded label pixels
    get 255 (ignore), never 0, so the loss does not learn "the padding is background"; padded
    image pixels are 0.

    Args:
        images: (N, C, H, W) floating array.
        masks: (N, H, W) integer array (a dtype that can hold 255).
        rng: a ``np.random.Generator``; the same generator state gives the same result.
        flip: flip each image left-right with probability 1/2.
        scale_range: (low, high) with 0 < low <= high: each image is scaled by a factor drawn
            uniformly from it; None for no scaling.
        crop_size: output (height, width) or an int for a square; default the input (H, W).

    Returns:
        new arrays images (N, C, crop_h, crop_w) and masks (N, crop_h, crop_w), same dtypes.
    """
    scales, crop_h, crop_w = _check_augment_args(images, masks, rng, scale_range, crop_size)
    n, channels, height, width = images.shape
    out_images = np.zeros((n, channels, crop_h, crop_w), dtype=images.dtype)
    out_masks = np.full((n, crop_h, crop_w), IGNORE_INDEX, dtype=masks.dtype)
    for i in range(n):
        image, mask = images[i], masks[i]
        if flip and rng.random() < 0.5:
            image, mask = image[:, :, ::-1], mask[:, ::-1]
        if scales is not None:
            factor = rng.uniform(*scales)
            new_h, new_w = max(1, round(height * factor)), max(1, round(width * factor))
            if (new_h, new_w) != (height, width):
                image = resize_bilinear(image, new_h, new_w)
                mask = resize_nearest(mask, new_h, new_w)
        src_y, dst_y, count_y = _crop_or_pad(rng, image.shape[1], crop_h)
        src_x, dst_x, count_x = _crop_or_pad(rng, image.shape[2], crop_w)
        out_images[i, :, dst_y:dst_y + count_y, dst_x:dst_x + count_x] = (
            image[:, src_y:src_y + count_y, src_x:src_x + count_x])
        out_masks[i, dst_y:dst_y + count_y, dst_x:dst_x + count_x] = (
            mask[src_y:src_y + count_y, src_x:src_x + count_x])
    return out_images, out_masks
