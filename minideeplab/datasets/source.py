"""Data sources: what the training loop and the command line ask for, whatever the data is.

The training loop needs four things from its data: how many training images there are, a
batch of augmented training crops for some indices, the validation (and test) images to score,
and the numbers that describe the data (classes, pixel counts for class weights). Two sources
answer the same questions:

* :class:`GeneratedSource` -- a named generated dataset (shapes, digits): every image has the
  training size, batches are ``augment(images[indices], ...)`` exactly as before;
* :class:`FolderSource` -- your own folder (:mod:`.layouts`, :mod:`.masks`, checked by
  :mod:`.check`): images of any size and aspect. Training takes a random crop of
  ``image_size`` after a random scale, padding images with 0 and masks with 255 where an image
  is smaller than the crop; validation and test images are scored whole, at their own size,
  padded to a multiple of the output stride (the padding is labelled 255 and never scored).

``data_source(config)`` picks one from a :class:`~minideeplab.train.TrainConfig`.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..functional.loss import IGNORE_INDEX
from ._checks import SPLITS
from .augment import augment, pad_to_multiple
from .check import check_data
from .folder import read_image
from .masks import read_mask
from .registry import dataset_cache_file, dataset_info, load_dataset
from .weights import class_weights

__all__ = ["GeneratedSource", "FolderSource", "data_source", "weights_for"]

#: Decoded images and masks a FolderSource keeps in memory (beyond this, it re-reads the file).
_CACHE_BYTES = 512 * 2**20


def _generated_pixel_counts(masks, num_classes):
    """(K,) labelled pixels per class and (K,) pixels of the images containing each class."""
    counts = np.zeros(num_classes, dtype=np.int64)
    image_pixels = np.zeros(num_classes, dtype=np.int64)
    for mask in masks:
        per_image = np.bincount(mask[mask != IGNORE_INDEX].ravel(), minlength=num_classes)
        counts += per_image[:num_classes]
        image_pixels += np.where(per_image[:num_classes] > 0, mask.size, 0)
    return counts, image_pixels


class GeneratedSource:
    """A named generated dataset: ``n[split]`` images of ``image_size`` per split."""

    kind = "generated"

    def __init__(self, name="shapes", image_size=64, n=None, flip=True, scale_range=(1.0, 1.0)):
        info = dataset_info(name)
        self.name, self.image_size = name, int(image_size)
        self.class_names = tuple(info["class_names"])
        self.num_classes = info["num_classes"]
        self.n = {**info["default_n"], **(n or {})}
        self.flip, self.scale_range = flip, tuple(scale_range)
        self._arrays = {}

    def report(self) -> str:
        """One line: the splits, and whether they are read from the cache or generated now."""
        splits = [split for split in SPLITS if self.n.get(split)]
        files = [dataset_cache_file(self.name, split, self.n[split], self.image_size)
                 for split in splits]
        missing = [file for file in files if not file.is_file()]
        how = (f"generating {len(missing)} of the {len(files)} splits from their seeds, once "
               f"(a few seconds; cached in {files[0].parent}/)" if missing
               else f"read from the cache in {files[0].parent}/")
        counts = ", ".join(f"{self.n[split]} {split}" for split in splits)
        return (f"data: '{self.name}', {counts} images of {self.image_size}x{self.image_size}: "
                f"{how}")

    def arrays(self, split):
        """(images, masks) of a split, generated (or read from the cache) once."""
        if split not in self._arrays:
            self._arrays[split] = load_dataset(self.name, split, n=self.n[split],
                                               size=self.image_size)
        return self._arrays[split]

    @property
    def n_train(self) -> int:
        return len(self.arrays("train")[0])

    @property
    def training_size(self) -> tuple:
        return (self.image_size, self.image_size)

    def has_split(self, split) -> bool:
        return self.n.get(split, 0) > 0

    def train_batch(self, indices, rng):
        images, masks = self.arrays("train")
        return augment(images[indices], masks[indices], rng, flip=self.flip,
                       scale_range=self.scale_range)

    def eval_batches(self, split, multiple=1, batch_size=32):
        images, masks = self.arrays(split)
        for start in range(0, len(images), batch_size):
            yield images[start:start + batch_size], masks[start:start + batch_size]

    def pairs(self, split, n=None):
        """``(name, image (3, H, W), mask (H, W))`` of the split's first ``n`` images."""
        images, masks = self.arrays(split)
        for i in range(len(images) if n is None else min(n, len(images))):
            yield f"{split}_{i:04d}", images[i], masks[i]

    def preview(self, split, n=8):
        images, masks = self.arrays(split)
        return images[:n], masks[:n]

    def train_pixel_counts(self):
        return _generated_pixel_counts(self.arrays("train")[1], self.num_classes)

    def describe(self) -> dict:
        return {"kind": self.kind, "dataset": self.name, "n": dict(self.n),
                "median_train_size": [self.image_size, self.image_size]}


