"""The data check: read every image and mask of a dataset folder once, refuse what would train
on wrong labels, and say what was found.

It refuses, with an error naming the file: an unreadable (corrupt) image or mask, a mask whose
size differs from its image, a label outside ``[0, K)`` that is not 255 (with the values found),
an RGB colour not in the class table, a JPEG mask, an image without a mask, an empty folder, and
a mask set holding only 0 and 255 -- the usual black-and-white binary mask, where 255 would mean
"ignore" and training would see only background -- unless ``mask_255`` says what 255 is.

What it found (:class:`DataCheck`): images per split, their sizes, the classes (names from the
class table, else ``class k``; K from the table, else the largest label + 1) and each class's
share of the pixels. The pixel counts of the training split are what class weights are made of.
``minideeplab data check DIR`` prints :meth:`DataCheck.text`; ``train --data DIR`` prints it
before training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..functional.loss import IGNORE_INDEX
from .layouts import Layout, detect_layout
from .masks import MASK_255_CHOICES, ClassTable, read_class_table, read_mask

__all__ = ["DataCheck", "check_data", "image_size"]

_SPLITS = ("train", "val", "test")


def image_size(path) -> tuple:
    """(height, width) of an image file, decoding it whole so that a corrupt file is caught."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as picture:
            picture.load()
            return picture.size[1], picture.size[0]
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as error:
        raise InputError(f"image {path} is not a readable PNG/JPEG ({error})") from None


@dataclass
class DataCheck:
    """What :func:`check_data` found in a dataset folder."""

    layout: Layout
    class_names: tuple
    names_from: str
    pixel_counts: dict          # split -> (K,) int64 labelled pixels per class
    ignore_counts: dict         # split -> pixels labelled 255
    train_image_pixels: np.ndarray   # (K,) pixels of the training images that contain class k
    sizes: dict                 # split -> [(h, w), ...]
    jpeg_count: int
    mask_255: str | None
    table: ClassTable | None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def median_size(self, split: str = "train") -> tuple:
        """Median (height, width) of the split's images: the scale a model trained on them saw."""
        sizes = np.asarray(self.sizes[split])
        return int(np.median(sizes[:, 0])), int(np.median(sizes[:, 1]))

    def describe(self) -> dict:
        """JSON-able summary for the run's metrics: layout, split, classes, pixel counts."""
        return {**self.layout.describe(), "class_names": list(self.class_names),
                "classes_from": self.names_from, "mask_255": self.mask_255,
                "train_pixels_per_class": self.pixel_counts["train"].tolist(),
                "median_train_size": list(self.median_size("train"))}

    def text(self) -> str:
        """The report printed before training: splits, sizes, classes and their pixel shares."""
        all_sizes = [s for split in _SPLITS for s in self.sizes.get(split, [])]
        heights, widths = zip(*all_sizes, strict=True)
        smallest = min(all_sizes, key=lambda s: s[0] * s[1])
        largest = max(all_sizes, key=lambda s: s[0] * s[1])
        median_h, median_w = int(np.median(heights)), int(np.median(widths))
        lines = [f"data: {self.layout.line()}", *(f"  note: {n}" for n in self.layout.notes),
                 f"images: {len(all_sizes)}, from {smallest[0]}x{smallest[1]} to "
                 f"{largest[0]}x{largest[1]} px (HxW), median {median_h}x{median_w}"
                 + (f"; {self.jpeg_count} of them JPEG" if self.jpeg_count else "")]
        lines.append(f"classes: {self.num_classes} ({self.names_from})"
                     + ("; 255 read as class 1 (--mask-255 class1)"
                        if self.mask_255 == "class1" else ""))
        totals = {split: counts.sum() + self.ignore_counts[split]
                  for split, counts in self.pixel_counts.items()}
        everything = sum(self.pixel_counts.values())
        every_total = sum(totals.values())
        lines.append(f"  {'id':>4}  {'class':<20} {'train pixels':>12} {'all pixels':>11}")
        for k, name in enumerate(self.class_names):
            train_share = self.pixel_counts["train"][k] / max(totals["train"], 1)
            lines.append(f"  {k:>4}  {name[:20]:<20} {train_share:>12.1%} "
                         f"{everything[k] / max(every_total, 1):>11.1%}")
        ignored = sum(self.ignore_counts.values())
        if ignored:
            lines.append(f"  {IGNORE_INDEX:>4}  {'ignore':<20} "
                         f"{self.ignore_counts['train'] / max(totals['train'], 1):>12.1%} "
                         f"{ignored / max(every_total, 1):>11.1%}")
        absent = [k for k in range(self.num_classes) if everything[k] == 0]
        if absent:
            shown = ", ".join(str(k) for k in absent[:10]) + (" ..." if len(absent) > 10 else "")
            lines.append(f"  warning: {len(absent)} of the {self.num_classes} classes never "
                         f"occur ({shown}); if the masks are grey pictures rather than class "
                         f"indices 0..K-1, convert them")
        return "\n".join(lines)


