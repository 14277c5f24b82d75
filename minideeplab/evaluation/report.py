"""Evaluating a model on whole images: every score of the evaluation report, and its JSON.

:func:`evaluate_images` predicts each image at its own size with the test-time
:class:`~.inference.Settings`, and accumulates what the report shows:

* the confusion matrix, from which ``metrics`` computes pixel accuracy, mIoU, mean class
  accuracy and frequency-weighted IoU, and the confusion matrix normalised per true class;
* the boundary mIoU (a 3 px band, as during training) and, on request, the trimap curve
  (:mod:`.trimap`, mIoU within w = 1..40 px of a boundary);
* each image's own mIoU, and the images with the lowest one (the gallery of failures);
* the convolutions' multiply-adds per image, the price of the settings.

The figures are drawn by :mod:`minideeplab.viz.report` from an :class:`Evaluation`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .. import metrics
from .inference import (
    Settings,
    at_output_stride,
    count_mult_adds,
    predict_batch,
    predict_labels,
)
from .trimap import TRIMAP_WIDTHS, TrimapCurve

__all__ = ["Evaluation", "GalleryItem", "evaluate_images", "scores"]

#: Longest side of the copies the gallery keeps of each image (memory stays small).
GALLERY_SIDE = 256


def scores(cm) -> dict:
    """Every score of one confusion matrix (rows = truth), as plain Python numbers."""
    return {
        "pixel_accuracy": metrics.pixel_accuracy(cm),
        "miou": metrics.mean_iou(cm),
        "mean_class_accuracy": metrics.mean_class_accuracy(cm),
        "frequency_weighted_iou": metrics.frequency_weighted_iou(cm),
        "iou_per_class": [float(v) for v in metrics.iou_per_class(cm)],
        "class_accuracy": [float(v) for v in metrics.class_accuracy(cm)],
    }


@dataclass
class GalleryItem:
    """One image of the gallery: its name, its mIoU and small copies of image, truth, prediction."""

    name: str
    miou: float
    image: np.ndarray
    truth: np.ndarray
    prediction: np.ndarray


@dataclass
class Evaluation:
    """What :func:`evaluate_images` measured; ``scores()`` and ``to_json()`` read it."""

    settings: Settings
    output_stride: int
    class_names: tuple
    cm: np.ndarray
    boundary_cm: np.ndarray
    images: int = 0
    mult_adds: int = 0
    seconds: float = 0.0
    per_image: list = field(default_factory=list)     # (name, mIoU)
    sizes: list = field(default_factory=list)         # (H, W) of every image
    trimap: TrimapCurve | None = None
    gallery: list = field(default_factory=list)       # GalleryItem, lowest mIoU first

    @property
    def mult_adds_per_image(self) -> float:
        return self.mult_adds / max(self.images, 1)

    def scores(self) -> dict:
        boundary = metrics.iou_summary(self.boundary_cm)
        return {**scores(self.cm), "boundary_miou": boundary["miou"]}

    def to_json(self) -> dict:
        """The content of report.json: settings, scores, matrices, curve, per-image mIoU."""
        return _finite({
            "settings": {"output_stride": self.output_stride,
                         "scales": list(self.settings.scales), "flip": self.settings.flip,
                         "tile": self.settings.tile},
            "images": self.images,
            "class_names": list(self.class_names),
            **self.scores(),
            "mult_adds_per_image": self.mult_adds_per_image,
            "seconds": round(self.seconds, 2),
            "confusion_matrix": self.cm.tolist(),
            "confusion_matrix_normalized_per_true_class":
                metrics.normalized_confusion_matrix(self.cm).tolist(),
            "trimap": None if self.trimap is None else {
                "width_px": list(self.trimap.widths), "miou": self.trimap.curve()},
            "per_image_miou": {name: value for name, value in self.per_image},
            "lowest_miou_images": [item.name for item in self.gallery],
        })


def _finite(value):
    """NaN -> None, for JSON (NaN is not JSON)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _thumbnail(array: np.ndarray) -> np.ndarray:
    """Every k-th pixel so that the longest side is at most GALLERY_SIDE (labels stay labels)."""
    step = max(1, math.ceil(max(array.shape[-2:]) / GALLERY_SIDE))
    return np.ascontiguousarray(array[..., ::step, ::step])


