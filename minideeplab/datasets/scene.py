"""What every generated scene is made of: its own random generator, a textured background,
object colours that stand out from it, and pixel noise. Shared by ``shapes`` and ``digits``."""

from __future__ import annotations

import numpy as np

from .resize import resize_bilinear

BACKGROUND_NOISE = 0.1    # amplitude of the smooth background colour noise
PIXEL_NOISE = 0.03        # standard deviation of the per-pixel Gaussian noise


def image_rng(seed: int, index: int) -> np.random.Generator:
    """The random generator for image ``index`` of the set made from ``seed``.

    ``SeedSequence(seed, spawn_key=(index,))`` is exactly the ``index``-th child that
    ``SeedSequence(seed).spawn(...)`` would give, made without spawning the others. So image i
    depends only on (seed, i), never on how many images were asked for: the first 10 images of
    ``make_shapes(100)`` are ``make_shapes(10)``.
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))


def smooth_colour_noise(rng: np.random.Generator, size: int, amplitude: float,
                        grid: int = 4) -> np.ndarray:
    """Low-frequency colour noise (3, size, size): a tiny random grid, bilinearly upsampled.

    A 4x4 grid over the whole image gives blotches about a quarter of the image across: the
    background is not one flat colour (so "flat region = background" is not a shortcut), yet it
    has no stripes at the scale of the object textures.
    """
    coarse = rng.uniform(-amplitude, amplitude, size=(3, grid, grid))
    return resize_bilinear(coarse, size, size, align_corners=True)


def textured_background(rng: np.random.Generator, size: int):
    """A base colour, each channel uniform in [0.2, 0.8], plus smooth colour noise.

    Returns ``(colour (3,), image (3, size, size))``, both float64; objects drawn later keep
    their distance from ``colour``.
    """
    colour = rng.uniform(0.2, 0.8, size=3)
    image = colour[:, None, None] + smooth_colour_noise(rng, size, BACKGROUND_NOISE)
    return colour, image


def contrasting_colour(rng: np.random.Generator, previous: list, min_distance: float = 0.4,
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


def add_pixel_noise(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """``image`` plus independent Gaussian noise per pixel and channel, clipped to [0, 1]."""
    image += rng.normal(0.0, PIXEL_NOISE, size=image.shape)
    return np.clip(image, 0.0, 1.0)
