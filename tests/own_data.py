"""Small datasets of every layout, written into a temporary folder, for the own-data tests.

Each scene is a plain background (class 0) with one or two rectangles of classes 1..K-1 whose
colour tells the class (so a few training steps learn something), a strip of ignore pixels
(255) in some masks, images of mixed sizes, and one JPEG image per dataset.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

#: The colour each class is drawn with in the images (and in RGB masks): background, red, blue.
CLASS_COLOURS = [(20, 20, 20), (220, 40, 40), (40, 60, 220)]
CLASS_NAMES = ["background", "apple", "sky"]
#: Mixed image sizes (H, W): wider, taller, square, small.
SIZES = [(48, 64), (64, 48), (56, 56), (40, 72), (64, 64), (36, 44), (72, 40), (48, 48),
         (60, 52), (44, 60)]


def scene(index: int, size, num_classes: int = 3):
    """(image (H, W, 3) uint8, mask (H, W) uint8) of scene ``index``, deterministic."""
    rng = np.random.default_rng(index)
    height, width = size
    mask = np.zeros((height, width), dtype=np.uint8)
    for _ in range(2):
        label = int(rng.integers(1, num_classes))
        top, left = int(rng.integers(0, height // 2)), int(rng.integers(0, width // 2))
        mask[top:top + int(rng.integers(8, height // 2 + 8)),
             left:left + int(rng.integers(8, width // 2 + 8))] = label
    colours = np.array(CLASS_COLOURS[:num_classes], dtype=np.float64)
    image = colours[mask] + rng.normal(0, 12, (height, width, 3))
    if index % 3 == 0:
        mask[:, :2] = 255                      # a strip of "ignore" at the left edge
    return np.clip(image, 0, 255).astype(np.uint8), mask


def save(path: Path, array, mode=None, palette=None):
    from PIL import Image

    picture = Image.fromarray(array) if mode is None else Image.fromarray(array, mode=mode)
    if palette is not None:
        picture.putpalette(palette)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path, quality=95) if path.suffix == ".jpg" else picture.save(path)


def voc_palette():
    """A 256-entry palette: the class colours first, 255 (ignore) in VOC's cream."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[:len(CLASS_COLOURS)] = CLASS_COLOURS
    palette[255] = (224, 224, 192)
    return palette.ravel().tolist()


def write_index_dataset(root: Path, count: int = 10, mask_kind: str = "index",
                        image_dir="images", mask_dir="masks", start: int = 0) -> Path:
    """images/ + masks/ (or other folder names): index (L), palette (P) or RGB masks."""
    for i in range(start, start + count):
        image, mask = scene(i, SIZES[i % len(SIZES)])
        suffix = ".jpg" if i == start + 1 else ".png"           # one JPEG image
        save(root / image_dir / f"scene{i:02d}{suffix}", image)
        if mask_kind == "index":
            save(root / mask_dir / f"scene{i:02d}.png", mask)
        elif mask_kind == "palette":
            save(root / mask_dir / f"scene{i:02d}.png", mask, mode="P", palette=voc_palette())
        elif mask_kind == "rgb":
            colours = np.zeros((256, 3), dtype=np.uint8)
            colours[:len(CLASS_COLOURS)] = CLASS_COLOURS
            colours[255] = (255, 255, 255)
            save(root / mask_dir / f"scene{i:02d}.png", colours[mask])
        else:
            raise ValueError(mask_kind)
    if mask_kind == "rgb":
        table = {name: list(colour) for name, colour in zip(CLASS_NAMES, CLASS_COLOURS,
                                                             strict=True)}
        table["ignore"] = [255, 255, 255]
        (root / "classes.json").write_text(json.dumps(table))
    return root


def write_voc(root: Path, count: int = 10) -> Path:
    """JPEGImages/ (JPEG), SegmentationClass/ (palette PNG), ImageSets/Segmentation/*.txt."""
    stems = []
    for i in range(count):
        image, mask = scene(i, SIZES[i % len(SIZES)])
        stem = f"2007_{i:06d}"
        save(root / "JPEGImages" / f"{stem}.jpg", image)
        save(root / "SegmentationClass" / f"{stem}.png", mask, mode="P", palette=voc_palette())
        stems.append(stem)
    # VOC's JPEGImages also holds images without a segmentation mask
    save(root / "JPEGImages" / "2007_999999.jpg", scene(99, (32, 32))[0])
    split_dir = root / "ImageSets" / "Segmentation"
    split_dir.mkdir(parents=True)
    (split_dir / "train.txt").write_text("\n".join(stems[:7]) + "\n")
    (split_dir / "val.txt").write_text("\n".join(stems[7:]) + "\n")
    return root


def write_split_folders(root: Path) -> Path:
    """train/ val/ test/, each with images/ + masks/."""
    write_index_dataset(root / "train", count=6)
    write_index_dataset(root / "val", count=2, start=6)
    write_index_dataset(root / "test", count=2, start=8)
    return root
