"""Receptive-field figures: the field layer by layer, and the effective field over it.

* :func:`plot_rf_growth` -- receptive-field size and jump layer by layer;
* :func:`plot_erf`, :func:`plot_erf_comparison` -- effective vs theoretical field.

The arithmetic lives in :mod:`minideeplab.receptive_field`; the figures of
atrous sampling (gridding, valid taps, ASPP branches) are in :mod:`.atrous`.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from .. import receptive_field as rf
from ..errors import InputError, InputTypeError
from .style import FIELD_COLOUR, RF_BOX_COLOUR, finish, new_figure, styled

__all__ = ["plot_rf_growth", "plot_erf", "plot_erf_comparison"]


# ===================================================================== RF growth

def _largest(value) -> float:
    """The larger axis of an int-or-pair value (the one that limits the field)."""
    return float(max(value)) if isinstance(value, tuple) else float(value)


@styled
def plot_rf_growth(rows, title: str = "Receptive field layer by layer", path=None) -> Figure:
    """Receptive-field size (bars) and jump (line) after each layer.

    ``rows`` are :func:`minideeplab.receptive_field.receptive_field` rows. Where
    height and width differ the larger is drawn. A global field (image pooling)
    is a hatched bar to the top of the axes. The size axis is logarithmic when
    the sizes span more than a factor of 30.
    """
    rows = list(rows)
    if not rows or not all(isinstance(row, rf.RFRow) for row in rows):
        raise InputTypeError(
            "rows must be a non-empty list of RFRow records from receptive_field()")
    sizes = np.array([_largest(row.size) for row in rows])
    jumps = np.array([_largest(row.stride) for row in rows])
    finite = sizes[np.isfinite(sizes)]
    largest = finite.max() if finite.size else 1.0
    log = finite.size > 0 and largest / max(finite.min(), 1.0) > 30
    top = largest * (4.0 if log else 1.25)          # room for the value labels above the bars
    positions = np.arange(len(rows))
    kind_colour = {"layer": FIELD_COLOUR, "union": "#2ca02c", "global": "#9467bd",
                   "upsample": "#ff7f0e"}
    kind_label = {"layer": "conv / pool layer", "union": "union of parallel branches",
                  "global": "global pool (whole image)", "upsample": "upsampling"}
    few = len(rows) <= 20

    fig = new_figure(10, 7.5)
    size_ax, jump_ax = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1.4))
    for position, size, row in zip(positions, sizes, rows, strict=True):
        colour = kind_colour.get(row.kind, FIELD_COLOUR)
        if np.isfinite(size):
            size_ax.bar(position, size, color=colour, width=0.75)
            if len(rows) <= 40:
                size_ax.annotate(f"{size:g}", (position, size), xytext=(0, 2),
                                 textcoords="offset points", ha="center", va="bottom",
                                 fontsize=9 if few else 8, rotation=0 if few else 90)
        else:
            size_ax.bar(position, top, color=colour, width=0.75, hatch="//", alpha=0.35,
                        edgecolor="white")
            size_ax.text(position, math.sqrt(top) if log else top / 2, "global", ha="center",
                         va="center", rotation=90, fontsize=9,
                         bbox=dict(facecolor="white", edgecolor="none", pad=1.5, alpha=0.9))
    if log:
        size_ax.set_yscale("log")
    size_ax.set_ylim(1 if log else 0, top)
    size_ax.set_ylabel("RF size (input pixels)")
    size_ax.grid(axis="y", alpha=0.3)
    kinds = [kind for kind in kind_colour if any(row.kind == kind for row in rows)]
    if len(kinds) > 1:
        size_ax.legend(handles=[Patch(color=kind_colour[kind], label=kind_label[kind])
                                for kind in kinds], loc="upper left")
    size_ax.set_title("receptive-field size" + (" (log scale)" if log else ""))

    jump_ax.step(positions, jumps, where="mid", color="black", linewidth=2)
    jump_ax.plot(positions, jumps, "o", color="black", markersize=4)
    jump_ax.set_yscale("log", base=2)
    jump_ax.yaxis.set_major_locator(LogLocator(base=2))
    jump_ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))  # 1, 2, 4
    jump_ax.yaxis.set_minor_formatter(NullFormatter())
    jump_ax.set_ylim(jumps.min() / 1.6, jumps.max() * 1.6)
    jump_ax.set_ylabel("jump (px)")
    jump_ax.set_title("jump: input pixels between neighbouring units (effective stride)")
    jump_ax.grid(alpha=0.3)
    names = [row.name if len(row.name) <= 34 else "..." + row.name[-31:] for row in rows]
    jump_ax.set_xticks(positions, names, rotation=90, fontsize=9 if len(rows) <= 25 else 7)
    jump_ax.set_xlabel("layer")
    fig.suptitle(title)
    return finish(fig, path)


# ========================================================================== ERF

def _rf_size_of(rf_rows):
    """An RF size from a list of rows (the last one), one row, or a number."""
    if rf_rows is None:
        return None
    if isinstance(rf_rows, rf.RFRow):
        return rf_rows.size
    if isinstance(rf_rows, (list, tuple)) and rf_rows and isinstance(rf_rows[-1], rf.RFRow):
        return rf_rows[-1].size
    if isinstance(rf_rows, numbers.Real) or isinstance(rf_rows, tuple):
        return rf_rows
    raise InputTypeError("rf_rows must be receptive_field() rows, one RFRow, or an RF size")


def _draw_rf_box(ax, erf_shape, size, centre, label="theoretical RF"):
    """The theoretical field as a dashed square centred on ``centre`` (clipped to the map)."""
    size_y, size_x = rf.per_axis(size)
    if not (math.isfinite(size_y) and math.isfinite(size_x)):
        height, width = erf_shape
        ax.add_patch(Rectangle((-0.5, -0.5), width, height, fill=False, edgecolor=RF_BOX_COLOUR,
                               linewidth=3, linestyle="--"))
        return Line2D([], [], color=RF_BOX_COLOUR, linestyle="--", linewidth=2,
                      label=f"{label}: whole image (global)")
    ax.add_patch(Rectangle((centre[1] - size_x / 2, centre[0] - size_y / 2), size_x, size_y,
                           fill=False, edgecolor=RF_BOX_COLOUR, linewidth=2, linestyle="--"))
    text = f"{size_y:g}" if size_y == size_x else f"{size_y:g}x{size_x:g}"
    return Line2D([], [], color=RF_BOX_COLOUR, linestyle="--", linewidth=2,
                  label=f"{label} ({text} px)")


def _draw_share_box(ax, erf, centre, share):
    radius = rf.erf_radius(erf, share, centre=centre)
    side = 2 * radius + 1
    ax.add_patch(Rectangle((centre[1] - side / 2, centre[0] - side / 2), side, side,
                           fill=False, edgecolor="white", linewidth=1.5, linestyle=":"))
    return Line2D([], [], color="white", linestyle=":", linewidth=2,
                  label=f"{share:.0%} of the ERF ({side:g} px)"), radius


def _fits(size, shape) -> bool:
    """True when a square field of side ``size`` fits inside the map (else its box would only
    trace the map's border)."""
    size_y, size_x = rf.per_axis(size)
    return math.isfinite(size_y) and math.isfinite(size_x) and size_y < shape[0] \
        and size_x < shape[1]


def _erf_panel(fig, ax, erf, rf_size, title, rf_box=None, share=0.9, log=False, limits=None,
               legend_below=False):
    erf = rf.check_erf(erf)
    (cy, cx), _ = rf.erf_moments(erf)
    centre = (round(cy), round(cx))
    low, high = limits if limits is not None else (None, None)
    if log:
        floor = erf[erf > 0].min() if low is None else 10.0 ** low
        image = ax.imshow(np.log10(np.maximum(erf, floor)), cmap="magma", vmin=low, vmax=high)
        bar_label = "log10(share of gradient mass)"
    else:
        image = ax.imshow(erf, cmap="magma", vmin=low, vmax=high)
        bar_label = "share of gradient mass"
    handles = []
    if rf_box is not None:
        top, left, bottom, right = rf_box
        ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left + 1, bottom - top + 1,
                               fill=False, edgecolor=RF_BOX_COLOUR, linewidth=2, linestyle="--"))
        handles.append(Line2D([], [], color=RF_BOX_COLOUR, linestyle="--", linewidth=2,
                              label=f"theoretical RF ({bottom - top + 1:g} px)"))
    elif rf_size is not None and (limits is None or _fits(rf_size, erf.shape)):
        handles.append(_draw_rf_box(ax, erf.shape, rf_size, centre))
    share_handle, _ = _draw_share_box(ax, erf, centre, share)
    handles.append(share_handle)
    height, width = erf.shape
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_xlabel("input x (pixels)")
    ax.set_ylabel("input y (pixels)")
    ax.set_title(title)
    colourbar = fig.colorbar(image, ax=ax, shrink=0.85)
    colourbar.set_label(bar_label)
    if legend_below:                   # keeps the map's edges (the faint tails) visible
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=9,
                  facecolor="0.3", labelcolor="white", framealpha=0.9, ncols=1)
    else:
        ax.legend(handles=handles, loc="upper right", fontsize=9, facecolor="0.3",
                  labelcolor="white", framealpha=0.8)
    return erf, centre


