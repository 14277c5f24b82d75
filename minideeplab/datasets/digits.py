"""The digits dataset: real handwritten digits composited into coloured scenes.

The 8x8 UCI digits (1797 drawings, vendored in data/digits_8x8.npz, CC BY 4.0, see
data/README.md) are upsampled and blended onto the same textured backgrounds as ``shapes``;
11 classes: background and the digits 0-9. Test scenes use drawings no train scene uses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._checks import check_int, check_split
from .resize import resize_bilinear
from .scene import add_pixel_noise, contrasting_colour, image_rng, textured_background

DIGITS_CLASSES = ("background",) + tuple(f"digit {d}" for d in range(10))

# Bump whenever the generator's output changes: the cache file names carry it.
DIGITS_VERSION = 1

DIGITS_SOURCE = Path(__file__).resolve().parents[2] / "data" / "digits_8x8.npz"

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
    split = check_split(split)
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
    n = check_int(n, "n", minimum=0)
    size = check_int(size, "size", minimum=16)
    seed = check_int(seed, "seed", minimum=0)
    split = check_split(split)
    source_images, source_labels = _load_digit_source()
    glyphs = source_images.astype(np.float64) / 16.0        # the UCI counts are 0..16
    pool = digit_source_indices(split)
    scale = size / 64

    images = np.empty((n, 3, size, size), dtype=np.float32)
    masks = np.zeros((n, size, size), dtype=np.int64)
    sources = np.full((n, 3), -1, dtype=np.int64)
    for i in range(n):
        rng = image_rng(seed, i)
        background, image = textured_background(rng, size)
        mask = masks[i]
        colours = [background]
        for k in range(rng.integers(1, 4)):                 # 1-3 digits
            source = int(pool[rng.integers(pool.size)])
            colour = contrasting_colour(rng, colours)
            if colour is None:
                break
            colours.append(colour)
            side = min(size, max(4, int(round(rng.uniform(16, 28) * scale))))
            glyph = resize_bilinear(glyphs[source], side, side)
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
        images[i] = add_pixel_noise(rng, image)
    if return_sources:
        return images, masks, sources
    return images, masks
