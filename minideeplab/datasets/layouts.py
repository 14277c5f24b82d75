"""Finding the image/mask pairs of a dataset folder, and its train/val/test split.

Layouts recognised (detected in this order, reported in one line by :meth:`Layout.line`):

* **Pascal VOC**: ``JPEGImages/``, ``SegmentationClass/`` (palette PNGs), and the split files
  ``ImageSets/Segmentation/train.txt``, ``val.txt`` (``test.txt``), one file stem a line;
* **images + masks**: ``images/`` and ``masks/``, a mask per image with the same file stem;
* **split subfolders**: ``train/``, ``val/`` (and ``test/``), each holding one of the two layouts
  above; or ``images/train``, ``masks/train``, ... .

A layout without split files or subfolders gets a seeded 80/10/10 split of its sorted file
stems (:func:`seeded_split`), the same every time for the same files; the run's metrics record
it. A folder with a single subfolder and nothing else (``VOCdevkit/VOC2012``) is entered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from .masks import LOSSY_SUFFIXES, MASK_SUFFIXES

__all__ = ["Layout", "detect_layout", "seeded_split", "IMAGE_SUFFIXES", "SPLIT_SEED",
           "list_images"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
#: The seed of the 80/10/10 split when the folder has none: fixed, so that training and a later
#: ``evaluate --data`` see the same split whatever the training seed.
SPLIT_SEED = 0
_SPLIT_NAMES = ("train", "val", "test")


@dataclass
class Layout:
    """Where a dataset's files are: ``splits[name]`` is a list of (image, mask) paths."""

    root: Path
    kind: str
    splits: dict
    split_how: str
    notes: list = field(default_factory=list)

    def line(self) -> str:
        counts = ", ".join(f"{len(self.splits.get(s, []))} {s}" for s in _SPLIT_NAMES)
        return f"{self.root}: {self.kind}; {self.split_how}: {counts}"

    def describe(self) -> dict:
        """JSON-able: the layout and every split as a list of file stems (for metrics.json)."""
        return {"path": str(self.root), "layout": self.kind, "split": self.split_how,
                "stems": {s: [image.stem for image, _ in self.splits.get(s, [])]
                          for s in _SPLIT_NAMES}}