@styled
def plot_erf(erf, rf_rows=None, title: str = "Effective receptive field", output_index=None,
             share: float = 0.9, log: bool = False, path=None) -> Figure:
    """An ERF heat map with the theoretical receptive field drawn over it.

    ``rf_rows``: the rows of :func:`~minideeplab.receptive_field.receptive_field`
    (the last row is used), one row, or just an RF size. With ``output_index``
    (the output unit the ERF was measured at) and rows, the box is placed
    exactly with :func:`~minideeplab.receptive_field.receptive_field_box`;
    otherwise it is centred on the ERF's centre of mass. The dotted square
    holds ``share`` of the ERF's mass. ``log=True`` shows log10 of the map,
    which reveals the faint tails.
    """
    rf_box = None
    if output_index is not None and rf_rows is not None:
        row = rf_rows if isinstance(rf_rows, rf.RFRow) else rf_rows[-1]
        rf_box = rf.receptive_field_box(row, output_index)
        if not all(math.isfinite(v) for v in rf_box):
            rf_box = None
    fig = new_figure(8, 7)
    ax = fig.subplots()
    _erf_panel(fig, ax, erf, _rf_size_of(rf_rows), "", rf_box, share, log)
    fig.suptitle(title)
    return finish(fig, path)


@styled
def plot_erf_comparison(erf_untrained, erf_trained, rf_size,
                        labels=("untrained (random weights)", "trained"), share: float = 0.9,
                        title: str = "Effective receptive field before and after training",
                        log: bool = False, path=None) -> Figure:
    """Two ERFs side by side with the theoretical RF, and how their mass spreads.

    ``rf_size`` is the theoretical RF size (a number, or rows / one row of
    :func:`~minideeplab.receptive_field.receptive_field`); its box is centred
    on each ERF's centre of mass, and left out when the field does not fit
    inside the map (it would only trace the border). Both maps share one
    colour scale, so their brightness compares; ``log=True`` shows log10 of
    the maps, which makes the faint tails (and the edge of the theoretical
    field) visible. The bottom panel plots, for each ERF, the share of its
    mass inside a square of half-width ``radius`` around its centre: a
    compact ERF rises fast; the dashed vertical line is the theoretical RF's
    half-width ``(r - 1) / 2``.
    """
    rf_size = _rf_size_of(rf_size)
    maps = [rf.check_erf(erf_untrained), rf.check_erf(erf_trained)]
    if log:
        positive = [m[m > 0] for m in maps]
        high = math.log10(max(p.max() for p in positive))
        limits = (max(math.log10(min(p.min() for p in positive)), high - 6.0), high)
    else:
        limits = (0.0, max(m.max() for m in maps))
    if not isinstance(labels, (list, tuple)) or len(labels) != 2:
        raise InputError(f"labels must be two strings (untrained, trained), got {labels!r}")
    fig = new_figure(10, 10.5)
    axes = fig.subplot_mosaic([["left", "right"], ["curve", "curve"]],
                              height_ratios=(1.5, 1))
    curves = []
    for key, erf, label in zip(("left", "right"), (erf_untrained, erf_trained), labels,
                                strict=True):
        erf, centre = _erf_panel(fig, axes[key], erf, rf_size, label, share=share, log=log,
                                 limits=limits, legend_below=True)
        rows, cols = np.indices(erf.shape)
        distance = np.maximum(np.abs(rows - centre[0]), np.abs(cols - centre[1]))
        radii = np.arange(distance.max() + 1)
        mass = np.array([erf[distance <= radius].sum() for radius in radii])
        curves.append((label, radii, mass, rf.erf_radius(erf, share, centre=centre)))
    ax = axes["curve"]
    for (label, radii, mass, radius), colour in zip(curves, ("#1f77b4", "#d62728"), strict=True):
        ax.plot(radii, mass, linewidth=2, color=colour, label=label)
        ax.plot([radius], [share], "o", color=colour, markersize=7)
    ax.axhline(share, color="gray", linestyle=":", linewidth=1.5, label=f"{share:.0%} of the mass")
    size = _largest(rf_size) if rf_size is not None else math.inf
    if math.isfinite(size):
        ax.axvline((size - 1) / 2, color="black", linestyle="--", linewidth=1.5,
                   label=f"theoretical RF half-width ({(size - 1) / 2:g} px)")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("half-width of a square around the centre (pixels)")
    ax.set_ylabel("share of ERF mass inside")
    ax.set_title("how concentrated is each ERF? (dots: the half-width holding "
                 f"{share:.0%})")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.suptitle(title)
    return finish(fig, path)
