"""Segmentation figures: class colours, predictions beside the truth, overlays."""

from __future__ import annotations

import numpy as np
from matplotlib.patches import Patch

from .style import as_image, finish, new_figure, styled

__all__ = ["plot_predictions", "plot_overlay"]


@styled
def plot_predictions(model, images, masks, class_names, title: str = "Predictions", path=None):
    """Rows: image, ground truth, prediction (eval mode), for up to 8 images."""
    from ..datasets import class_palette, colorize_mask

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
    fig.legend(handles=handles, loc="outside right center", title="classes")
    fig.suptitle(title)
    return finish(fig, path)


@styled
def plot_overlay(image, prediction, class_names, title: str = "Prediction", path=None):
    """Three panels: the image, its predicted classes in the class colours, and both blended.

    The middle panel shows the colours as the legend lists them; blended over the image
    (right) they mix with its colours, which shows where the classes sit in the picture.
    """
    from ..datasets import class_palette, colorize_mask, overlay

    picture = as_image(image)
    num_classes = len(class_names)
    fig = new_figure(11, 4.0)
    ax_image, ax_classes, ax_overlay = fig.subplots(1, 3)
    ax_image.imshow(picture)
    ax_image.set_title("image")
    ax_classes.imshow(colorize_mask(prediction, num_classes), interpolation="nearest")
    ax_classes.set_title("predicted classes")
    ax_overlay.imshow(overlay(picture, prediction, num_classes=num_classes))
    ax_overlay.set_title("classes over the image")
    for ax in (ax_image, ax_classes, ax_overlay):
        ax.set_xlabel("x (pixels)")
    ax_image.set_ylabel("y (pixels)")
    palette = class_palette(num_classes)
    present = sorted(set(np.unique(prediction).tolist()))
    handles = [Patch(facecolor=palette[k], edgecolor="black", label=class_names[k])
               for k in present if k < num_classes]
    fig.legend(handles=handles, loc="outside right center", title="classes")
    fig.suptitle(title)
    return finish(fig, path)
