"""Data for minideeplab: two procedural datasets, your own folder of PNGs, augmentation, pictures.

Everything here returns the same two arrays, the layout the models and the loss expect::

    images  (N, 3, H, W) float32, values in [0, 1]
    masks   (N, H, W)    int64,   a class index per pixel; 255 means "ignore this pixel"

**shapes** (the default, 5 classes: background, disk, square, ring, bar) is drawn from a seed.
Its design follows measurements made with a PyTorch twin of the model while the data was designed:

* Objects and background draw their base colour from the *same* range, so a single pixel's colour
  says nothing about its class. ``colour_only_baseline`` proves it: a per-pixel colour classifier
  scores about 0.2 mIoU, so whatever the network learns beyond that it learns from neighbourhoods.
* Every object differs in colour from the background and from the objects drawn before it by at
  least 0.4 (RGB distance), so "where is an object" is learnable.
* "Which object" is carried by a cue that needs a neighbourhood: stripes whose direction names the
  class (disk horizontal, square vertical, ring diagonal, bar flat = no stripes). Outline alone
  is a slow cue for a tiny model; stripes make the data reach ~0.88 mIoU in minutes.
* Objects span 12 px to half the image, rings are 5-8 px thick and bars 4-6 px wide (at 64x64; all
  pixel measures scale with ``size / 64``), so context (ASPP) and fine detail (decoder) both matter.

**digits** composites real handwritten digits (the 8x8 UCI set, vendored in data/digits_8x8.npz,
CC BY 4.0, see data/README.md) into scenes, 11 classes: background and the digits 0-9.

**load_folder** reads your own data: ``images/`` and ``masks/`` subfolders of PNGs.

Generated sets are cached under ``data/cache/`` (override with the environment variable
``MINIDEEPLAB_CACHE_DIR``); the generator version is part of the file name, so changing a
generator (and bumping its version) never serves stale data.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

IGNORE_INDEX = 255

SHAPES_CLASSES = ("background", "disk", "square", "ring", "bar")
BACKGROUND, DISK, SQUARE, RING, BAR = range(len(SHAPES_CLASSES))
DIGITS_CLASSES = ("background",) + tuple(f"digit {d}" for d in range(10))

# Bump a version whenever its generator's output changes: the cache file names carry it.
SHAPES_VERSION = 1
DIGITS_VERSION = 1

_REPO_DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DIGITS_SOURCE = _REPO_DATA_DIR / "digits_8x8.npz"

# Each split is generated from its own seed, so train, val and test scenes never coincide.
# The seeds are offset from the small numbers people type (make_shapes(n, seed=0)), so an ad-hoc
# set made in a notebook is not, by accident, the training set.
DATASETS = {
    "shapes": {
        "num_classes": len(SHAPES_CLASSES),
        "class_names": SHAPES_CLASSES,
        "in_channels": 3,
        "default_size": 64,
        "default_n": {"train": 2000, "val": 500, "test": 500},
        "split_seeds": {"train": 1000, "val": 1001, "test": 1002},
        "version": SHAPES_VERSION,
    },
    "digits": {
        "num_classes": len(DIGITS_CLASSES),
        "class_names": DIGITS_CLASSES,
        "in_channels": 3,
        "default_size": 64,
        "default_n": {"train": 2000, "val": 500, "test": 500},
        "split_seeds": {"train": 2000, "val": 2001, "test": 2002},
        "version": DIGITS_VERSION,
    },
}
SPLITS = ("train", "val", "test")


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


# ---------------------------------------------------------------------------------------------
# Argument checks: every error names the argument and what was expected.
# ---------------------------------------------------------------------------------------------

def _check_int(value, name: str, minimum: int | None = None) -> int:
    # bool is a subclass of int, but make_shapes(True) is surely a mistake.
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return split


def _registry_entry(name: str) -> dict:
    if name not in DATASETS:
        raise ValueError(f"name must be one of {tuple(DATASETS)}, got {name!r} "
                         f"(for your own images use load_folder(path, num_classes))")
    return DATASETS[name]


def _image_rng(seed: int, index: int) -> np.random.Generator:
    """The random generator for image ``index`` of the set made from ``seed``.

    ``SeedSequence(seed, spawn_key=(index,))`` is exactly the ``index``-th child that
    ``SeedSequence(seed).spawn(...)`` would give, made without spawning the others. So image i
    depends only on (seed, i), never on how many images were asked for: the first 10 images of
    ``make_shapes(100)`` are ``make_shapes(10)``.
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))


# ---------------------------------------------------------------------------------------------
# Small image helpers shared by the generators and by augment().
# ---------------------------------------------------------------------------------------------

def _bilinear_taps(size_in: int, size_out: int, align_corners: bool):
    """For each output position along one axis: the two source indices and the weight of the 2nd.

    ``align_corners=False`` (torch's default) treats pixels as unit squares with centres at
    i + 0.5, so the output is the same picture at another resolution; ``True`` maps the first
    and last pixel centres onto each other.
    """
    out = np.arange(size_out, dtype=np.float64)
    if align_corners:
        step = (size_in - 1) / (size_out - 1) if size_out > 1 else 0.0
        source = out * step
    else:
        source = (out + 0.5) * (size_in / size_out) - 0.5
        source = np.maximum(source, 0.0)  # torch clamps the half pixel before the first centre
    index0 = np.minimum(np.floor(source).astype(np.int64), size_in - 1)
    index1 = np.minimum(index0 + 1, size_in - 1)
    weight1 = source - index0
    return index0, index1, weight1


