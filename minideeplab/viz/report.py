"""Figures of the evaluation report: where the model fails, not only how much.

* :func:`plot_confusion_matrix` -- rows = true class, normalised per row, so row t reads "of the
  pixels that are really t, this fraction was predicted as each class"; the diagonal is each
  class's accuracy (recall), off-diagonal cells are the confusions;
* :func:`plot_trimap_curve` -- mIoU within a band of w pixels around object boundaries
  (DeepLabV3+, Fig. 5): low on the left means the outlines are wrong;
* :func:`plot_gallery` -- the images with the lowest mIoU: image, truth and prediction.

They take plain arrays and lists (what ``minideeplab.evaluation`` computes), never a dataset.
"""

from __future__ import annotations

import numpy as np
from matplotlib.patches import Patch

from ..errors import InputError
from ..functional.loss import IGNORE_INDEX
from .segmentation import IGNORE_COLOUR, class_palette, colorize_mask
from .style import as_image, finish, new_figure, styled

__all__ = ["plot_confusion_matrix", "plot_trimap_curve", "plot_gallery"]


@styled
def plot_confusion_matrix(cm, class_names, title: str = "Confusion matrix", path=None):
    """The confusion matrix normalised per true class, with the class names on both axes.

    Args:
        cm: (C, C) counts, rows = ground truth, columns = prediction.
        class_names: C names.
        title: the figure's title.
        path: if given, also save the figure there.
    """
    cm = np.asarray(cm, dtype=np.float64)
    names = list(class_names)
    if cm.ndim != 2 or cm.shape != (len(names), len(names)):
        raise InputError(f"cm must be ({len(names)}, {len(names)}) for {len(names)} class "
                         f"names, got shape {cm.shape}")
    truth = cm.sum(axis=1)
    shares = np.full(cm.shape, np.nan)
    np.divide(cm, truth[:, None], out=shares, where=truth[:, None] > 0)
    side = max(4.5, 0.55 * len(names) + 2.5)
    fig = new_figure(side + 1.2, side)
    ax = fig.subplots()
    image = ax.imshow(np.ma.masked_invalid(shares), cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_facecolor("0.85")                      # a class absent from the truth: grey row
    colourbar = fig.colorbar(image, ax=ax, shrink=0.8)
    colourbar.set_label("fraction of the true class's pixels")
    total = max(truth.sum(), 1.0)
    ax.set_xticks(range(len(names)), names, rotation=40, ha="right")
    ax.set_yticks(range(len(names)),
                  [f"{name} ({t / total:.0%} of pixels)" if t else f"{name} (absent)"
                   for name, t in zip(names, truth, strict=True)])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if len(names) <= 20:
        for row in range(len(names)):
            if np.isnan(shares[row]).all():
                ax.text((len(names) - 1) / 2, row, "no pixels of this class in the truth",
                        ha="center", va="center", fontsize=9, color="0.3")
                continue
            for col in range(len(names)):
                value = shares[row, col]
                ax.text(col, row, f"{value:.0%}" if value >= 0.005 or value == 0 else "<1%",
                        ha="center", va="center", fontsize=9,
                        color="white" if value > 0.6 else "black")
    fig.suptitle(title)
    ax.set_title("each row sums to 100%: where that true class's pixels went;\n"
                 "the diagonal is each class's accuracy (recall)", fontsize=10)
    return finish(fig, path)


@styled
def plot_trimap_curve(widths, curves, overall=None, title: str = "Accuracy near boundaries",
                      path=None):
    """mIoU within a band of w px around ground-truth boundaries, against w.

    Args:
        widths: the band widths in pixels, e.g. 1..40.
        curves: {label: [mIoU at each width]} (several settings or models on one plot), or a
            single list.
        overall: {label: mIoU over all pixels} (dashed lines), a number, or None.
        title: the figure's title.
        path: if given, also save the figure there.
    """
    widths = np.asarray(widths)
    if not isinstance(curves, dict):
        curves = {"mIoU in the band": curves}
    if overall is not None and not isinstance(overall, dict):
        overall = {next(iter(curves)): overall}
    fig = new_figure(7.5, 4.4)
    ax = fig.subplots()
    for index, (label, curve) in enumerate(curves.items()):
        curve = np.asarray(curve, dtype=np.float64)
        if curve.shape != widths.shape:
            raise InputError(f"curve {label!r} has {curve.size} values for {widths.size} widths")
        line, = ax.plot(widths, curve, marker="o", markersize=3, label=label,
                        color=f"C{index}")
        if overall and label in overall and overall[label] is not None:
            ax.axhline(overall[label], color=line.get_color(), linestyle="--", linewidth=1,
                       label=f"{label}: all pixels ({overall[label]:.3f})")
    ax.set_xlabel("band width w (pixels on each side of an object boundary)")
    ax.set_ylabel("mIoU of the pixels in the band")
    ax.set_xlim(0, widths.max() + 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    ax.set_title(title)
    return finish(fig, path)


@styled
def plot_gallery(items, class_names, title: str = "Images with the lowest mIoU", path=None):
    """One row per image: the image, its ground truth and the prediction, worst first.

    Args:
        items: objects with ``name``, ``miou``, ``image`` (3, H, W), ``truth`` and
            ``prediction`` (H, W) labels, e.g. ``Evaluation.gallery``.
        class_names: names indexed by class id (the legend).
        title: the figure's title.
        path: if given, also save the figure there.
    """
    items = list(items)
    if not items:
        raise InputError("items is empty: nothing to show")
    num_classes = len(class_names)
    fig = new_figure(9.5, 2.6 * len(items) + 0.8)
    axes = fig.subplots(len(items), 3, squeeze=False)
    for row, item in enumerate(items):
        image = np.asarray(item.image)
        if image.ndim == 3 and image.shape[0] == 3:      # CHW -> HWC, also for 1-pixel widths
            image = np.moveaxis(image, 0, -1)
        pictures = (as_image(image), colorize_mask(item.truth, num_classes),
                    colorize_mask(item.prediction, num_classes))
        for col, picture in enumerate(pictures):
            axes[row, col].imshow(picture, interpolation="nearest")
            axes[row, col].set_xticks([])
            axes[row, col].set_yticks([])
        axes[row, 0].set_ylabel(f"{item.name}\nmIoU {item.miou:.2f}", fontsize=10)
    for col, label in enumerate(("image", "ground truth", "prediction")):
        axes[0, col].set_title(label)
    palette = class_palette(num_classes)
    handles = [Patch(facecolor=palette[k], edgecolor="black", label=name)
               for k, name in enumerate(class_names)]
    if any((np.asarray(item.truth) == IGNORE_INDEX).any() for item in items):
        handles.append(Patch(facecolor=IGNORE_COLOUR, edgecolor="black", label="ignore (255)"))
    fig.legend(handles=handles, loc="outside right center", title="classes")
    fig.suptitle(title)
    return finish(fig, path)