def list_images(folder: Path) -> list:
    """The image files of ``folder`` (not recursive), sorted by name."""
    return sorted(p for p in Path(folder).iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _by_stem(files, folder: Path, what: str) -> dict:
    found = {}
    for file in files:
        if file.stem in found:
            raise InputError(f"two {what} in {folder} share the stem {file.stem!r}: "
                             f"{found[file.stem]} and {file}")
        found[file.stem] = file
    return found


def _mask_for(stem: str, image: Path, masks: dict, lossy: dict, mask_dir: Path) -> Path:
    if stem in masks:
        return masks[stem]
    if stem in lossy:
        raise InputError(f"the mask of {image} is {lossy[stem]}, a JPEG: masks must be lossless "
                         f"(PNG), because JPEG compression changes the label values along "
                         f"every edge; save it as {mask_dir / (stem + '.png')}")
    raise InputError(f"image {image} has no mask: expected {mask_dir / (stem + '.png')}")


def _mask_files(mask_dir: Path):
    files = [p for p in mask_dir.iterdir() if p.is_file()]
    masks = _by_stem(sorted(p for p in files if p.suffix.lower() in MASK_SUFFIXES), mask_dir,
                     "masks")
    lossy = {p.stem: p for p in files if p.suffix.lower() in LOSSY_SUFFIXES}
    return masks, lossy


def _pair_folder(image_dir: Path, mask_dir: Path) -> list:
    """Every image of ``image_dir`` with its mask of ``mask_dir`` (same stem), sorted by stem."""
    images = _by_stem(list_images(image_dir), image_dir, "images")
    if not images:
        raise InputError(f"{image_dir} contains no images ({', '.join(IMAGE_SUFFIXES)})")
    masks, lossy = _mask_files(mask_dir)
    pairs = [(images[stem], _mask_for(stem, images[stem], masks, lossy, mask_dir))
             for stem in sorted(images)]
    for stem, file in masks.items():
        if stem not in images:
            raise InputError(f"mask {file} has no image with the stem {stem!r} in {image_dir}")
    return pairs


def seeded_split(pairs, seed: int = SPLIT_SEED) -> dict:
    """80/10/10 of ``pairs`` (sorted by stem first) by a seeded permutation: train, val, test.

    Validation and test get round(10%) each, at least one image; so at least 3 images.
    """
    pairs = sorted(pairs, key=lambda pair: pair[0].stem)
    count = len(pairs)
    if count < 3:
        raise InputError(f"{count} image(s) cannot be split into train, val and test: add "
                         f"images, or give the split yourself with train/ and val/ subfolders")
    held_out = max(1, round(0.1 * count))
    order = np.random.default_rng(seed).permutation(count)
    pick = lambda indices: [pairs[i] for i in sorted(indices.tolist())]  # noqa: E731
    return {"val": pick(order[:held_out]), "test": pick(order[held_out:2 * held_out]),
            "train": pick(order[2 * held_out:])}


def _read_split_file(path: Path) -> list:
    return [line.split()[0] for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def _voc(root: Path, seed: int) -> Layout:
    image_dir, mask_dir = root / "JPEGImages", root / "SegmentationClass"
    images = _by_stem(list_images(image_dir), image_dir, "images")
    masks, lossy = _mask_files(mask_dir)
    split_dir = root / "ImageSets" / "Segmentation"
    files = {s: split_dir / f"{s}.txt" for s in _SPLIT_NAMES if (split_dir / f"{s}.txt").is_file()}
    voc = "Pascal VOC (JPEGImages/ + SegmentationClass/)"
    if "train" in files and "val" in files:
        splits = {}
        for split, file in files.items():
            pairs = []
            for stem in _read_split_file(file):
                if stem not in images:
                    raise InputError(f"{file} lists {stem!r}, but {image_dir} has no image "
                                     f"{stem}.jpg")
                pairs.append((images[stem], _mask_for(stem, images[stem], masks, lossy,
                                                      mask_dir)))
            if not pairs:
                raise InputError(f"split file {file} is empty")
            splits[split] = pairs
        how = f"split files {split_dir.relative_to(root)}/{{{','.join(files)}}}.txt"
        return Layout(root, voc, splits, how)
    # Without split files: the images that have a mask (VOC's JPEGImages also holds
    # detection-only images without one).
    if not masks:
        raise InputError(f"{mask_dir} contains no masks ({', '.join(MASK_SUFFIXES)})")
    pairs = []
    for stem, mask in sorted(masks.items()):
        if stem not in images:
            raise InputError(f"mask {mask} has no image with the stem {stem!r} in {image_dir}")
        pairs.append((images[stem], mask))
    layout = Layout(root, voc, seeded_split(pairs, seed),
                    f"no split files in {split_dir}, seeded 80/10/10 split (seed {seed})")
    if len(images) > len(pairs):
        layout.notes.append(f"{len(images) - len(pairs)} images of {image_dir} have no mask "
                            f"and are not used")
    return layout


def _single_layout(folder: Path):
    """"voc", "flat" or None: which layout ``folder`` itself holds."""
    if (folder / "JPEGImages").is_dir() and (folder / "SegmentationClass").is_dir():
        return "voc"
    if (folder / "images").is_dir() and (folder / "masks").is_dir():
        return "flat"
    return None


def _split_folders(root: Path, kind: str, where) -> Layout:
    """train/ val/ (test/) subfolders; ``where(split)`` gives (image dir, mask dir)."""
    splits = {}
    for split in _SPLIT_NAMES:
        image_dir, mask_dir = where(split)
        if image_dir.is_dir():
            if not mask_dir.is_dir():
                raise InputError(f"{image_dir} has no masks folder: expected {mask_dir}")
            splits[split] = _pair_folder(image_dir, mask_dir)
    if "val" not in splits:
        raise InputError(f"{root} has a train folder but no val folder ({where('val')[0]}): "
                         f"add one, or put all images in one folder for a seeded split")
    return Layout(root, kind, splits, "split subfolders " + "/, ".join(splits) + "/")


def detect_layout(root, seed: int = SPLIT_SEED) -> Layout:
    """The :class:`Layout` of the dataset folder ``root``, or an error saying what was found."""
    root = Path(root)
    if not root.exists():
        raise InputError(f"dataset folder {root} does not exist")
    if not root.is_dir():
        raise InputError(f"--data must be a dataset folder, {root} is a file")
    kind = _single_layout(root)
    if kind == "voc":
        return _voc(root, seed)
    if kind == "flat":
        if (root / "images" / "train").is_dir():
            return _split_folders(root, "images/ + masks/ with split subfolders",
                                  lambda s: (root / "images" / s, root / "masks" / s))
        pairs = _pair_folder(root / "images", root / "masks")
        return Layout(root, "images/ + masks/", seeded_split(pairs, seed),
                      f"no split folders, seeded 80/10/10 split (seed {seed})")
    if (root / "train").is_dir():
        inner = _single_layout(root / "train")
        if inner == "flat":
            return _split_folders(root, "train/ val/ subfolders of images/ + masks/",
                                  lambda s: (root / s / "images", root / s / "masks"))
        if inner == "voc":
            return _split_folders(root, "train/ val/ subfolders of JPEGImages/ + "
                                  "SegmentationClass/",
                                  lambda s: (root / s / "JPEGImages", root / s /
                                             "SegmentationClass"))
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir()
                     if not p.name.startswith("."))
    folders = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if len(folders) == 1 and len(entries) == 1:
        return detect_layout(folders[0], seed)          # e.g. VOCdevkit/VOC2012
    if not entries:
        raise InputError(f"dataset folder {root} is empty")
    raise InputError(
        f"{root} has no dataset layout minideeplab knows: expected images/ + masks/, "
        f"JPEGImages/ + SegmentationClass/ (Pascal VOC), or train/ val/ subfolders holding "
        f"either; found {', '.join(entries[:8])}{' ...' if len(entries) > 8 else ''}")
