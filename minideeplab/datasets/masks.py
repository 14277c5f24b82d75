"""Reading label masks of your own data: index PNGs, palette PNGs, RGB masks with a colour table.

A mask gives every pixel of an image its class. Three kinds of files are common, and all three
become the same thing here, an (H, W) int64 array of class indices (255 = ignore):

* **index masks** (PNG mode ``L``, 8 or 16 bit): the pixel value *is* the class;
* **palette masks** (PNG mode ``P``, Pascal VOC's ``SegmentationClass``): the pixel stores an
  index into a colour table; the *index* is the class, the colour is only for viewing;
* **RGB colour masks**: the pixel stores a colour, and a table says which colour is which class
  (``--palette FILE``, or ``classes.json`` / ``labelmap.txt`` in the dataset folder).

Masks must be lossless: JPEG compression blurs every edge into colours (or values) that are no
class at all, so a ``.jpg`` mask is refused with that reason.

The class table (:class:`ClassTable`) also gives the classes their names. Formats it reads:

``classes.json`` (or the ``--palette`` file), one of::

    ["background", "cat", "dog"]                                   names only (index masks)
    {"background": [0, 0, 0], "cat": [128, 0, 0]}                  name -> colour, in class order
    [{"name": "background", "colour": [0, 0, 0]}, ...]             the same as a list

``labelmap.txt`` (the format CVAT exports: ``name:r,g,b:parts:actions``, ``#`` comments), or one
name per line. In every format an entry named ``ignore`` is not a class: its colour maps to 255.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..functional.loss import IGNORE_INDEX

__all__ = ["ClassTable", "read_class_table", "read_mask", "MASK_SUFFIXES", "LOSSY_SUFFIXES",
           "MASK_255_CHOICES"]

#: Lossless formats a mask may be stored in.
MASK_SUFFIXES = (".png", ".bmp", ".tif", ".tiff")
#: Formats that change pixel values when saved: never a mask.
LOSSY_SUFFIXES = (".jpg", ".jpeg", ".webp")
#: What a 255 in a mask means: "ignore" (the convention of Pascal VOC and of the loss) or
#: "class1" (the usual black-and-white binary mask, 255 = foreground).
MASK_255_CHOICES = ("ignore", "class1")

_INDEX_MODES = ("L", "P", "1", "I", "I;16", "I;16B", "I;16L")
_CLASS_FILES = ("classes.json", "labelmap.txt")


@dataclass
class ClassTable:
    """Class names (index = class id) and, for RGB masks, the colour of each class.

    ``colours`` maps an ``(r, g, b)`` tuple to a class id, or to 255 for an ``ignore`` colour;
    it is None when the file gives names only. ``source`` says where the table came from.
    """

    names: tuple
    colours: dict | None = None
    source: str = ""
    ignore_colours: list = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.names)


def _colour(value, where: str) -> tuple:
    if (not isinstance(value, (list, tuple)) or len(value) != 3
            or not all(isinstance(v, int) and 0 <= v <= 255 for v in value)):
        raise InputError(f"{where}: a colour must be three integers 0..255 like [128, 0, 0], "
                         f"got {value!r}")
    return tuple(value)


def _table_from_entries(entries, source: str) -> ClassTable:
    """``[(name, colour or None), ...]`` in class order -> a checked ClassTable."""
    names, colours, ignore = [], {}, []
    for name, colour in entries:
        if not isinstance(name, str) or not name:
            raise InputError(f"{source}: every class needs a name (a non-empty string), "
                             f"got {name!r}")
        if name.lower() == "ignore":
            if colour is not None:
                ignore.append(colour)
            continue
        if colour is not None:
            if colour in colours:
                raise InputError(f"{source}: the colour {list(colour)} is given to two classes "
                                 f"({names[colours[colour]]!r} and {name!r})")
            colours[colour] = len(names)
        names.append(name)
    if not names:
        raise InputError(f"{source}: no classes found")
    if colours and len(colours) != len(names):
        missing = [n for k, n in enumerate(names) if k not in colours.values()]
        raise InputError(f"{source}: give every class a colour or none; no colour for {missing}")
    if len(names) > IGNORE_INDEX:
        raise InputError(f"{source}: at most {IGNORE_INDEX} classes ({IGNORE_INDEX} means "
                         f"ignore), got {len(names)}")
    for colour in ignore:
        colours[colour] = IGNORE_INDEX
    return ClassTable(tuple(names), colours or None, source, ignore)


def _table_from_json(path: Path) -> ClassTable:
    source = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{source} is not a readable JSON file ({error})") from None
    if isinstance(data, dict):
        entries = [(name, _colour(value, f"{source}, class {name!r}"))
                   for name, value in data.items()]
    elif isinstance(data, list) and all(isinstance(item, str) for item in data):
        entries = [(name, None) for name in data]
    elif isinstance(data, list) and all(isinstance(item, dict) for item in data):
        entries = []
        for item in data:
            value = item.get("colour", item.get("color"))
            entries.append((item.get("name"), None if value is None
                            else _colour(value, f"{source}, class {item.get('name')!r}")))
    else:
        raise InputError(f"{source}: expected a list of class names, a dict name -> [r, g, b], "
                         f"or a list of {{\"name\": ..., \"colour\": [r, g, b]}}")
    return _table_from_entries(entries, source)


def _table_from_labelmap(path: Path) -> ClassTable:
    """CVAT's ``labelmap.txt`` (``name:r,g,b:parts:actions``) or one name per line."""
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition(":")
        colour_text = rest.split(":", 1)[0].strip()
        colour = None
        if colour_text:
            try:
                colour = _colour([int(v) for v in colour_text.split(",")],
                                 f"{path}, line {number}")
            except ValueError:
                raise InputError(f"{path}, line {number}: expected name:r,g,b, got "
                                 f"{line!r}") from None
        entries.append((name.strip(), colour))
    return _table_from_entries(entries, str(path))


