"""The receptive field of a DeepLabV3+ model block by block, grouped by stage, in one figure.

:func:`plot_rf_by_block` reads the model's parts (stem, the backbone's blocks, ASPP's branches,
the decoder) and asks :func:`minideeplab.receptive_field.receptive_field` for the field after
each: one row per block, not per convolution (a pointwise 1x1 never changes the field). The
image-pooling branch is the one global row; the rows after it give the field of the
convolutions alone, and say that pooling makes the whole field global.
"""

from __future__ import annotations

import numbers

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .. import receptive_field as rf
from ..errors import InputError, InputTypeError
from ..models.deeplab import DeepLabV3Plus
from ..nn.blocks import ASPPPooling
from .explorers import _aspp_without_pooling, _strip_pooling
from .style import finish, new_figure, styled

__all__ = ["plot_rf_by_block", "rf_by_block"]

_GROUP_COLOURS = {"backbone": "#1f77b4", "ASPP": "#ff7f0e", "decoder": "#2ca02c",
                  "output": "#7f7f7f"}


def _field(specs):
    """(size, jump) after the last of ``specs``, as numbers (the larger axis)."""
    row = rf.receptive_field(specs)[-1]
    return float(max(rf.per_axis(row.size))), float(max(rf.per_axis(row.stride)))


def rf_by_block(model) -> list[dict]:
    """One record per block of ``model``, in data-flow order, for :func:`plot_rf_by_block`.

    Each record: ``name``, ``group`` ("backbone", "ASPP", "decoder" or "output"), ``size``
    and ``jump`` in input pixels (``size`` is ``inf`` for image pooling; after ASPP it is the
    field of the convolutions alone) and ``note``.
    """
    if not isinstance(model, DeepLabV3Plus):
        raise InputTypeError(f"model must be a DeepLabV3Plus, got {type(model).__name__}")
    stem, stages, aspp = model.backbone.stem, list(model.backbone.stages), model.aspp
    records = [dict(name="stem (3x3, stride 2)", group="backbone", specs=[stem])]
    for s, stage in enumerate(stages):
        for b, block in enumerate(stage):
            stride = block.stride[0] if hasattr(block, "stride") else block[0].stride[0]
            dilation = block.dilation[0] if hasattr(block, "dilation") else block[0].dilation[0]
            how = f"stride {stride}" if stride > 1 else f"rate {dilation}"
            records.append(dict(name=f"stage {s}, block {b} ({how})", group="backbone",
                                specs=[stem, *stages[:s], *list(stage)[:b + 1]]))
    backbone = [stem, *stages]
    names = ["1x1", *(f"3x3 rate {r}" for r in aspp.rates)]
    convolutions = [b for b in aspp.branches if not isinstance(b, ASPPPooling)]
    for name, branch in zip(names, convolutions, strict=True):
        records.append(dict(name=f"ASPP {name}", group="ASPP", specs=[*backbone, branch]))
    if aspp.image_pooling:
        records.append(dict(name="ASPP image pooling", group="ASPP", size=np.inf,
                            jump=float(model.output_stride), note="global: the whole image"))
    pooling_note = "convs only; pooling: global" if aspp.image_pooling else ""
    records.append(dict(name="ASPP projection", group="ASPP", note=pooling_note,
                        specs=[*backbone, *_aspp_without_pooling(aspp)]))
    specs = _strip_pooling(model.layer_specs(), aspp)
    if model.decoder is not None:
        records.append(dict(name="decoder: low-level 1x1", group="decoder",
                            specs=[stem, stages[0], model.decoder.project]))
        records.append(dict(name="decoder: concat (after x4)", group="decoder",
                            specs=specs[:3]))
        fuse = list(model.decoder.fuse)
        for i in range(len(fuse)):
            records.append(dict(name=f"decoder: 3x3 conv {i + 1}", group="decoder",
                                specs=[*specs[:3], *fuse[:i + 1]]))
    records.append(dict(name="output (after the last upsampling)", group="output",
                        note=pooling_note, specs=specs))
    for record in records:
        if "specs" in record:
            record["size"], record["jump"] = _field(record.pop("specs"))
        record.setdefault("note", "")
    return records


@styled
def plot_rf_by_block(model, image_size: int = 64, title: str | None = None,
                     path=None) -> Figure:
    """Horizontal bars: the theoretical receptive field after each block of ``model``.

    Grouped and coloured by part (backbone, ASPP, decoder, output), labelled with the size and
    the jump; the one global row (image pooling) is a hatched bar to the edge; a dashed line
    marks ``image_size``, the side of the training images.
    """
    if isinstance(image_size, bool) or not isinstance(image_size, numbers.Integral) \
            or image_size < 1:
        raise InputError(f"image_size must be a positive int, got {image_size!r}")
    records = rf_by_block(model)
    finite = [r["size"] for r in records if np.isfinite(r["size"])]
    right = max(max(finite), image_size) * 1.45
    fig = new_figure(10, 0.36 * len(records) + 1.6)
    ax = fig.subplots()
    positions = np.arange(len(records))[::-1]
    for position, record in zip(positions, records, strict=True):
        colour = _GROUP_COLOURS[record["group"]]
        if np.isfinite(record["size"]):
            ax.barh(position, record["size"], color=colour, height=0.7)
            label = f"{record['size']:g} px, jump {record['jump']:g}"
            if record["note"]:
                label += f"  ({record['note']})"
            ax.text(record["size"] + right * 0.01, position, label, va="center", fontsize=8.5,
                    bbox=dict(facecolor="white", edgecolor="none", pad=0.5, alpha=0.85))
        else:
            ax.barh(position, right, color=colour, height=0.7, alpha=0.35, hatch="//",
                    edgecolor="white")
            ax.text(right * 0.5, position, record["note"], va="center", ha="center", fontsize=9,
                    bbox=dict(facecolor="white", edgecolor="none", pad=1.0))
    ax.axvline(image_size, color="black", linestyle="--", linewidth=1.2)
    ax.text(image_size, len(records) - 0.3, f" training image {image_size} px", fontsize=9,
            va="bottom")
    ax.set_yticks(positions, [r["name"] for r in records], fontsize=9)
    ax.set_ylim(-0.7, len(records) + 0.3)
    ax.set_xlim(0, right)
    ax.set_xlabel("theoretical receptive field (input pixels)")
    ax.grid(axis="x", alpha=0.3)
    groups = [g for g in _GROUP_COLOURS if any(r["group"] == g for r in records)]
    ax.legend(handles=[Patch(color=_GROUP_COLOURS[g], label=g) for g in groups],
              loc="upper right", fontsize=9, framealpha=0.95)
    name = "DeepLabV3+" if model.decoder is not None else "DeepLabV3"
    fig.suptitle(title or f"{name} at output stride {model.output_stride}: the receptive field "
                          "after each block")
    return finish(fig, path)
