"""Segmentation pictures: a colour per class, colour-coded masks, overlays, and the figures
that show samples and predictions beside the truth.

Label maps are (H, W) integer arrays of class indices; 255 (``IGNORE_INDEX``) marks pixels to
ignore and is drawn white. Class 0 (background) is black, so objects stand out.
"""

from __future__ import annotations

import numbers

import numpy as np
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from ..errors import InputError, InputTypeError
from ..functional.loss import IGNORE_INDEX
from ..images import to_hwc
from .style import as_image, finish, new_figure, styled

__all__ = ["IGNORE_COLOUR", "class_palette", "colorize_mask", "overlay", "show_samples",
           "plot_predictions", "plot_overlay"]

# Hand-picked, mutually distinct colours; class 0 (background) is black so objects stand out.
_PALETTE = np.array([
    (0.00, 0.00, 0.00), (0.89, 0.10, 0.11), (0.22, 0.49, 0.72), (0.30, 0.69, 0.29),
    (1.00, 0.50, 0.00), (0.60, 0.31, 0.64), (1.00, 1.00, 0.20), (0.09, 0.75, 0.81),
    (0.97, 0.51, 0.75), (0.65, 0.34, 0.16), (0.55, 0.55, 0.55), (0.74, 0.74, 0.13),
    (0.50, 0.85, 0.60), (0.40, 0.30, 0.90),
])  # black (background), red, blue, green, orange, purple, yellow, cyan, pink, brown,
#     grey, olive, mint, indigo
IGNORE_COLOUR = (1.0, 1.0, 1.0)  # 255 (ignore) is drawn white