def read_class_table(root, palette=None) -> ClassTable | None:
    """The class table of a dataset: ``palette`` (a JSON file) if given, else ``classes.json`` or
    ``labelmap.txt`` in ``root``; None when there is none (index masks need no table)."""
    if palette is not None:
        path = Path(palette)
        if not path.is_file():
            raise InputError(f"--palette file {path} does not exist")
        return _table_from_json(path)
    for name in _CLASS_FILES:
        path = Path(root) / name
        if path.is_file():
            return _table_from_json(path) if name.endswith(".json") else \
                _table_from_labelmap(path)
    return None


def _colours_to_classes(rgb: np.ndarray, table: ClassTable | None, path: Path) -> np.ndarray:
    """(H, W, 3) uint8 colours -> (H, W) class ids through ``table``; grey masks pass as values."""
    if table is None or table.colours is None:
        if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
            return rgb[..., 0].astype(np.int64)      # an index mask saved as grey RGB
        raise InputError(
            f"mask {path} is an RGB colour mask: say which colour is which class with "
            f"--palette FILE (JSON, e.g. {{\"background\": [0, 0, 0], \"car\": [0, 0, 142]}}) "
            f"or a classes.json / labelmap.txt in the dataset folder")
    codes = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) \
        | rgb[..., 2].astype(np.int64)
    unique, inverse = np.unique(codes, return_inverse=True)
    lookup = np.empty(len(unique), dtype=np.int64)
    unknown = []
    for i, code in enumerate(unique.tolist()):
        colour = (code >> 16, (code >> 8) & 255, code & 255)
        if colour not in table.colours:
            unknown.append(list(colour))
        lookup[i] = table.colours.get(colour, -1)
    if unknown:
        shown = ", ".join(str(c) for c in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise InputError(f"mask {path} has colours that are not in the class table "
                         f"({table.source}): {shown}")
    return lookup[inverse.reshape(codes.shape)]


def read_mask(path, table: ClassTable | None = None, mask_255: str | None = None) -> np.ndarray:
    """One mask file as (H, W) int64 class ids (255 = ignore).

    Args:
        path: a PNG (or BMP/TIFF) mask.
        table: the dataset's class table, needed for RGB colour masks.
        mask_255: ``"class1"`` reads 255 as class 1 (binary black/white masks); None or
            ``"ignore"`` keeps 255 as "ignore".

    Raises:
        InputError naming the file: a JPEG (lossy) mask, an unreadable file, an RGB mask without
        a colour table or with a colour not in it.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if path.suffix.lower() in LOSSY_SUFFIXES:
        raise InputError(f"mask {path} is a {path.suffix[1:].upper()} file: masks must be "
                         f"lossless (PNG), because JPEG compression changes the label values "
                         f"along every edge; save the masks as PNG")
    try:
        with Image.open(path) as picture:
            picture.load()
            if picture.mode in _INDEX_MODES:
                # For a palette (P) image this gives the palette *indices*: the classes.
                labels = np.asarray(picture).astype(np.int64)
            elif picture.mode in ("RGB", "RGBA"):
                labels = _colours_to_classes(np.asarray(picture.convert("RGB")), table, path)
            else:
                raise InputError(f"mask {path} has mode {picture.mode}; a mask must be an index "
                                 f"(L), palette (P) or RGB colour PNG")
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise InputError(f"mask {path} is not a readable image ({error})") from None
    if mask_255 == "class1":
        labels[labels == 255] = 1
    return labels