def _resize_bilinear(image: np.ndarray, out_h: int, out_w: int,
                     align_corners: bool = False) -> np.ndarray:
    """Bilinear resize of the last two axes: (..., H, W) -> (..., out_h, out_w), same dtype.

    Bilinear interpolation is separable: interpolate between rows, then between columns.
    """
    y0, y1, wy = _bilinear_taps(image.shape[-2], out_h, align_corners)
    x0, x1, wx = _bilinear_taps(image.shape[-1], out_w, align_corners)
    wy = wy.astype(image.dtype)[:, None]
    wx = wx.astype(image.dtype)
    rows = image[..., y0, :] * (1 - wy) + image[..., y1, :] * wy
    return rows[..., x0] * (1 - wx) + rows[..., x1] * wx


def _resize_nearest(labels: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Nearest-neighbour resize of the last two axes, for label maps (never invent a class)."""
    rows = np.minimum(((np.arange(out_h) + 0.5) * labels.shape[-2] / out_h).astype(np.int64),
                      labels.shape[-2] - 1)
    cols = np.minimum(((np.arange(out_w) + 0.5) * labels.shape[-1] / out_w).astype(np.int64),
                      labels.shape[-1] - 1)
    return labels[..., rows[:, None], cols[None, :]]


def _smooth_colour_noise(rng: np.random.Generator, size: int, amplitude: float,
                         grid: int = 4) -> np.ndarray:
    """Low-frequency colour noise (3, size, size): a tiny random grid, bilinearly upsampled.

    A 4x4 grid over the whole image gives blotches about a quarter of the image across: the
    background is not one flat colour (so "flat region = background" is not a shortcut), yet it
    has no stripes at the scale of the object textures.
    """
    coarse = rng.uniform(-amplitude, amplitude, size=(3, grid, grid))
    return _resize_bilinear(coarse, size, size, align_corners=True)


def _contrasting_colour(rng: np.random.Generator, previous: list, min_distance: float = 0.4,
                        low: float = 0.2, high: float = 0.8, batch: int = 32,
                        max_batches: int = 30):
    """A base colour, each channel uniform in [low, high], at least ``min_distance`` (RGB
    Euclidean distance) from every colour in ``previous``. Rejection sampling: draw candidates
    until one is far enough from all of them. Returns None if none is found (a scene whose colour
    cube is already crowded; the caller then draws fewer objects, so the floor always holds).
    """
    previous = np.asarray(previous, dtype=np.float64).reshape(-1, 3)
    for _ in range(max_batches):
        candidates = rng.uniform(low, high, size=(batch, 3))
        distances = np.linalg.norm(candidates[:, None, :] - previous[None, :, :], axis=2)
        far_enough = np.flatnonzero((distances >= min_distance).all(axis=1))
        if far_enough.size:
            return candidates[far_enough[0]]
    return None


# ---------------------------------------------------------------------------------------------
# shapes
# ---------------------------------------------------------------------------------------------

# Stripe direction per class, in degrees: the angle of the lines themselves, measured from the
# x axis towards +y (down). 0 = horizontal lines, 90 = vertical lines. The ring uses one of the
# two diagonals at random: a horizontal flip turns one diagonal into the other, so the cue
# "diagonal = ring" survives flip augmentation (as horizontal and vertical do). Bars are flat.
_STRIPE_ANGLES = {DISK: (0.0,), SQUARE: (90.0,), RING: (45.0, -45.0), BAR: None}
_STRIPE_AMPLITUDE = 0.15   # stripes add +-0.15 brightness to the base colour
_STRIPE_JITTER = 10.0      # degrees
_BACKGROUND_NOISE = 0.1    # amplitude of the smooth background colour noise
_PIXEL_NOISE = 0.03        # standard deviation of the per-pixel Gaussian noise


def _stripes(yy, xx, angle_deg: float, period: float, phase: float) -> np.ndarray:
    """A sine grating of lines running at ``angle_deg``: values in [-1, 1], shape of ``yy``.

    The brightness changes along the lines' normal, so project each pixel onto the normal:
    ``across = y cos(a) - x sin(a)``. For a = 0 that is y (horizontal lines), for a = 90 it is -x
    (vertical lines).
    """
    angle = np.deg2rad(angle_deg)
    across = yy * np.cos(angle) - xx * np.sin(angle)
    return np.sin(2 * np.pi * across / period + phase)


def _draw_disk(rng, yy, xx, size, scale):
    radius = rng.uniform(12, 32) * scale / 2
    cy, cx = rng.uniform(0.1 * size, 0.9 * size, size=2)
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2


def _rotated_coordinates(rng, yy, xx, size):
    """Pixel coordinates in a frame centred on a random point and turned by a random angle."""
    cy, cx = rng.uniform(0.1 * size, 0.9 * size, size=2)
    angle = rng.uniform(0, np.pi)
    along = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
    across = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
    return along, across


def _draw_square(rng, yy, xx, size, scale):
    half_side = rng.uniform(12, 32) * scale / 2
    along, across = _rotated_coordinates(rng, yy, xx, size)
    return (np.abs(along) <= half_side) & (np.abs(across) <= half_side)


def _draw_ring(rng, yy, xx, size, scale):
    thickness = rng.uniform(5, 8) * scale
    # The hole must stay open (at least 8 px across at 64x64), so thick rings are also big.
    min_diameter = max(12 * scale, 2 * thickness + 8 * scale)
    outer = rng.uniform(min_diameter, 32 * scale) / 2
    cy, cx = rng.uniform(0.1 * size, 0.9 * size, size=2)
    distance_sq = (yy - cy) ** 2 + (xx - cx) ** 2
    return (distance_sq <= outer ** 2) & (distance_sq >= (outer - thickness) ** 2)


def _draw_bar(rng, yy, xx, size, scale):
    half_width = rng.uniform(4, 6) * scale / 2
    half_length = rng.uniform(0.45, 0.9) * size / 2
    along, across = _rotated_coordinates(rng, yy, xx, size)
    return (np.abs(along) <= half_length) & (np.abs(across) <= half_width)


_SHAPE_DRAWERS = {DISK: _draw_disk, SQUARE: _draw_square, RING: _draw_ring, BAR: _draw_bar}


def _shapes_scene(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray):
    """One shapes image (3, S, S) float64, its mask (S, S) int64 and its instance map (S, S)
    int64 (0 = background, k = the k-th object drawn, where it is still visible)."""
    size = yy.shape[0]
    scale = size / 64
    background = rng.uniform(0.2, 0.8, size=3)
    image = background[:, None, None] + _smooth_colour_noise(rng, size, _BACKGROUND_NOISE)
    mask = np.zeros((size, size), dtype=np.int64)
    instances = np.zeros((size, size), dtype=np.int64)
    colours = [background]
    for _ in range(rng.integers(1, 5)):            # 1-4 objects
        cls = int(rng.integers(DISK, BAR + 1))   # every object class equally likely
        colour = _contrasting_colour(rng, colours)
        if colour is None:
            break
        colours.append(colour)
        region = _SHAPE_DRAWERS[cls](rng, yy, xx, size, scale)
        texture = np.zeros((size, size))
        angles = _STRIPE_ANGLES[cls]
        if angles is not None:
            angle = angles[rng.integers(len(angles))] + rng.uniform(-_STRIPE_JITTER, _STRIPE_JITTER)
            period = rng.uniform(4, 6) * scale
            phase = rng.uniform(0, 2 * np.pi)
            texture = _STRIPE_AMPLITUDE * _stripes(yy, xx, angle, period, phase)
        # Drawing in order: a later object simply overwrites pixels (and labels) of earlier ones.
        image[:, region] = colour[:, None] + texture[region][None, :]
        mask[region] = cls
        instances[region] = len(colours) - 1
    image += rng.normal(0.0, _PIXEL_NOISE, size=image.shape)
    return np.clip(image, 0.0, 1.0), mask, instances


def _pixel_grid(size: int):
    """Row and column coordinate of every pixel, two (size, size) float arrays."""
    coords = np.arange(size, dtype=np.float64)
    return np.meshgrid(coords, coords, indexing="ij")


def make_shapes(n: int, size: int = 64, seed: int = 0, return_instances: bool = False):
    """Generate ``n`` shapes scenes (see the module docstring for the design and the reasons).

    Classes: 0 background, 1 disk (horizontal stripes), 2 square (vertical stripes, rotated),
    3 ring (diagonal stripes), 4 bar (flat colour, thin and long, any angle); 1-4 objects per
    image, drawn in order so later ones occlude earlier ones.

    Args:
        n: number of images (>= 0).
        size: image side in pixels (>= 16). Pixel measures scale with ``size / 64``.
        seed: non-negative int. Image i depends only on (seed, i), not on ``n``.
        return_instances: also return which object each pixel shows.

    Returns:
        images (n, 3, size, size) float32 in [0, 1], masks (n, size, size) int64 in [0, 4];
        with ``return_instances``, also instances (n, size, size) int64: 0 for background, k for
        the k-th object drawn (two disks share a class in ``masks`` but not an instance id).
    """
    n = _check_int(n, "n", minimum=0)
    size = _check_int(size, "size", minimum=16)
    seed = _check_int(seed, "seed", minimum=0)
    yy, xx = _pixel_grid(size)
    images = np.empty((n, 3, size, size), dtype=np.float32)
    masks = np.empty((n, size, size), dtype=np.int64)
    instances = np.empty((n, size, size), dtype=np.int64)
    for i in range(n):
        images[i], masks[i], instances[i] = _shapes_scene(_image_rng(seed, i), yy, xx)
    if return_instances:
        return images, masks, instances
    return images, masks


# ---------------------------------------------------------------------------------------------
# digits
# ---------------------------------------------------------------------------------------------

# The source digits are split into train and test *before* compositing, so a test scene never
# shows a digit drawing the model has seen in training. The split is stratified (80% of each
# digit class to train) and fixed by this seed. Val scenes use the train digits (new scenes from
# a different seed): val measures generalisation to new layouts, test to new drawings.
_DIGITS_SPLIT_SEED = 20240
_DIGITS_TRAIN_FRACTION = 0.8
_DIGIT_THRESHOLD = 0.5       # upsampled intensity (0..1) above which a pixel is labelled digit


def _load_digit_source():
    """The vendored UCI digits: images (1797, 8, 8) uint8 in 0..16 and labels (1797,) uint8."""
    if not DIGITS_SOURCE.is_file():
        raise FileNotFoundError(
            f"the digits source {DIGITS_SOURCE} is missing; it ships in the repository's data/ "
            f"folder (run from a clone of the repository, or an editable install)")
    with np.load(DIGITS_SOURCE, allow_pickle=False) as archive:
        return archive["images"], archive["labels"]


def digit_source_indices(split: str) -> np.ndarray:
    """Indices into the 1797 source digits that scenes of ``split`` may use (sorted int64).

    "train" and "val" share the train pool (80% of each digit class); "test" uses the other 20%.
    The two pools are disjoint and together cover every source digit.
    """
    split = _check_split(split)
    _, labels = _load_digit_source()
    rng = np.random.default_rng(_DIGITS_SPLIT_SEED)
    train_parts, test_parts = [], []
    for digit in range(10):
        members = rng.permutation(np.flatnonzero(labels == digit))
        n_train = int(round(_DIGITS_TRAIN_FRACTION * members.size))
        train_parts.append(members[:n_train])
        test_parts.append(members[n_train:])
    parts = test_parts if split == "test" else train_parts
    return np.sort(np.concatenate(parts)).astype(np.int64)


def make_digits(n: int, size: int = 64, seed: int = 0, split: str = "train",
                return_sources: bool = False):
    """Generate ``n`` scenes of 1-3 real handwritten digits on a coloured background.

    Each 8x8 source digit is upsampled (bilinear) to 16-28 px (at size 64, scaled with
    ``size / 64``), given a colour at least 0.4 away from the background and the digits before it,
    and alpha-blended in; a pixel is labelled with the digit where the upsampled intensity exceeds
    0.5. Later digits occlude earlier ones. Classes: 0 background, 1..10 = digits 0..9.

    Args:
        n, size, seed: as for ``make_shapes``.
        split: "train" or "val" draw digits from the train pool, "test" from the disjoint test pool
            (see ``digit_source_indices``).
        return_sources: also return which source digits each scene used.

    Returns:
        images (n, 3, size, size) float32 in [0, 1], masks (n, size, size) int64 in [0, 10];
        with ``return_sources``, also sources (n, 3) int64: source indices, -1 where unused.
    """
    n = _check_int(n, "n", minimum=0)
    size = _check_int(size, "size", minimum=16)
    seed = _check_int(seed, "seed", minimum=0)
    split = _check_split(split)
    source_images, source_labels = _load_digit_source()
    glyphs = source_images.astype(np.float64) / 16.0        # the UCI counts are 0..16
    pool = digit_source_indices(split)
    scale = size / 64

    images = np.empty((n, 3, size, size), dtype=np.float32)
    masks = np.zeros((n, size, size), dtype=np.int64)
    sources = np.full((n, 3), -1, dtype=np.int64)
    for i in range(n):
        rng = _image_rng(seed, i)
        background = rng.uniform(0.2, 0.8, size=3)
        image = background[:, None, None] + _smooth_colour_noise(rng, size, _BACKGROUND_NOISE)
        mask = masks[i]
        colours = [background]
        for k in range(rng.integers(1, 4)):                 # 1-3 digits
            source = int(pool[rng.integers(pool.size)])
            colour = _contrasting_colour(rng, colours)
            if colour is None:
                break
            colours.append(colour)
            side = min(size, max(4, int(round(rng.uniform(16, 28) * scale))))
            glyph = _resize_bilinear(glyphs[source], side, side)
            ink = glyph > _DIGIT_THRESHOLD
            # Prefer a place where the new digit hides little of the ones already there (a few
            # tries, then take the last): overlap happens, but most digits stay readable.
            for _ in range(8):
                top, left = rng.integers(0, size - side + 1, size=2)
                window = mask[top:top + side, left:left + side]
                if (window[ink] > 0).sum() <= 0.2 * ink.sum():
                    break
            # A soft alpha ramp centred on the threshold: anti-aliased edges, and the visible
            # edge of the digit falls where its label does.
            alpha = np.clip((glyph - 0.25) / 0.5, 0.0, 1.0)
            patch = image[:, top:top + side, left:left + side]
            image[:, top:top + side, left:left + side] = (
                patch * (1 - alpha) + colour[:, None, None] * alpha)
            window[ink] = int(source_labels[source]) + 1
            sources[i, k] = source
        image += rng.normal(0.0, _PIXEL_NOISE, size=image.shape)
        images[i] = np.clip(image, 0.0, 1.0)
    if return_sources:
        return images, masks, sources
    return images, masks


# ---------------------------------------------------------------------------------------------
# Splits and the cache
# ---------------------------------------------------------------------------------------------

def default_cache_dir() -> Path:
    """Where generated sets are cached: $MINIDEEPLAB_CACHE_DIR, else data/cache in the repo."""
    override = os.environ.get("MINIDEEPLAB_CACHE_DIR")
    return Path(override) if override else _REPO_DATA_DIR / "cache"


def _read_cache(path: Path, n: int, size: int):
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


def _write_cache(path: Path, images: np.ndarray, masks: np.ndarray) -> None:
    """Write atomically: a temporary file in the same folder, then rename over the target.

    A crash (or a second process) mid-write never leaves a half-written cache behind, because
    os.replace is atomic on one file system. A cache we cannot write is not an error.
    Labels are stored as uint8 (they are < 256): an eighth of the int64 size on disk.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                np.savez(file, images=images, masks=masks.astype(np.uint8))
            os.chmod(temporary, 0o644)     # mkstemp makes the file private (0600)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as error:
        warnings.warn(f"could not write the dataset cache {path}: {error}", stacklevel=3)


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
    entry = _registry_entry(name)
    split = _check_split(split)
    n = entry["default_n"][split] if n is None else _check_int(n, "n", minimum=0)
    size = entry["default_size"] if size is None else _check_int(size, "size", minimum=16)
    seed = entry["split_seeds"][split]

    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = folder / f"{name}_v{entry['version']}_{split}_n{n}_s{size}_seed{seed}.npz"
    if cache:
        cached = _read_cache(path, n, size)
        if cached is not None:
            return cached
    if name == "shapes":
        images, masks = make_shapes(n, size=size, seed=seed)
    else:
        images, masks = make_digits(n, size=size, seed=seed, split=split)
    if cache:
        _write_cache(path, images, masks)
    return images, masks


# ---------------------------------------------------------------------------------------------
# Your own data
# ---------------------------------------------------------------------------------------------

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _read_image_rgb(path: Path) -> np.ndarray:
    """A PNG/JPEG as (H, W, 3) float32 in [0, 1]: grayscale becomes 3 channels, alpha is dropped."""
    from PIL import Image  # Pillow comes with matplotlib; imported here so it is only needed here

    with Image.open(path) as picture:
        picture.load()
        if picture.mode in ("I;16", "I;16B", "I;16L"):             # 16-bit grayscale
            gray = np.asarray(picture, dtype=np.float32) / 65535.0
            return np.repeat(gray[:, :, None], 3, axis=2)
        if picture.mode != "RGB":
            # L, LA, P, RGBA, CMYK, 1 ...: Pillow knows how to make each of them RGB.
            picture = picture.convert("RGB")
        return np.asarray(picture, dtype=np.float32) / 255.0


def read_image(path) -> np.ndarray:
    """Read a PNG/JPEG as a model input: (3, H, W) float32 in [0, 1]."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {path} does not exist")
    try:
        return np.ascontiguousarray(_read_image_rgb(path).transpose(2, 0, 1))
    except OSError as error:
        raise ValueError(f"image {path} is not a readable PNG/JPEG ({error})") from None


def _read_mask(path: Path) -> np.ndarray:
    """An index-mask PNG as (H, W) int64: each pixel value is a class index (255 = ignore)."""
    from PIL import Image

    with Image.open(path) as picture:
        picture.load()
        if picture.mode not in ("L", "P", "1", "I", "I;16", "I;16B", "I;16L"):
            raise ValueError(
                f"mask {path} has mode {picture.mode}; a mask must be a single-channel image "
                f"whose pixel values are class indices (PNG mode L or P), not colours")
        # For a palette (P) image this gives the palette *indices*, which is what we want.
        return np.asarray(picture).astype(np.int64)


def load_folder(path, num_classes: int):
    """Read your own segmentation data from a folder laid out as::

        path/
          images/  cat.png  dog.jpg  ...    RGB, grayscale or RGBA (PNG or JPEG)
          masks/   cat.png  dog.png  ...    one index-mask PNG per image, same stem, same size

    A mask pixel holds the class index 0..num_classes-1, or 255 for "ignore" (borders, unsure
    pixels). Save masks as 8-bit grayscale (mode L) or palette (mode P) PNGs, never JPEG (lossy
    compression changes the labels). All images must have the same size (no resizing is done,
    so the labels stay exact): resize them beforehand, or crop with ``augment``.

    Returns:
        images (N, 3, H, W) float32 in [0, 1], masks (N, H, W) int64, in order of file stem.

    Raises:
        ValueError naming the file: missing or empty folder, an image without a mask (or a mask
        without an image), image/mask size mismatch, sizes differing across the folder, a mask
        value outside [0, num_classes) that is not 255.
    """
    num_classes = _check_int(num_classes, "num_classes", minimum=1)
    if num_classes > IGNORE_INDEX:
        raise ValueError(f"num_classes must be <= {IGNORE_INDEX} ({IGNORE_INDEX} means ignore), "
                         f"got {num_classes}")
    root = Path(path)
    if not root.is_dir():
        raise ValueError(f"path {root} is not a folder")
    image_dir, mask_dir = root / "images", root / "masks"
    for folder in (image_dir, mask_dir):
        if not folder.is_dir():
            raise ValueError(f"path {root} must contain an {folder.name}/ subfolder ({folder} "
                             f"is missing)")

    images_by_stem = {}
    for file in sorted(image_dir.iterdir()):
        if file.is_file() and file.suffix.lower() in _IMAGE_SUFFIXES:
            if file.stem in images_by_stem:
                raise ValueError(f"two images share the stem {file.stem!r}: "
                                 f"{images_by_stem[file.stem]} and {file}")
            images_by_stem[file.stem] = file
    masks_by_stem = {file.stem: file for file in sorted(mask_dir.iterdir())
                     if file.is_file() and file.suffix.lower() == ".png"}
    if not images_by_stem:
        raise ValueError(f"{image_dir} contains no images (.png, .jpg or .jpeg)")
    for stem, file in images_by_stem.items():
        if stem not in masks_by_stem:
            raise ValueError(f"image {file} has no mask: expected {mask_dir / (stem + '.png')}")
    for stem, file in masks_by_stem.items():
        if stem not in images_by_stem:
            raise ValueError(f"mask {file} has no image with the stem {stem!r} in {image_dir}")

    images, masks = [], []
    for stem in sorted(images_by_stem):
        image_file, mask_file = images_by_stem[stem], masks_by_stem[stem]
        image = _read_image_rgb(image_file)
        mask = _read_mask(mask_file)
        if image.shape[:2] != mask.shape:
            raise ValueError(f"image {image_file} is {image.shape[0]}x{image.shape[1]} (HxW) but "
                             f"its mask {mask_file} is {mask.shape[0]}x{mask.shape[1]}")
        if images and image.shape != images[0].shape:
            first = images_by_stem[sorted(images_by_stem)[0]]
            raise ValueError(f"image {image_file} is {image.shape[0]}x{image.shape[1]} but "
                             f"{first} is {images[0].shape[0]}x{images[0].shape[1]}: all images "
                             f"in a folder must have the same size (resize them beforehand)")
        bad = np.unique(mask[(mask >= num_classes) & (mask != IGNORE_INDEX)])
        if bad.size:
            raise ValueError(f"mask {mask_file} has values {bad[:10].tolist()} outside "
                             f"[0, {num_classes}) that are not {IGNORE_INDEX} (ignore)")
        images.append(image)
        masks.append(mask)
    return np.stack(images).transpose(0, 3, 1, 2).copy(), np.stack(masks)


# ---------------------------------------------------------------------------------------------
# Augmentation
# ---------------------------------------------------------------------------------------------

def _crop_or_pad(rng: np.random.Generator, length: int, target: int):
    """Along one axis: (source start, destination start, count) to fit ``length`` into ``target``.

    Longer than the target: a random crop. Shorter: placed at a random offset in the padded
    canvas (so padding is not always on the same side).
    """
    if length >= target:
        return int(rng.integers(0, length - target + 1)), 0, target
    return 0, int(rng.integers(0, target - length + 1)), length


def augment(images, masks, rng, flip: bool = True, scale_range=(0.75, 1.25), crop_size=None):
    """Random horizontal flip, random rescale, then random crop / pad to ``crop_size``.

    Scaling uses bilinear interpolation for the images and nearest neighbour for the masks (a
    label is a category: averaging class 1 and class 3 must not give class 2). Padded label pixels
    get 255 (ignore), never 0, so the loss does not learn "the padding is background"; padded
    image pixels are 0.

    Args:
        images: (N, C, H, W) floating array.
        masks: (N, H, W) integer array (a dtype that can hold 255).
        rng: a ``np.random.Generator``; the same generator state gives the same result.
        flip: flip each image left-right with probability 1/2.
        scale_range: (low, high) with 0 < low <= high: each image is scaled by a factor drawn
            uniformly from it; None for no scaling.
        crop_size: output (height, width) or an int for a square; default the input (H, W).

    Returns:
        new arrays images (N, C, crop_h, crop_w) and masks (N, crop_h, crop_w), same dtypes.
    """
    if not isinstance(images, np.ndarray) or images.ndim != 4:
        raise ValueError(f"images must be an (N, C, H, W) array, got "
                         f"{getattr(images, 'shape', type(images).__name__)}")
    if not np.issubdtype(images.dtype, np.floating):
        raise TypeError(f"images must have a floating dtype, got {images.dtype}")
    if not isinstance(masks, np.ndarray) or masks.shape != images.shape[:1] + images.shape[2:]:
        raise ValueError(f"masks must be an (N, H, W) array matching images "
                         f"{images.shape[:1] + images.shape[2:]}, got "
                         f"{getattr(masks, 'shape', type(masks).__name__)}")
    if not np.issubdtype(masks.dtype, np.integer) or np.iinfo(masks.dtype).max < IGNORE_INDEX:
        raise TypeError(f"masks must have an integer dtype that can hold {IGNORE_INDEX}, "
                        f"got {masks.dtype}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
                        f"got {type(rng).__name__}")
    if scale_range is not None:
        low, high = (float(v) for v in scale_range)
        if not 0 < low <= high:
            raise ValueError(f"scale_range must be (low, high) with 0 < low <= high, "
                             f"got {scale_range}")
    n, channels, height, width = images.shape
    if crop_size is None:
        crop_h, crop_w = height, width
    else:
        pair = (crop_size, crop_size) if np.isscalar(crop_size) else tuple(crop_size)
        if len(pair) != 2:
            raise ValueError(f"crop_size must be an int or a (height, width) pair, "
                             f"got {crop_size!r}")
        crop_h = _check_int(pair[0], "crop_size", minimum=1)
        crop_w = _check_int(pair[1], "crop_size", minimum=1)

    out_images = np.zeros((n, channels, crop_h, crop_w), dtype=images.dtype)
    out_masks = np.full((n, crop_h, crop_w), IGNORE_INDEX, dtype=masks.dtype)
    for i in range(n):
        image, mask = images[i], masks[i]
        if flip and rng.random() < 0.5:
            image, mask = image[:, :, ::-1], mask[:, ::-1]
        if scale_range is not None:
            factor = rng.uniform(low, high)
            new_h, new_w = max(1, round(height * factor)), max(1, round(width * factor))
            if (new_h, new_w) != (height, width):
                image = _resize_bilinear(image, new_h, new_w)
                mask = _resize_nearest(mask, new_h, new_w)
        src_y, dst_y, count_y = _crop_or_pad(rng, image.shape[1], crop_h)
        src_x, dst_x, count_x = _crop_or_pad(rng, image.shape[2], crop_w)
        out_images[i, :, dst_y:dst_y + count_y, dst_x:dst_x + count_x] = (
            image[:, src_y:src_y + count_y, src_x:src_x + count_x])
        out_masks[i, dst_y:dst_y + count_y, dst_x:dst_x + count_x] = (
            mask[src_y:src_y + count_y, src_x:src_x + count_x])
    return out_images, out_masks


# ---------------------------------------------------------------------------------------------
# The colour-only baseline: proof that one pixel's colour does not give its class away
# ---------------------------------------------------------------------------------------------

def _pixel_chunks(images, masks, num_classes, chunk=256):
    """Yield (colours (P, 3) float64, labels (P,) int64) a few hundred images at a time,
    leaving out pixels whose label is ignore (or outside the classes)."""
    for start in range(0, images.shape[0], chunk):
        colours = images[start:start + chunk].transpose(0, 2, 3, 1).reshape(-1, 3)
        labels = masks[start:start + chunk].reshape(-1).astype(np.int64)
        keep = (labels >= 0) & (labels < num_classes)
        yield colours[keep].astype(np.float64), labels[keep]


def _iou_summary(confusion: np.ndarray) -> dict:
    """IoU per class (NaN where a class is in neither prediction nor truth), mIoU, accuracy."""
    true_positive = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - true_positive
    iou = np.full(confusion.shape[0], np.nan)
    np.divide(true_positive, union, out=iou, where=union > 0)
    present = ~np.isnan(iou)
    return {
        "miou": float(iou[present].mean()) if present.any() else float("nan"),
        "iou_per_class": [float(v) for v in iou],
        "pixel_accuracy": float(true_positive.sum() / max(confusion.sum(), 1)),
    }


def colour_only_baseline(train_images, train_masks, test_images, test_masks,
                         num_classes: int) -> dict:
    """Classify every pixel from its own RGB value alone, and score it on the test set.

    Two classifiers, both fitted on the train pixels:

    * nearest class mean: predict the class whose mean colour is closest (Euclidean);
    * a Gaussian per class: mean, full 3x3 covariance and prior (pixel frequency) per class;
      predict the class with the largest log p(class) + log N(colour; mean, covariance).

    If the data were "colour names the class", these would score high. On shapes they score about
    0.2 mIoU: the class is only visible in a neighbourhood (stripes, outline), which is what a
    convolutional network is for.

    Args:
        train_images, test_images: (N, 3, H, W) floating arrays.
        train_masks, test_masks: (N, H, W) integer arrays; 255 (ignore) pixels are skipped.
        num_classes: number of classes.

    Returns:
        {"nearest_mean": {...}, "gaussian": {...}}, each with "miou", "iou_per_class" (list,
        NaN for a class absent from both prediction and truth) and "pixel_accuracy".
    """
    num_classes = _check_int(num_classes, "num_classes", minimum=1)
    for name, images, masks in (("train", train_images, train_masks),
                                ("test", test_images, test_masks)):
        if not isinstance(images, np.ndarray) or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"{name}_images must be an (N, 3, H, W) array, got "
                             f"{getattr(images, 'shape', type(images).__name__)}")
        if not isinstance(masks, np.ndarray) or masks.shape != images.shape[:1] + images.shape[2:]:
            raise ValueError(f"{name}_masks must be an (N, H, W) array matching {name}_images, "
                             f"got {getattr(masks, 'shape', type(masks).__name__)}")

    # Fit: per-class pixel count, sum of colours and sum of outer products, accumulated with
    # np.bincount (one weighted histogram per statistic) so no pixel array is copied per class.
    count = np.zeros(num_classes)
    total = np.zeros((num_classes, 3))
    outer = np.zeros((num_classes, 3, 3))
    for colours, labels in _pixel_chunks(train_images, train_masks, num_classes):
        count += np.bincount(labels, minlength=num_classes)
        for a in range(3):
            total[:, a] += np.bincount(labels, weights=colours[:, a], minlength=num_classes)
            for b in range(a, 3):
                products = np.bincount(labels, weights=colours[:, a] * colours[:, b],
                                       minlength=num_classes)
                outer[:, a, b] += products
                outer[:, b, a] = outer[:, a, b]
    seen = count > 0
    safe_count = np.maximum(count, 1)
    mean = total / safe_count[:, None]
    # Covariance = E[x x^T] - mean mean^T; a tiny ridge keeps it invertible for a flat class.
    covariance = outer / safe_count[:, None, None] - mean[:, :, None] * mean[:, None, :]
    covariance += 1e-6 * np.eye(3)
    precision = np.linalg.inv(covariance)
    _, log_det = np.linalg.slogdet(covariance)
    log_prior = np.log(np.where(seen, count / max(count.sum(), 1), 1.0))

    # Predict on the test pixels, chunk by chunk, and count a confusion matrix for each method.
    confusions = {"nearest_mean": np.zeros((num_classes, num_classes), dtype=np.int64),
                  "gaussian": np.zeros((num_classes, num_classes), dtype=np.int64)}
    for colours, labels in _pixel_chunks(test_images, test_masks, num_classes):
        difference = colours[:, None, :] - mean[None, :, :]              # (P, K, 3)
        squared_distance = (difference ** 2).sum(axis=2)                  # (P, K)
        mahalanobis = np.einsum("pki,kij,pkj->pk", difference, precision, difference)
        log_posterior = log_prior - 0.5 * (log_det + mahalanobis)
        squared_distance[:, ~seen] = np.inf      # a class never seen in training is never chosen
        log_posterior[:, ~seen] = -np.inf
        for method, prediction in (("nearest_mean", squared_distance.argmin(axis=1)),
                                   ("gaussian", log_posterior.argmax(axis=1))):
            confusions[method] += np.bincount(
                labels * num_classes + prediction, minlength=num_classes ** 2
            ).reshape(num_classes, num_classes)
    return {method: _iou_summary(confusion) for method, confusion in confusions.items()}


# ---------------------------------------------------------------------------------------------
# Pictures
# ---------------------------------------------------------------------------------------------

# Hand-picked, mutually distinct colours; class 0 (background) is black so objects stand out.
_PALETTE = np.array([
    (0.00, 0.00, 0.00),   # 0 background: black
    (0.89, 0.10, 0.11),   # red
    (0.22, 0.49, 0.72),   # blue
    (0.30, 0.69, 0.29),   # green
    (1.00, 0.50, 0.00),   # orange
    (0.60, 0.31, 0.64),   # purple
    (1.00, 1.00, 0.20),   # yellow
    (0.09, 0.75, 0.81),   # cyan
    (0.97, 0.51, 0.75),   # pink
    (0.65, 0.34, 0.16),   # brown
    (0.55, 0.55, 0.55),   # grey
    (0.74, 0.74, 0.13),   # olive
    (0.50, 0.85, 0.60),   # mint
    (0.40, 0.30, 0.90),   # indigo
])
IGNORE_COLOUR = (1.0, 1.0, 1.0)  # 255 (ignore) is drawn white


def class_palette(num_classes: int) -> np.ndarray:
    """A fixed colour per class, (num_classes, 3) float in [0, 1]; class 0 is black.

    Beyond the hand-picked colours, hues are spread by the golden ratio so that neighbours in
    the class order still look different.
    """
    num_classes = _check_int(num_classes, "num_classes", minimum=1)
    if num_classes <= len(_PALETTE):
        return _PALETTE[:num_classes].copy()
    from matplotlib.colors import hsv_to_rgb

    extra = num_classes - len(_PALETTE)
    hues = (np.arange(extra) * 0.618033988749895 + 0.1) % 1.0
    hsv = np.stack([hues, np.full(extra, 0.75), np.full(extra, 0.9)], axis=1)
    return np.concatenate([_PALETTE, hsv_to_rgb(hsv)])


def _check_label_map(mask, num_classes: int, name: str = "mask") -> np.ndarray:
    mask = np.asarray(mask)
    if not np.issubdtype(mask.dtype, np.integer):
        raise TypeError(f"{name} must be an integer array of class indices, got {mask.dtype}")
    bad = (mask < 0) | ((mask >= num_classes) & (mask != IGNORE_INDEX))
    if bad.any():
        raise ValueError(f"{name} has values outside [0, {num_classes}) that are not "
                         f"{IGNORE_INDEX}: {np.unique(mask[bad])[:10].tolist()}")
    return mask


def colorize_mask(mask, num_classes: int) -> np.ndarray:
    """Colour-code a label map: (H, W) int -> (H, W, 3) float in [0, 1]; 255 (ignore) is white."""
    num_classes = _check_int(num_classes, "num_classes", minimum=1)
    mask = _check_label_map(mask, num_classes)
    if mask.ndim != 2:
        raise ValueError(f"mask must be an (H, W) array, got shape {mask.shape}")
    # Look-up table with room for 255, so one fancy-indexing step colours every pixel.
    table = np.zeros((max(num_classes, IGNORE_INDEX + 1), 3))
    table[:num_classes] = class_palette(num_classes)
    table[IGNORE_INDEX] = IGNORE_COLOUR
    return table[mask]


def _to_hwc(image) -> np.ndarray:
    """(3, H, W) or (H, W, 3) -> (H, W, 3) float in [0, 1] for imshow."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[0] == 3 and image.shape[2] != 3:
        image = image.transpose(1, 2, 0)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (3, H, W) or (H, W, 3), got shape {image.shape}")
    return np.clip(image, 0.0, 1.0)


def overlay(image, mask, alpha: float = 0.5, num_classes: int | None = None) -> np.ndarray:
    """Blend class colours over an image: (H, W, 3) float in [0, 1].

    Background (0) and ignore (255) pixels show the image unchanged; every other pixel is
    ``(1 - alpha) * image + alpha * colour(class)``.

    Args:
        image: (3, H, W) or (H, W, 3) floats in [0, 1].
        mask: (H, W) integer labels, e.g. a prediction.
        alpha: opacity of the class colours, in [0, 1].
        num_classes: for the palette; default ``mask.max() + 1`` (ignoring 255).
    """
    image = _to_hwc(image)
    mask = np.asarray(mask)
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask must have the image's (H, W) {image.shape[:2]}, got {mask.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if num_classes is None:
        valid = mask[mask != IGNORE_INDEX]
        num_classes = int(valid.max()) + 1 if valid.size else 1
    colours = colorize_mask(mask, num_classes)
    labelled = ((mask != 0) & (mask != IGNORE_INDEX))[:, :, None]
    return np.where(labelled, (1 - alpha) * image + alpha * colours, image)


def show_samples(images, masks, class_names=None, n: int = 8, path=None):
    """A grid of the first ``n`` samples: images on top, colour-coded masks below, and a legend.

    Args:
        images: (N, 3, H, W) floats in [0, 1].
        masks: (N, H, W) integer labels (255 = ignore, drawn white).
        class_names: names indexed by class id; default "class 0", "class 1", ...
        n: how many samples to show (at most N).
        path: if given, also save the figure there (e.g. "samples.png").

    Returns:
        a ``matplotlib.figure.Figure`` (made without pyplot, so it does not pop up or pile up in
        pyplot's state; Jupyter displays a returned Figure by itself).
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    images, masks = np.asarray(images), np.asarray(masks)
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (N, 3, H, W), got shape {images.shape}")
    if masks.shape != images.shape[:1] + images.shape[2:]:
        raise ValueError(f"masks must be (N, H, W) matching images, got shape {masks.shape}")
    n = min(_check_int(n, "n", minimum=1), images.shape[0])
    if class_names is None:
        valid = masks[:n][masks[:n] != IGNORE_INDEX]
        num_classes = int(valid.max()) + 1 if valid.size else 1
        class_names = [f"class {k}" for k in range(num_classes)]
    class_names = list(class_names)
    num_classes = len(class_names)

    figure = Figure(figsize=(1.7 * n + 1.8, 3.9), layout="constrained")
    axes = figure.subplots(2, n, squeeze=False)
    for i in range(n):
        axes[0, i].imshow(_to_hwc(images[i]), interpolation="nearest")
        axes[0, i].set_title(f"image {i}", fontsize=9)
        axes[1, i].imshow(colorize_mask(masks[i], num_classes), interpolation="nearest")
        axes[1, i].set_title(f"mask {i}", fontsize=9)
        for axis in axes[:, i]:
            axis.set_xticks([])
            axis.set_yticks([])
    palette = class_palette(num_classes)
    handles = [Patch(facecolor=palette[k], edgecolor="black", label=f"{k} {class_names[k]}")
               for k in range(num_classes)]
    if (masks[:n] == IGNORE_INDEX).any():
        handles.append(Patch(facecolor=IGNORE_COLOUR, edgecolor="black", label="255 ignore"))
    figure.legend(handles=handles, loc="outside right center", fontsize=8, title="classes")
    figure.suptitle(f"{n} samples: images (top) and ground-truth masks (bottom)", fontsize=10)
    if path is not None:
        figure.savefig(path, dpi=120)
    return figure
