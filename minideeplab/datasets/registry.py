"""The named datasets: what each one is, and ``load_dataset`` to get one split of it.

``DATASETS`` lists every dataset a model can be trained on by name ("shapes", "digits"), with
its classes, default sizes and the seed of each split; ``load_dataset`` generates a split (or
reads it from the cache). For your own images use ``load_folder`` instead.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ._checks import SPLITS, check_int, check_split
from .cache import cache_path, default_cache_dir, read_cache, write_cache
from .digits import DIGITS_CLASSES, DIGITS_VERSION, make_digits
from .shapes import SHAPES_CLASSES, SHAPES_VERSION, make_shapes

__all__ = ["DATASETS", "SPLITS", "dataset_info", "load_dataset", "dataset_cache_file"]

def _generated(class_names, first_seed: int, version: int) -> dict:
    """The registry entry of a generated dataset: train, val and test from seeds in a row."""
    return {
        "num_classes": len(class_names),
        "class_names": class_names,
        "in_channels": 3,
        "default_size": 64,
        "default_n": {"train": 2000, "val": 500, "test": 500},
        "split_seeds": {"train": first_seed, "val": first_seed + 1, "test": first_seed + 2},
        "version": version,
    }


# Each split is generated from its own seed, so train, val and test scenes never coincide.
# The seeds are offset from the small numbers people type (make_shapes(n, seed=0)), so an ad-hoc
# set made in a notebook is not, by accident, the training set.
DATASETS = {
    "shapes": _generated(SHAPES_CLASSES, 1000, SHAPES_VERSION),
    "digits": _generated(DIGITS_CLASSES, 2000, DIGITS_VERSION),
}


def _registry_entry(name: str) -> dict:
    if name not in DATASETS:
        raise InputError(f"name must be one of {tuple(DATASETS)}, got {name!r} "
                         f"(for your own images use load_folder(path, num_classes))")
    return DATASETS[name]


def dataset_info(name: str) -> dict:
    """What a model needs to know about a dataset, e.g. ``dataset_info("shapes")``.

    Returns:
        dict with ``num_classes`` (int), ``class_names`` (tuple of str, index = class id),
        ``in_channels`` (3), ``default_size`` (image side in pixels) and ``default_n``
        (images per split).
    """
    entry = _registry_entry(name)
    return {
        "num_classes": entry["num_classes"],
        "class_names": tuple(entry["class_names"]),
        "in_channels": entry["in_channels"],
        "default_size": entry["default_size"],
        "default_n": dict(entry["default_n"]),
    }


def _split_spec(name, split, n, size):
    """``(entry, split, n, size)`` checked, with the dataset's defaults for n and size."""
    entry = _registry_entry(name)
    split = check_split(split)
    n = entry["default_n"][split] if n is None else check_int(n, "n", minimum=0)
    size = entry["default_size"] if size is None else check_int(size, "size", minimum=16)
    return entry, split, n, size


def dataset_cache_file(name: str, split: str, n: int | None = None, size: int | None = None,
                       cache_dir: str | None = None) -> Path:
    """The cache file :func:`load_dataset` reads, or writes the first time it generates a split."""
    entry, split, n, size = _split_spec(name, split, n, size)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return cache_path(folder, name, entry["version"], split, n, size, entry["split_seeds"][split])


def load_dataset(name: str = "shapes", split: str = "train", n: int | None = None,
                 size: int | None = None, cache: bool = True, cache_dir: str | None = None):
    """One split of a named dataset, generated deterministically and cached as .npz.

    Args:
        name: "shapes" or "digits" (``DATASETS``).
        split: "train", "val" or "test"; each split has its own seed, so they never overlap.
        n: number of images (default 2000 train, 500 val, 500 test).
        size: image side (default 64).
        cache: read and write data/cache/<name>_v<version>_<split>_n<n>_s<size>_seed<seed>.npz.
        cache_dir: folder for the cache instead of ``default_cache_dir()``.

    Returns:
        images (n, 3, size, size) float32, masks (n, size, size) int64.
    """
    entry, split, n, size = _split_spec(name, split, n, size)
    seed = entry["split_seeds"][split]
    path = dataset_cache_file(name, split, n, size, cache_dir)
    if cache:
        cached = read_cache(path, n, size)
        if cached is not None:
            return cached
    if name == "shapes":
        images, masks = make_shapes(n, size=size, seed=seed)
    else:
        images, masks = make_digits(n, size=size, seed=seed, split=split)
    if cache:
        write_cache(path, images, masks)
    return images, masks
