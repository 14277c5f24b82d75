"""The on-disk cache of generated datasets: where it lives, what a file is called, read, write.

Generating 2000 shapes scenes takes a while, so ``load_dataset`` keeps each split as an ``.npz``
under ``data/cache/`` (override with the environment variable ``MINIDEEPLAB_CACHE_DIR``). The
file name carries everything that decides the arrays, including the generator's version, so a
changed generator (whose version is bumped) never serves stale data. Files are written with the
project's one atomic write (:func:`minideeplab.fileio.atomic_write`), so a crash never leaves a
half-written cache, and read with ``allow_pickle=False``, so a cache file cannot run code.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ..fileio import atomic_write

_REPO_DATA_DIR = Path(__file__).resolve().parents[2] / "data"


def default_cache_dir() -> Path:
    """Where generated sets are cached: $MINIDEEPLAB_CACHE_DIR, else data/cache in the repo."""
    override = os.environ.get("MINIDEEPLAB_CACHE_DIR")
    return Path(override) if override else _REPO_DATA_DIR / "cache"


def cache_path(folder, name: str, version: int, split: str, n: int, size: int,
               seed: int) -> Path:
    """``folder/<name>_v<version>_<split>_n<n>_s<size>_seed<seed>.npz``."""
    return Path(folder) / f"{name}_v{version}_{split}_n{n}_s{size}_seed{seed}.npz"


def read_cache(path: Path, n: int, size: int):
    """The cached arrays, or None if the file is missing, unreadable or not what we expect."""
    if not path.is_file():
        return None
    try:
        # allow_pickle=False: an .npz can carry pickled objects, which run code when loaded.
        with np.load(path, allow_pickle=False) as archive:
            images, masks = archive["images"], archive["masks"]
    except Exception as error:  # a truncated or foreign file: regenerate rather than fail
        warnings.warn(f"ignoring unreadable cache file {path}: {error}", stacklevel=3)
        return None
    if (images.shape != (n, 3, size, size) or images.dtype != np.float32
            or masks.shape != (n, size, size) or not np.issubdtype(masks.dtype, np.integer)):
        warnings.warn(f"ignoring cache file {path}: unexpected shapes or dtypes", stacklevel=3)
        return None
    return images, masks.astype(np.int64)


def write_cache(path: Path, images: np.ndarray, masks: np.ndarray) -> None:
    """Write ``images`` and ``masks`` to ``path`` atomically; a cache we cannot write only warns.

    Labels are stored as uint8 (they are < 256): an eighth of the int64 size on disk.
    """
    labels = masks.astype(np.uint8)
    try:
        atomic_write(path, lambda file: np.savez(file, images=images, masks=labels))
    except OSError as error:
        warnings.warn(f"could not write the dataset cache {path}: {error}", stacklevel=3)
