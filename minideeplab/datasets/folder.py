"""Your own segmentation data: a folder of images and index-mask PNGs, read as model inputs.

The layout ``load_folder`` expects, and the rules for masks, are in its docstring and in
data/README.md; ``read_image`` reads one picture (what ``minideeplab predict`` feeds the model).
Folders of other layouts (Pascal VOC, split subfolders, images of different sizes, colour masks)
are read by :mod:`.layouts`, :mod:`.masks` and :mod:`.source`; this module reads one image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..functional.loss import IGNORE_INDEX
from ..images import hwc_to_chw
from ._checks import check_int
from .layouts import IMAGE_SUFFIXES
from .masks import LOSSY_SUFFIXES, MASK_255_CHOICES, read_mask


def read_image_hwc(path) -> np.ndarray:
    """A PNG/JPEG as (H, W, 3) float32 in [0, 1]: grayscale becomes 3 channels, alpha is dropped.

    Raises an InputError naming the file when it is not a readable image (a corrupt or
    truncated file, a text file renamed .png, an image too large for Pillow's safety limit).
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as picture:
            picture.load()
            if picture.mode in ("I;16", "I;16B", "I;16L"):             # 16-bit grayscale
                gray = np.asarray(picture, dtype=np.float32) / 65535.0
                return np.repeat(gray[:, :, None], 3, axis=2)
            if picture.mode != "RGB":
                # L, LA, P, RGBA, CMYK, 1 ...: Pillow knows how to make each of them RGB.
                picture = picture.convert("RGB")
            return np.asarray(picture, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as error:
        raise InputError(f"image {path} is not a readable PNG/JPEG ({error})") from None


def read_image(path) -> np.ndarray:
    """Read a PNG/JPEG as a model input: (3, H, W) float32 in [0, 1]."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder, not an image file")
    if not path.is_file():
        raise FileNotFoundError(f"image {path} does not exist")
    return hwc_to_chw(read_image_hwc(path))


def _read_mask(path: Path) -> np.ndarray:
    """An index-mask PNG as (H, W) int64: each pixel value is a class index (255 = ignore)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as picture:
            mode = picture.mode
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise InputError(f"mask {path} is not a readable image ({error})") from None
    if mode not in ("L", "P", "1", "I", "I;16", "I;16B", "I;16L"):
        raise InputError(
            f"mask {path} has mode {mode}; a mask must be a single-channel image "
            f"whose pixel values are class indices (PNG mode L or P), not colours")
    return read_mask(path)


def _pair_files(root: Path) -> list:
    """``[(image file, mask file), ...]`` sorted by stem, or a ValueError naming what is wrong."""
    image_dir, mask_dir = root / "images", root / "masks"
    for folder in (image_dir, mask_dir):
        if not folder.is_dir():
            raise InputError(f"path {root} must contain an {folder.name}/ subfolder ({folder} "
                             f"is missing)")
    images_by_stem = {}
    for file in sorted(image_dir.iterdir()):
        if file.is_file() and file.suffix.lower() in IMAGE_SUFFIXES:
            if file.stem in images_by_stem:
                raise InputError(f"two images share the stem {file.stem!r}: "
                                 f"{images_by_stem[file.stem]} and {file}")
            images_by_stem[file.stem] = file
    masks_by_stem = {file.stem: file for file in sorted(mask_dir.iterdir())
                     if file.is_file() and file.suffix.lower() == ".png"}
    lossy_by_stem = {file.stem: file for file in sorted(mask_dir.iterdir())
                     if file.is_file() and file.suffix.lower() in LOSSY_SUFFIXES}
    if not images_by_stem:
        raise InputError(f"{image_dir} contains no images ({', '.join(IMAGE_SUFFIXES)})")
    for stem, file in images_by_stem.items():
        if stem not in masks_by_stem and stem in lossy_by_stem:
            raise InputError(f"the mask of {file} is {lossy_by_stem[stem]}, a JPEG: masks must "
                             f"be lossless (PNG), because JPEG compression changes the label "
                             f"values along every edge; save it as {mask_dir / (stem + '.png')}")
        if stem not in masks_by_stem:
            raise InputError(f"image {file} has no mask: expected {mask_dir / (stem + '.png')}")
    for stem, file in masks_by_stem.items():
        if stem not in images_by_stem:
            raise InputError(f"mask {file} has no image with the stem {stem!r} in {image_dir}")
    return [(images_by_stem[stem], masks_by_stem[stem]) for stem in sorted(images_by_stem)]


def load_folder(path, num_classes: int, mask_255: str | None = None):
    """Read your own segmentation data from a folder laid out as::

        path/
          images/  cat.png  dog.jpg  ...    RGB, grayscale or RGBA (PNG or JPEG)
          masks/   cat.png  dog.png  ...    one index-mask PNG per image, same stem, same size

    A mask pixel holds the class index 0..num_classes-1, or 255 for "ignore" (borders, unsure
    pixels). Save masks as 8-bit grayscale (mode L) or palette (mode P) PNGs, never JPEG (lossy
    compression changes the labels). All images must have the same size (no resizing is done,
    so the labels stay exact): resize them beforehand, or crop with ``augment``.

    Black-and-white binary masks hold 0 and 255; 255 means "ignore" here, so a folder whose masks
    hold only 0 and 255 is refused unless ``mask_255`` says what 255 is: ``"class1"`` (255 is
    the foreground, class 1) or ``"ignore"`` (255 really marks pixels to ignore).

    Returns:
        images (N, 3, H, W) float32 in [0, 1], masks (N, H, W) int64, in order of file stem.

    Raises:
        ValueError naming the file: missing or empty folder, an image without a mask (or a mask
        without an image, or a JPEG mask), an unreadable (corrupt) image or mask, image/mask size
        mismatch, sizes differing across the folder, a mask value outside [0, num_classes) that
        is not 255.

    For images of different sizes, colour masks, Pascal VOC and split folders, use
    ``open_folder`` (what ``minideeplab train --data DIR`` reads).
    """
    num_classes = check_int(num_classes, "num_classes", minimum=1)
    if mask_255 is not None and mask_255 not in MASK_255_CHOICES:
        raise InputError(f"mask_255 must be one of {MASK_255_CHOICES} or None, got {mask_255!r}")
    if num_classes > IGNORE_INDEX:
        raise InputError(f"num_classes must be <= {IGNORE_INDEX} ({IGNORE_INDEX} means ignore), "
                         f"got {num_classes}")
    root = Path(path)
    if not root.is_dir():
        raise InputError(f"path {root} is not a folder")

    pairs = _pair_files(root)
    images, masks = [], []
    for image_file, mask_file in pairs:
        image = read_image_hwc(image_file)
        mask = _read_mask(mask_file)
        if mask_255 == "class1":
            mask[mask == 255] = 1
        if image.shape[:2] != mask.shape:
            raise InputError(f"image {image_file} is {image.shape[0]}x{image.shape[1]} (HxW) but "
                             f"its mask {mask_file} is {mask.shape[0]}x{mask.shape[1]}")
        if images and image.shape != images[0].shape:
            first = pairs[0][0]
            raise InputError(f"image {image_file} is {image.shape[0]}x{image.shape[1]} but "
                             f"{first} is {images[0].shape[0]}x{images[0].shape[1]}: all images "
                             f"in a folder must have the same size (resize them beforehand)")
        bad = np.unique(mask[(mask >= num_classes) & (mask != IGNORE_INDEX)])
        if bad.size:
            raise InputError(f"mask {mask_file} has values {bad[:10].tolist()} outside "
                             f"[0, {num_classes}) that are not {IGNORE_INDEX} (ignore)")
        images.append(image)
        masks.append(mask)
    masks = np.stack(masks)
    if mask_255 is None and _only_0_and_255(masks):
        raise InputError(
            f"the masks of {root} hold only the values 0 and 255 (e.g. {pairs[0][1]}), the usual "
            f"black-and-white binary mask; but 255 means 'ignore', so every foreground pixel "
            f"would be ignored and training would see only background. Say what 255 is: "
            f"mask_255='class1' (255 is the foreground, class 1; --mask-255 class1) or "
            f"mask_255='ignore' (255 really marks pixels to ignore)")
    return hwc_to_chw(np.stack(images)), masks


def _only_0_and_255(masks) -> bool:
    values = np.unique(masks)
    return IGNORE_INDEX in values and set(values.tolist()) <= {0, IGNORE_INDEX}
