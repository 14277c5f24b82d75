"""Evaluating a trained model the way the paper does: whole images, test-time settings, report.

* :mod:`.inference` -- ``predict_labels`` of one image of any size (padding to the output
  stride, tiles for large images), ``at_output_stride`` (the same weights at another output
  stride), multi-scale and flipped inputs, ``count_mult_adds``;
* :mod:`.trimap` -- the trimap curve: mIoU within w px of object boundaries (the paper's Fig. 5);
* :mod:`.report` -- ``evaluate_images``: the confusion matrix, mIoU, mean class accuracy,
  frequency-weighted IoU, pixel accuracy, per-image mIoU and the lowest-mIoU gallery;
* :mod:`.table` -- ``inference_table``: the paper's Table 3 at toy scale (output stride 16 vs 8,
  with and without multi-scale and flip, mIoU beside multiply-adds).

Figures of an evaluation are drawn by :mod:`minideeplab.viz.report`.
"""

from .inference import (
    OUTPUT_STRIDES,
    Settings,
    at_output_stride,
    class_probabilities,
    count_mult_adds,
    parse_scales,
    predict_batch,
    predict_labels,
    single_pass_cost,
)
from .report import Evaluation, GalleryItem, evaluate_images, scores
from .table import PAPER_SETTINGS, format_inference_table, inference_table
from .trimap import TRIMAP_WIDTHS, TrimapCurve, trimap_bands, trimap_miou

__all__ = [
    "OUTPUT_STRIDES", "Settings", "at_output_stride", "class_probabilities", "count_mult_adds",
    "parse_scales", "predict_batch", "predict_labels", "single_pass_cost",
    "Evaluation", "GalleryItem", "evaluate_images", "scores",
    "PAPER_SETTINGS", "inference_table", "format_inference_table",
    "TRIMAP_WIDTHS", "TrimapCurve", "trimap_bands", "trimap_miou",
]