class FolderSource:
    """Your own dataset folder; images of any size. Built on a :func:`check_data` result."""

    kind = "folder"

    def __init__(self, path, image_size=64, flip=True, scale_range=(1.0, 1.0), palette=None,
                 mask_255=None, num_classes=None, check=None):
        self.check = check or check_data(path, palette=palette, mask_255=mask_255,
                                         num_classes=num_classes)
        self.layout = self.check.layout
        self.name = str(self.layout.root)
        self.class_names = self.check.class_names
        self.num_classes = self.check.num_classes
        self.image_size = int(image_size)
        self.flip, self.scale_range = flip, tuple(scale_range)
        self._cache, self._cached_bytes = {}, 0

    @property
    def n_train(self) -> int:
        return len(self.layout.splits["train"])

    @property
    def training_size(self) -> tuple:
        return self.check.median_size("train")

    def has_split(self, split) -> bool:
        return len(self.layout.splits.get(split, [])) > 0

    def _split(self, split):
        if not self.has_split(split):
            raise InputError(f"{self.name} has no {split} split ({self.layout.split_how}); "
                             f"choose another split")
        return self.layout.splits[split]

    def load(self, split, index):
        """``(image (3, H, W) float32, mask (H, W) int64)`` of one pair, kept while memory lasts."""
        key = (split, index)
        if key in self._cache:
            image, mask = self._cache[key]
            return image, mask.astype(np.int64)
        image_file, mask_file = self._split(split)[index]
        image = read_image(image_file)
        mask = read_mask(mask_file, self.check.table, self.check.mask_255)
        stored = mask.astype(np.uint8)               # labels are < 255 or 255: one byte each
        size = image.nbytes + stored.nbytes
        if self._cached_bytes + size <= _CACHE_BYTES:
            self._cache[key] = (image, stored)
            self._cached_bytes += size
        return image, mask

    def train_batch(self, indices, rng):
        """Crops of ``image_size`` after flip and scale; padding 0 (image) and 255 (mask)."""
        size = self.image_size
        images = np.zeros((len(indices), 3, size, size), dtype=np.float32)
        masks = np.full((len(indices), size, size), IGNORE_INDEX, dtype=np.int64)
        for row, index in enumerate(indices):
            image, mask = self.load("train", int(index))
            crop, crop_mask = augment(image[None], mask[None], rng, flip=self.flip,
                                      scale_range=self.scale_range, crop_size=size)
            images[row], masks[row] = crop[0], crop_mask[0]
        return images, masks

    def eval_batches(self, split, multiple=1, batch_size=None):
        """One whole image at a time, padded to a multiple of ``multiple`` (mask padding: 255)."""
        for index in range(len(self._split(split))):
            image, mask = self.load(split, index)
            yield (pad_to_multiple(image, multiple, 0)[None],
                   pad_to_multiple(mask, multiple, IGNORE_INDEX)[None])

    def pairs(self, split, n=None):
        """``(file stem, image (3, H, W), mask (H, W))`` of the split's first ``n`` images."""
        files = self._split(split)
        for index in range(len(files) if n is None else min(n, len(files))):
            image, mask = self.load(split, index)
            yield files[index][0].stem, image, mask

    def preview(self, split, n=8):
        """Centre crops (padded if smaller) of ``image_size`` of the first ``n`` images."""
        size = self.image_size
        pairs = list(self.pairs(split if self.has_split(split) else "train", n))
        images = np.zeros((len(pairs), 3, size, size), dtype=np.float32)
        masks = np.full((len(pairs), size, size), IGNORE_INDEX, dtype=np.int64)
        for row, (_, image, mask) in enumerate(pairs):
            height, width = mask.shape
            top, left = max(0, (height - size) // 2), max(0, (width - size) // 2)
            crop_h, crop_w = min(size, height), min(size, width)
            images[row, :, :crop_h, :crop_w] = image[:, top:top + crop_h, left:left + crop_w]
            masks[row, :crop_h, :crop_w] = mask[top:top + crop_h, left:left + crop_w]
        return images, masks

    def train_pixel_counts(self):
        return self.check.pixel_counts["train"], self.check.train_image_pixels

    def describe(self) -> dict:
        return {"kind": self.kind, **self.check.describe()}

    def report(self) -> str:
        return self.check.text()


def data_source(config):
    """The source a TrainConfig describes: its ``data`` folder, else its named ``dataset``."""
    common = dict(image_size=config.image_size, flip=config.flip,
                  scale_range=config.scale_range)
    if config.data is None:
        return GeneratedSource(config.dataset, n={"train": config.n_train, "val": config.n_val,
                                                  "test": config.n_test}, **common)
    source = FolderSource(config.data, palette=config.palette, mask_255=config.mask_255,
                          num_classes=config.num_classes, **common)
    if source.n_train < config.batch_size:
        raise InputError(f"{config.data} has {source.n_train} training images, fewer than "
                         f"batch_size {config.batch_size}: use --batch-size {source.n_train} "
                         f"or fewer, or add images")
    return source


def weights_for(source, method):
    """Class weights (K,) of ``method`` from the source's training masks, or None."""
    counts, image_pixels = source.train_pixel_counts()
    return class_weights(method, counts, image_pixels)
