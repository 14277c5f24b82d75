"""The paper's inference table at toy scale: output stride 16 vs 8, multi-scale, flip.

DeepLabV3+ Table 3 trains at output stride 16 and evaluates the same weights at output stride
16 and 8, with and without multi-scale inputs (MS) and left-right flipping (Flip), reporting
mIoU beside the multiply-adds of one image: each setting buys a little accuracy for a lot of
compute (output stride 8 is about 4x the ASPP and late-backbone work, MS with three scales
about 3x, Flip 2x). :func:`inference_table` measures the same six rows on any checkpoint.
"""

from __future__ import annotations

from .inference import Settings
from .report import evaluate_images

__all__ = ["PAPER_SETTINGS", "inference_table", "format_inference_table"]

#: (output stride, multi-scale, flip) of the six rows, in the paper's order.
PAPER_SETTINGS = [(16, False, False), (16, True, False), (16, True, True),
                  (8, False, False), (8, True, False), (8, True, True)]


def inference_table(model, pairs, class_names, scales=(0.75, 1.0, 1.25), tile=512,
                    log=None) -> list:
    """Evaluate ``model`` in the six settings of :data:`PAPER_SETTINGS`; one dict per row.

    Args:
        pairs: a function returning a fresh iterable of (name, image, mask) on every call.
        scales: the scales of the multi-scale rows.
        log: called with each row's line as it is measured (e.g. ``print``), or None.
    """
    rows = []
    for output_stride, multi_scale, flip in PAPER_SETTINGS:
        settings = Settings(output_stride, scales if multi_scale else (1.0,), flip, tile)
        result = evaluate_images(model, pairs(), class_names, settings)
        scored = result.scores()
        rows.append({"output_stride": output_stride, "multi_scale": multi_scale, "flip": flip,
                     "scales": list(settings.scales), "miou": scored["miou"],
                     "boundary_miou": scored["boundary_miou"],
                     "mult_adds_per_image": result.mult_adds_per_image,
                     "images": result.images, "seconds": result.seconds})
        if log is not None:
            log(_line(rows[-1], rows[0]))
    return rows


def _header() -> str:
    return (f"{'eval OS':>7}  {'MS':<14} {'flip':<5} {'mIoU':>6}  {'boundary mIoU':>13}  "
            f"{'mult-adds/image':>15}  {'x cost':>6}")


def _line(row, first) -> str:
    scales = "/".join(f"{s:g}" for s in row["scales"]) if row["multi_scale"] else "-"
    cost = row["mult_adds_per_image"] / max(first["mult_adds_per_image"], 1)
    return (f"{row['output_stride']:>7}  {scales:<14} {'yes' if row['flip'] else '-':<5} "
            f"{row['miou']:>6.3f}  {row['boundary_miou']:>13.3f}  "
            f"{row['mult_adds_per_image'] / 1e6:>13.1f} M  {cost:>5.1f}x")


def format_inference_table(rows) -> str:
    """The rows as the text table ``minideeplab reproduce`` prints."""
    return "\n".join([_header(), *(_line(row, rows[0]) for row in rows)])
