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
* :mod:`.layouts` -- ``detect_layout``: images/+masks/, Pascal VOC, split subfolders, the
  seeded 80/10/10 split;
* :mod:`.masks` -- ``read_mask`` and ``read_class_table``: index, palette and RGB masks,
  ``classes.json`` / ``labelmap.txt``;
* :mod:`.check` -- ``check_data``: the data check before training (``minideeplab data check``);
* :mod:`.source` -- ``data_source``: generated data or your folder behind one interface for
  the training loop (batches of crops, whole images to score);
* :mod:`.weights` -- ``class_weights``: inverse-frequency and median-frequency balancing;
* :mod:`.augment` -- ``augment``: random flip, rescale, crop and pad for training;
  ``pad_to_multiple`` for scoring whole images;
* :mod:`.baseline` -- ``colour_only_baseline``: a pixel's colour alone does not give its class.

Pictures of samples and masks are figures, so they live in :mod:`minideeplab.viz`.
"""

from ..functional.loss import IGNORE_INDEX
from ._checks import SPLITS
from .augment import augment, pad_to_multiple
from .baseline import colour_only_baseline
from .cache import default_cache_dir
from .check import DataCheck, check_data
from .digits import DIGITS_CLASSES, DIGITS_SOURCE, DIGITS_VERSION, digit_source_indices, make_digits
from .folder import load_folder, read_image
from .layouts import IMAGE_SUFFIXES, Layout, detect_layout, list_images, seeded_split
from .masks import MASK_255_CHOICES, ClassTable, read_class_table, read_mask
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
from .source import FolderSource, GeneratedSource, data_source, weights_for
from .weights import CLASS_WEIGHTS, class_weights

__all__ = [
    "IGNORE_INDEX", "SPLITS", "DATASETS", "dataset_info", "load_dataset", "default_cache_dir",
    "SHAPES_CLASSES", "SHAPES_VERSION", "BACKGROUND", "DISK", "SQUARE", "RING", "BAR",
    "make_shapes",
    "DIGITS_CLASSES", "DIGITS_VERSION", "DIGITS_SOURCE", "digit_source_indices", "make_digits",
    "load_folder", "read_image", "augment", "pad_to_multiple", "colour_only_baseline",
    "IMAGE_SUFFIXES", "Layout", "detect_layout", "list_images", "seeded_split",
    "MASK_255_CHOICES", "ClassTable", "read_class_table", "read_mask", "DataCheck", "check_data",
    "GeneratedSource", "FolderSource", "data_source", "weights_for", "CLASS_WEIGHTS",
    "class_weights",
]