def _same_size_groups(pairs, tile, batch_size):
    """Consecutive (name, image, mask) of one size, at most ``batch_size``; large images alone."""
    group = []
    for pair in pairs:
        shape = pair[1].shape
        large = tile is not None and max(shape[-2:]) > tile
        if group and (large or shape != group[0][1].shape or len(group) == batch_size):
            yield group
            group = []
        group.append(pair)
        if large:
            yield group
            group = []
    if group:
        yield group


def _add_image(result, name, image, mask, prediction, boundary_width, gallery) -> None:
    """Count one image's prediction into every accumulator of ``result``."""
    num_classes = len(result.class_names)
    result.images += 1
    result.sizes.append(tuple(mask.shape))
    image_cm = metrics.confusion_matrix(prediction, mask, num_classes)
    result.cm += image_cm
    result.boundary_cm += metrics.boundary_confusion_matrix(prediction, mask, num_classes,
                                                            width=boundary_width)
    if result.trimap is not None:
        result.trimap.update(prediction, mask)
    image_miou = metrics.mean_iou(image_cm)
    result.per_image.append((name, image_miou))
    if gallery and not math.isnan(image_miou):
        result.gallery.append(GalleryItem(name, image_miou, _thumbnail(image),
                                          _thumbnail(mask), _thumbnail(prediction)))
        result.gallery.sort(key=lambda item: item.miou)
        del result.gallery[gallery:]


def evaluate_images(model, pairs, class_names, settings: Settings | None = None,
                    trimap: bool = False, gallery: int = 0, boundary_width: int = 3,
                    progress: bool = False, total: int | None = None,
                    batch_size: int = 16) -> Evaluation:
    """Score ``model`` on ``(name, image (3, H, W), mask (H, W))`` pairs, whole images.

    Args:
        model: a DeepLabV3Plus; it is run at ``settings.output_stride`` (same weights).
        pairs: an iterable of (name, image, mask), e.g. a data source's ``pairs(split)``.
        class_names: one name per class (K = their number).
        settings: output stride, scales, flip, tile.
        trimap: also accumulate the trimap curve (w = 1..40 px).
        gallery: keep the ``gallery`` images with the lowest mIoU (0: none).
        boundary_width: the band of the boundary mIoU.
        progress: show a progress bar (tqdm) of ``total`` images.
        batch_size: consecutive images of one size (not tiled) go through the model together.
    """
    settings = settings or Settings()
    num_classes = len(class_names)
    network = at_output_stride(model, settings.output_stride)
    result = Evaluation(settings, network.output_stride, tuple(class_names),
                        np.zeros((num_classes, num_classes), dtype=np.int64),
                        np.zeros((num_classes, num_classes), dtype=np.int64),
                        trimap=TrimapCurve(num_classes, TRIMAP_WIDTHS) if trimap else None)
    if progress:
        from tqdm.auto import tqdm

        pairs = tqdm(pairs, total=total, desc="evaluate", unit="image", mininterval=1.0)
    started = time.perf_counter()
    for group in _same_size_groups(pairs, settings.tile, batch_size):
        with count_mult_adds() as counter:
            if len(group) == 1:
                predictions = [predict_labels(network, group[0][1], settings)]
            else:
                predictions = predict_batch(network, np.stack([g[1] for g in group]), settings)
        result.mult_adds += counter.total
        for (name, image, mask), prediction in zip(group, predictions, strict=True):
            _add_image(result, name, image, mask, prediction, boundary_width, gallery)
    result.seconds = time.perf_counter() - started
    return result