def _class_names(table, num_classes, largest_label):
    """(names, where they came from): the table's, else ``class k`` up to K."""
    if table is not None:
        if num_classes is not None and num_classes != table.num_classes:
            raise InputError(f"the class table {table.source} has {table.num_classes} classes "
                             f"but {num_classes} were asked for (by --num-classes or by the "
                             f"checkpoint)")
        return table.names, f"names from {table.source}"
    if num_classes is None:
        num_classes = largest_label + 1
        where = "from the largest label in the masks; no classes.json, labelmap.txt or --palette"
    else:
        where = "as given; no classes.json, labelmap.txt or --palette"
    return tuple(f"class {k}" for k in range(num_classes)), where


def check_data(root, palette=None, mask_255: str | None = None, num_classes: int | None = None,
               layout: Layout | None = None) -> DataCheck:
    """Read every image and mask of the dataset folder ``root``; return what was found.

    Args:
        root: the dataset folder (any layout of :mod:`.layouts`).
        palette: a JSON class table (names, and colours for RGB masks); default the folder's
            ``classes.json`` or ``labelmap.txt``.
        mask_255: None (255 = ignore; a 0/255-only mask set is refused), ``"ignore"`` or
            ``"class1"`` (255 = class 1).
        num_classes: K if known (e.g. a checkpoint's); default from the table or the labels.
        layout: an already detected layout of ``root``.

    Raises:
        InputError naming the file, for every problem listed in the module docstring.
    """
    if mask_255 is not None and mask_255 not in MASK_255_CHOICES:
        raise InputError(f"mask_255 must be one of {MASK_255_CHOICES} or None, got {mask_255!r}")
    layout = layout or detect_layout(root)
    table = read_class_table(layout.root, palette)
    known = table.num_classes if table is not None else num_classes
    counts = {s: np.zeros(256, dtype=np.int64) for s in layout.splits}
    train_image_pixels = np.zeros(256, dtype=np.int64)
    sizes = {s: [] for s in layout.splits}
    first_with = {}                                 # label -> first mask holding it
    jpeg_count = 0
    for split, pairs in layout.splits.items():
        for image_file, mask_file in pairs:
            height, width = image_size(image_file)
            jpeg_count += image_file.suffix.lower() in (".jpg", ".jpeg")
            mask = read_mask(mask_file, table, mask_255)
            if mask.shape != (height, width):
                raise InputError(f"mask {mask_file} is {mask.shape[0]}x{mask.shape[1]} (HxW) "
                                 f"but its image {image_file} is {height}x{width}")
            values = np.unique(mask)
            bad = values[(values != IGNORE_INDEX) & ((values < 0) | (values > 254) | (
                values >= (known if known is not None else 255)))]
            if bad.size:
                limit = known if known is not None else IGNORE_INDEX
                raise InputError(f"mask {mask_file} has labels {bad[:10].tolist()} outside "
                                 f"[0, {limit}) that are not {IGNORE_INDEX} (ignore)"
                                 + (f"; the classes are from {table.source}" if table else ""))
            for value in values.tolist():
                first_with.setdefault(value, mask_file)
            image_counts = np.bincount(mask.ravel(), minlength=256)
            counts[split] += image_counts
            if split == "train":
                train_image_pixels += np.where(image_counts > 0, mask.size, 0)
            sizes[split].append((height, width))
    seen = set(first_with)
    if mask_255 is None and IGNORE_INDEX in seen and seen <= {0, IGNORE_INDEX}:
        raise InputError(
            f"the masks of {layout.root} hold only the values 0 and 255 (e.g. "
            f"{first_with[IGNORE_INDEX]}), the usual black-and-white binary mask; but 255 means "
            f"'ignore' here, so every foreground pixel would be ignored and training would see "
            f"only background. Say what 255 is: --mask-255 class1 (255 is the foreground, class "
            f"1) or --mask-255 ignore (255 really marks pixels to ignore)")
    labelled = [v for v in seen if v != IGNORE_INDEX]
    names, names_from = _class_names(table, num_classes, max(labelled, default=0))
    k = len(names)
    return DataCheck(layout, tuple(names), names_from,
                     {s: c[:k].copy() for s, c in counts.items()},
                     {s: int(c[IGNORE_INDEX]) for s, c in counts.items()},
                     train_image_pixels[:k].copy(), sizes, jpeg_count, mask_255, table)
