"""Data for minideeplab: two generated datasets, your own folder of images, augmentation.

Everything here returns the same two arrays, the layout the models and the loss expect::

    images  (N, 3, H, W) float32, values in [0, 1]
    masks   (N, H, W)    int64,   a class index per pixel; 255 (IGNORE_INDEX) = ignore this pixel

One module per job:

* :mod:`.registry` -- the named datasets (``DATASETS``, ``dataset_info``) and ``load_dataset``,
  one split of a named dataset, generated from its seed or read from :mod:`.cache`;
* :mod:`.shapes` -- ``make_shapes``, the procedural default (disks, squares, rings, bars);
* :mod:`.digits` -- ``make_digits``, real handwritten digits composited into scenes;
* :mod:`.scene` and :mod:`.resize` -- what both generators draw with;
* :mod:`.folder` -- ``load_folder`` and ``read_image``: your own images and index masks;
* :mod:`.augment` -- ``augment``: random flip, rescale, crop and pad for training;
* :mod:`.baseline` -- ``colour_only_baseline``: a pixel's colour alone does not give its class.

Pictures of samples and masks are figures, so they live in :mod:`minideeplab.viz`.
"""

from ..functional.loss import IGNORE_INDEX
from ._checks import SPLITS
from .augment import augment
from .baseline import colour_only_baseline
from .cache import default_cache_dir
from .digits import DIGITS_CLASSES, DIGITS_SOURCE, DIGITS_VERSION, digit_source_indices, make_digits
from .folder import load_folder, read_image
from .registry import DATASETS, dataset_info, load_dataset
from .shapes import (
    BACKGROUND,
    BAR,
    DISK,
    RING,
    SHAPES_CLASSES,
    SHAPES_VERSION,
    SQUARE,
    make_shapes,
)

__all__ = [
    "IGNORE_INDEX", "SPLITS", "DATASETS", "dataset_info", "load_dataset", "default_cache_dir",
    "SHAPES_CLASSES", "SHAPES_VERSION", "BACKGROUND", "DISK", "SQUARE", "RING", "BAR",
    "make_shapes",
    "DIGITS_CLASSES", "DIGITS_VERSION", "DIGITS_SOURCE", "digit_source_indices", "make_digits",
    "load_folder", "read_image", "augment", "colour_only_baseline",
]
