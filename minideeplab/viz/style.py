"""The one figure style every figure of :mod:`minideeplab.viz` shares.

Figures are built with ``Figure()`` directly rather than ``pyplot``: nothing is
registered with a GUI backend, so scripts and tests never open a window or leak
figures, and saving uses Agg. In a notebook the returned figure displays itself
when it is the cell's last expression.

Conventions that keep figures readable at notebook width (about 10 inches):
a title on every figure, labelled axes, a colour bar wherever colour encodes a
value, and the font sizes of :data:`STYLE`. The helpers here (a styled builder,
a constrained-layout figure, saving with a tight box, showing an image) are what
every figure module uses.
"""

from __future__ import annotations

import functools
import os

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..errors import InputError
from ..images import to_hwc

__all__ = ["STYLE", "TAP_COLOUR", "FIELD_COLOUR", "RF_BOX_COLOUR", "save_figure", "styled",
           "finish", "new_figure", "as_image", "integer_ticks", "show_image"]

#: rcParams applied while a figure is built: sizes legible at about 10 inches wide.
STYLE = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "figure.titlesize": 14,
    "image.interpolation": "nearest",     # one pixel is one square: no blur between pixels
}

TAP_COLOUR = "#d62728"       # red: where a kernel reads
FIELD_COLOUR = "#1f77b4"     # blue: a field of view
RF_BOX_COLOUR = "#00e5ff"    # cyan: stands out on the dark end of 'magma'


def save_figure(fig: Figure, path) -> None:
    """Save ``fig`` as a PNG at ``path``, creating the folder if needed."""
    folder = os.path.dirname(os.fspath(path))
    if folder:
        os.makedirs(folder, exist_ok=True)
    # "tight" also keeps labels that the layout engine pushed to the edge inside the image
    fig.savefig(path, dpi=110, bbox_inches="tight", pad_inches=0.08)


def styled(function):
    """Build the figure under :data:`STYLE` (fonts are fixed when text is created)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return function(*args, **kwargs)

    return wrapper


def finish(fig: Figure, path) -> Figure:
    if path is not None:
        save_figure(fig, path)
    return fig


def new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def as_image(image, name: str = "image") -> np.ndarray:
    """An (H, W) or (H, W, 3) float array for imshow; accepts (3, H, W) too."""
    image = to_hwc(image, name)                     # CHW (the library's layout) -> HWC
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 3 and image.shape[-1] != 3:
        raise InputError(f"{name} must be (H, W), (H, W, 3) or (3, H, W), got {image.shape}")
    image = image.astype(np.float64)
    low, high = float(image.min()), float(image.max())
    if low < 0.0 or high > 1.0:                     # e.g. normalised inputs: rescale to [0, 1]
        image = (image - low) / max(high - low, 1e-12)
    return image


def integer_ticks(ax):
    """Pixel axes: ticks on whole pixels only."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def show_image(ax, image):
    if image.ndim == 2:
        ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0)
    else:
        ax.imshow(image)