def _check_count(value, name: str) -> int:
    """A positive int (``num_classes``, ``n``), or an error naming the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputTypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise InputError(f"{name} must be >= 1, got {value}")
    return int(value)


def class_palette(num_classes: int) -> np.ndarray:
    """A fixed colour per class, (num_classes, 3) float in [0, 1]; class 0 is black.

    Beyond the hand-picked colours, hues are spread by the golden ratio so that neighbours in
    the class order still look different.
    """
    num_classes = _check_count(num_classes, "num_classes")
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
        raise InputTypeError(f"{name} must be an integer array of class indices, got {mask.dtype}")
    bad = (mask < 0) | ((mask >= num_classes) & (mask != IGNORE_INDEX))
    if bad.any():
        raise InputError(f"{name} has values outside [0, {num_classes}) that are not "
                         f"{IGNORE_INDEX}: {np.unique(mask[bad])[:10].tolist()}")
    return mask


def colorize_mask(mask, num_classes: int) -> np.ndarray:
    """Colour-code a label map: (H, W) int -> (H, W, 3) float in [0, 1]; 255 (ignore) is white."""
    num_classes = _check_count(num_classes, "num_classes")
    mask = _check_label_map(mask, num_classes)
    if mask.ndim != 2:
        raise InputError(f"mask must be an (H, W) array, got shape {mask.shape}")
    # Look-up table with room for 255, so one fancy-indexing step colours every pixel.
    table = np.zeros((max(num_classes, IGNORE_INDEX + 1), 3))
    table[:num_classes] = class_palette(num_classes)
    table[IGNORE_INDEX] = IGNORE_COLOUR
    return table[mask]


def _rgb(image, name: str = "image") -> np.ndarray:
    """(3, H, W) or (H, W, 3) -> (H, W, 3) float64 clipped to [0, 1], for imshow."""
    image = to_hwc(image, name)
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"{name} must be (3, H, W) or (H, W, 3), got shape {image.shape}")
    return np.clip(image.astype(np.float64), 0.0, 1.0)


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
    image = _rgb(image)
    mask = np.asarray(mask)
    if mask.shape != image.shape[:2]:
        raise InputError(f"mask must have the image's (H, W) {image.shape[:2]}, got {mask.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"alpha must be in [0, 1], got {alpha}")
    if num_classes is None:
        valid = mask[mask != IGNORE_INDEX]
        num_classes = int(valid.max()) + 1 if valid.size else 1
    colours = colorize_mask(mask, num_classes)
    labelled = ((mask != 0) & (mask != IGNORE_INDEX))[:, :, None]
    return np.where(labelled, (1 - alpha) * image + alpha * colours, image)


@styled
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
    images, masks = np.asarray(images), np.asarray(masks)
    if images.ndim != 4 or images.shape[1] != 3:
        raise InputError(f"images must be (N, 3, H, W), got shape {images.shape}")
    if masks.shape != images.shape[:1] + images.shape[2:]:
        raise InputError(f"masks must be (N, H, W) matching images, got shape {masks.shape}")
    n = min(_check_count(n, "n"), images.shape[0])
    if class_names is None:
        valid = masks[:n][masks[:n] != IGNORE_INDEX]
        num_classes = int(valid.max()) + 1 if valid.size else 1
        class_names = [f"class {k}" for k in range(num_classes)]
    class_names = list(class_names)
    num_classes = len(class_names)

    figure = new_figure(1.7 * n + 1.8, 3.9)
    axes = figure.subplots(2, n, squeeze=False)
    for i in range(n):
        axes[0, i].imshow(_rgb(images[i]), interpolation="nearest")
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
        handles.append(Patch(facecolor=IGNORE_COLOUR, edgecolor="black",
                             label=f"{IGNORE_INDEX} ignore"))
    figure.legend(handles=handles, loc="outside right center", fontsize=8, title="classes")
    figure.suptitle(f"{n} samples: images (top) and ground-truth masks (bottom)", fontsize=10)
    return finish(figure, path)


@styled
def plot_predictions(model, images, masks, class_names, title: str = "Predictions", path=None):
    """Rows: image, ground truth, prediction (eval mode), for up to 8 images."""
    images, masks = np.asarray(images), np.asarray(masks)
    n = min(len(images), 8)
    predictions = model.predict(images[:n].astype(model.dtype))
    num_classes = len(class_names)
    fig = new_figure(1.6 * n + 1.8, 5.4)
    axes = fig.subplots(3, n, squeeze=False)
    for i in range(n):
        rows = (as_image(images[i]), colorize_mask(masks[i], num_classes),
                colorize_mask(predictions[i], num_classes))
        for r, picture in enumerate(rows):
            axes[r, i].imshow(picture)
            axes[r, i].set_xticks([])
            axes[r, i].set_yticks([])
    for r, label in enumerate(("image", "ground truth", "prediction")):
        axes[r, 0].set_ylabel(label)
    palette = class_palette(num_classes)
    handles = [Patch(facecolor=palette[k], edgecolor="black", label=name)
               for k, name in enumerate(class_names)]
    if (masks[:n] == IGNORE_INDEX).any():           # e.g. padding around a small own image
        handles.append(Patch(facecolor=IGNORE_COLOUR, edgecolor="black",
                             label="ignore (255),\nnot scored"))
    fig.legend(handles=handles, loc="outside right center", title="classes")
    fig.suptitle(title)
    return finish(fig, path)


#: An image at least this many times wider than tall gets its overlay panels stacked.
WIDE = 1.6


@styled
def plot_overlay(image, prediction, class_names, title: str = "Prediction", path=None,
                 pixel_step: int = 1):
    """Three panels: the image, its predicted classes in the class colours, and both blended.

    The middle panel shows the colours as the legend lists them; blended over the image
    (right) they mix with its colours, which shows where the classes sit in the picture.
    ``pixel_step``: the image and prediction are every ``pixel_step``-th pixel of a larger
    picture (a large photo drawn smaller); the axes count that picture's pixels. Panels
    stand side by side, or one above the other for an image more than ``WIDE`` times wider
    than tall (side by side, such a strip would fill a third of the figure's height).
    """
    picture = as_image(image)
    num_classes = len(class_names)
    height, width = prediction.shape
    step = _check_count(pixel_step, "pixel_step")
    # extent: pixel i of the drawing covers pixels i*step ... (i+1)*step - 1 of the picture
    extent = (-0.5, width * step - 0.5, height * step - 0.5, -0.5)
    stacked = width > WIDE * height
    if stacked:
        fig = new_figure(11, min(12.0, 1.2 + 3 * (9.0 * height / width + 0.5)))
        axes = fig.subplots(3, 1)
    else:
        fig = new_figure(11, 4.0)
        axes = fig.subplots(1, 3)
    ax_image, ax_classes, ax_overlay = axes
    ax_image.imshow(picture, extent=extent)
    ax_image.set_title("image")
    ax_classes.imshow(colorize_mask(prediction, num_classes), interpolation="nearest",
                      extent=extent)
    ax_classes.set_title("predicted classes")
    ax_overlay.imshow(overlay(picture, prediction, num_classes=num_classes), extent=extent)
    ax_overlay.set_title("classes over the image")
    for ax in axes:
        # whole pixels, also for a tiny image (the default locator would tick -0.4, -0.2, ...)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True, min_n_ticks=1))
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True, min_n_ticks=1))
        ax.set_xlabel("x (pixels)")
    for ax in (axes if stacked else axes[:1]):
        ax.set_ylabel("y (pixels)")
    palette = class_palette(num_classes)
    present = sorted(set(np.unique(prediction).tolist()))
    handles = [Patch(facecolor=palette[k], edgecolor="black", label=class_names[k])
               for k in present if k < num_classes]
    fig.legend(handles=handles, loc="outside right center", title="classes")
    fig.suptitle(title)
    return finish(fig, path)
