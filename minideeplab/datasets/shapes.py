"""The procedural shapes dataset: disks, squares, rings and bars on a textured background.

Five classes: background, disk, square, ring, bar. Every scene is drawn from a seed. The design
follows measurements made with a PyTorch twin of the model while the data was designed:

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
"""

from __future__ import annotations

import numpy as np

from ._checks import check_int
from .scene import add_pixel_noise, contrasting_colour, image_rng, textured_background

SHAPES_CLASSES = ("background", "disk", "square", "ring", "bar")
BACKGROUND, DISK, SQUARE, RING, BAR = range(len(SHAPES_CLASSES))

# Bump whenever the generator's output changes: the cache file names carry it.
SHAPES_VERSION = 1

# Stripe direction per class, in degrees: the angle of the lines themselves, measured from the
# x axis towards +y (down). 0 = horizontal lines, 90 = vertical lines. The ring uses one of the
# two diagonals at random: a horizontal flip turns one diagonal into the other, so the cue
# "diagonal = ring" survives flip augmentation (as horizontal and vertical do). Bars are flat.
_STRIPE_ANGLES = {DISK: (0.0,), SQUARE: (90.0,), RING: (45.0, -45.0), BAR: None}
_STRIPE_AMPLITUDE = 0.15   # stripes add +-0.15 brightness to the base colour
_STRIPE_JITTER = 10.0      # degrees


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
    background, image = textured_background(rng, size)
    mask = np.zeros((size, size), dtype=np.int64)
    instances = np.zeros((size, size), dtype=np.int64)
    colours = [background]
    for _ in range(rng.integers(1, 5)):            # 1-4 objects
        cls = int(rng.integers(DISK, BAR + 1))   # every object class equally likely
        colour = contrasting_colour(rng, colours)
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
    return add_pixel_noise(rng, image), mask, instances


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
    n = check_int(n, "n", minimum=0)
    size = check_int(size, "size", minimum=16)
    seed = check_int(seed, "seed", minimum=0)
    yy, xx = _pixel_grid(size)
    images = np.empty((n, 3, size, size), dtype=np.float32)
    masks = np.empty((n, size, size), dtype=np.int64)
    instances = np.empty((n, size, size), dtype=np.int64)
    for i in range(n):
        images[i], masks[i], instances[i] = _shapes_scene(image_rng(seed, i), yy, xx)
    if return_instances:
        return images, masks, instances
    return images, masks
