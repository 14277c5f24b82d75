"""The paper's ablation at toy scale: train model variants on one budget, tabulate them.

Decoder on and off, separable or standard convolutions, output stride 16 or 8:
each variant is trained with the same :class:`~minideeplab.train.TrainConfig`
and reported with its mIoU, boundary mIoU, parameters, mult-adds and time.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from .summary import summary
from .train import TrainConfig, train

__all__ = ["ABLATION_VARIANTS", "ablation", "format_ablation"]


#: The variants of the paper's ablation tables, as overrides of the model's keywords.
ABLATION_VARIANTS = {
    "V3+ (decoder), separable, OS 16": {},
    "V3 (no decoder), separable, OS 16": {"decoder": False},
    "V3+, standard convs, OS 16": {"separable": False},
    "V3+, separable, OS 8": {"output_stride": 8},
}


def ablation(config: TrainConfig, variants=None, out_dir=None, progress=True, log=print,
             overwrite=False):
    """Train every variant with the same budget (config) and return one row per variant.

    Rows hold mIoU, boundary mIoU, per-class IoU (val), parameters, mult-adds and
    training time: the table the paper reports for decoder, separable convs and
    output stride. ``overwrite=True`` replaces the runs of an earlier ablation in
    ``out_dir`` (without it, they are refused, as :func:`~minideeplab.train.train` does).
    """
    variants = ABLATION_VARIANTS if variants is None else variants
    rows = []
    for name, overrides in variants.items():
        log(f"--- {name}")
        variant = TrainConfig(**{**asdict(config), "model": {**config.model, **overrides}})
        folder = None if out_dir is None else Path(out_dir) / _slug(name)
        result = train(variant, out_dir=folder, progress=progress, log=log, overwrite=overwrite)
        cost = summary(result["model"], (result["model"].in_channels, config.image_size,
                                         config.image_size))
        rows.append({"variant": name, "miou": result["val"]["miou"],
                     "boundary_miou": result["val"]["boundary_miou"],
                     "iou_per_class": result["val"]["iou_per_class"],
                     "parameters": cost.total_parameters, "mult_adds": cost.total_mult_adds,
                     "train_seconds": result["train_seconds"]})
    return rows


def format_ablation(rows, class_names=None) -> str:
    """The ablation rows as a text table."""
    header = (f"{'variant':<36} {'mIoU':>6} {'bnd mIoU':>9} {'params':>9} {'M mult-adds':>12} "
              f"{'time (s)':>9}")
    if class_names:
        header += "  " + " ".join(f"{n[:7]:>7}" for n in class_names)
    lines = [header, "-" * len(header)]
    for r in rows:
        line = (f"{r['variant']:<36} {r['miou']:>6.3f} {r['boundary_miou']:>9.3f} "
                f"{r['parameters']:>9,} {r['mult_adds'] / 1e6:>12.2f} {r['train_seconds']:>9.0f}")
        if class_names:
            line += "  " + " ".join(f"{v:>7.3f}" for v in r["iou_per_class"])
        lines.append(line)
    return "\n".join(lines)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")
