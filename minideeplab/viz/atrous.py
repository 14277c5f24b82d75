"""Atrous figures: where dilated kernels read, alone, stacked, near padding and in ASPP.

* :func:`plot_atrous_sampling` -- where a 3x3 kernel reads at rates 1, 2, 6;
* :func:`plot_gridding` -- path counts through stacked dilated convs, holes shown;
* :func:`plot_valid_tap_fraction` -- taps that land on the map vs the rate;
* :func:`plot_aspp_fields` -- where each ASPP branch reads on the input image.

The arithmetic lives in :mod:`minideeplab.receptive_field`; the
receptive-field figures (growth layer by layer, effective field) are in
:mod:`.fields`.
"""

from __future__ import annotations

import math
import numbers

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from .. import receptive_field as rf
from ..errors import InputError, InputTypeError
from ..geometry import check_kernel_size, check_rates
from .style import (
    FIELD_COLOUR,
    TAP_COLOUR,
    as_image,
    finish,
    integer_ticks,
    new_figure,
    show_image,
    styled,
)

__all__ = ["plot_atrous_sampling", "plot_gridding", "plot_valid_tap_fraction",
           "plot_aspp_fields"]


# ===================================================================== atrous sampling

def _checkerboard(size: int, cell: int) -> np.ndarray:
    rows, cols = np.indices((size, size))
    return np.where(((rows // cell) + (cols // cell)) % 2 == 0, 0.92, 0.72)


@styled
def plot_atrous_sampling(image=None, rates=(1, 2, 6), kernel_size: int = 3, path=None) -> Figure:
    """Where a ``k x k`` kernel reads at each atrous rate, drawn over an image.

    The default image is a checkerboard of single pixels, so the skipped pixels
    between taps are visible. Each panel shows the taps (the same ``k^2``
    weights) ``rate`` pixels apart and the field of view ``rate (k-1) + 1``.
    """
    rates = check_rates(rates)
    kernel_size = check_kernel_size(kernel_size)
    largest = max(rates) * (kernel_size - 1) + 1
    if image is None:
        image = _checkerboard(largest + 6 + (largest + 1) % 2, 1)   # odd side: a centre pixel
    image = as_image(image)
    height, width = image.shape[:2]
    centre_y, centre_x = height // 2, width // 2
    offsets = (np.arange(kernel_size) - (kernel_size - 1) // 2)

    fig = new_figure(10, 10 / len(rates) + 1.2)
    axes = fig.subplots(1, len(rates), squeeze=False)[0]
    for ax, rate in zip(axes, rates, strict=True):
        show_image(ax, image)
        span = rate * (kernel_size - 1) + 1
        half = (span - 1) / 2
        ax.add_patch(Rectangle((centre_x - half - 0.5, centre_y - half - 0.5), span, span,
                               fill=False, edgecolor=FIELD_COLOUR, linewidth=2, linestyle="--"))
        tap_y, tap_x = np.meshgrid(centre_y + offsets * rate, centre_x + offsets * rate,
                                   indexing="ij")
        ax.scatter(tap_x.ravel(), tap_y.ravel(), s=max(8, 260 / max(height, width) * 8),
                   color=TAP_COLOUR, edgecolor="black", linewidth=0.6, zorder=3)
        ax.set_title(f"rate {rate}: field {span}x{span} px")
        integer_ticks(ax)
        ax.set_xlabel("x (pixels)")
        ax.set_ylabel("y (pixels)")
    handles = [Line2D([], [], marker="o", linestyle="", color=TAP_COLOUR, markeredgecolor="black",
                      label=f"{kernel_size}x{kernel_size} taps ({kernel_size ** 2} weights)"),
               Line2D([], [], color=FIELD_COLOUR, linestyle="--", linewidth=2,
                      label="field of view d(k-1)+1")]
    fig.legend(handles=handles, loc="outside lower center", ncols=2)
    fig.suptitle(f"Atrous convolution: the same {kernel_size ** 2} weights, "
                 "spread 'rate' pixels apart")
    return finish(fig, path)


# ============================================================================ gridding

@styled
def plot_gridding(rate_stacks=((2, 2, 2), (1, 2, 5)), kernel_size: int = 3,
                  path=None) -> Figure:
    """Heat maps of path counts from each input pixel to one output, holes in red.

    One panel per stack of rates (see :func:`minideeplab.receptive_field.gridding_pattern`).
    A hole is an input pixel inside the field that no path reaches: the
    "gridding" artefact of stacking equal rates. The title gives Wang et al.'s
    HDC verdict.
    """
    if not isinstance(rate_stacks, (list, tuple)) or not rate_stacks:
        raise InputTypeError(
            f"rate_stacks must be a non-empty list of rate tuples, got {rate_stacks!r}")
    kernel_size = check_kernel_size(kernel_size)
    patterns = [rf.gridding_pattern(stack, kernel_size, ndim=2) for stack in rate_stacks]
    side = max(p.shape[0] for p in patterns)

    fig = new_figure(10, 10 / len(patterns) + 1.6)
    axes = fig.subplots(1, len(patterns), squeeze=False)[0]
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#d62728")
    for ax, stack, pattern in zip(axes, rate_stacks, patterns, strict=True):
        reach = (pattern.shape[0] - 1) // 2
        shown = np.ma.masked_equal(pattern, 0)      # masked = hole, drawn in the 'bad' colour
        extent = (-reach - 0.5, reach + 0.5, reach + 0.5, -reach - 0.5)
        image = ax.imshow(shown, cmap=cmap, extent=extent, vmin=1)
        holes = rf.count_holes(pattern)
        verdict = (f"HDC {'passes' if rf.hdc_check(stack, kernel_size).passes else 'fails'}"
                   if len(stack) > 1 else "one layer")
        ax.set_title(f"rates {tuple(stack)}: {holes} holes\n({verdict})")
        ax.set_xlabel("input offset x (pixels)")
        ax.set_ylabel("input offset y (pixels)")
        integer_ticks(ax)
        # the same scale on every panel, so a 9x9 field looks smaller than a 17x17 one
        ax.set_xlim(-(side // 2) - 0.5, side // 2 + 0.5)
        ax.set_ylim(side // 2 + 0.5, -(side // 2) - 0.5)
        colourbar = fig.colorbar(image, ax=ax, shrink=0.85)
        colourbar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        colourbar.set_label("paths to the output")
    fig.legend(handles=[Patch(color="#d62728", label="hole: no path reaches the output")],
               loc="outside lower center")
    fig.suptitle(f"Gridding: which input pixels reach one output through stacked "
                 f"{kernel_size}x{kernel_size} dilated convs")
    return finish(fig, path)


# ========================================================================= valid taps

@styled
def plot_valid_tap_fraction(rates=None, map_sizes=(8, 16, 32, 65), kernel_size: int = 3,
                            path=None) -> Figure:
    """Fraction of an atrous kernel's taps that land on the feature map, vs the rate.

    One curve per map size (``rates`` default 1..72). The dashed line is
    ``1/k^2``: only the centre tap left, the kernel has become a 1x1 (DeepLabV3,
    Fig. 4) -- the reason ASPP adds an image-pooling branch for global context.
    """
    if rates is None:
        rates = range(1, 73)
    rates = check_rates(list(rates))
    if isinstance(map_sizes, numbers.Integral):
        map_sizes = (map_sizes,)
    fig = new_figure(10, 5.5)
    ax = fig.subplots()
    for size in map_sizes:
        fractions = [rf.valid_tap_fraction(rate, size, kernel_size) for rate in rates]
        ax.plot(rates, fractions, marker="o", markersize=3, linewidth=2,
                label=f"{size}x{size} feature map")
    floor = 1 / kernel_size ** 2
    ax.axhline(floor, color="black", linestyle="--", linewidth=1.5,
               label=f"1/{kernel_size ** 2}: only the centre tap (a 1x1 conv)")
    ax.set_ylim(0, 1.05)
    ax.set_xlim(min(rates) - 0.5, max(rates) + 0.5)
    ax.set_xlabel("atrous rate (padding = rate, stride 1)")
    ax.set_ylabel("fraction of taps on the map (not padding)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    ax.set_title(f"Valid taps of a {kernel_size}x{kernel_size} atrous conv: large rates read "
                 "mostly padding")
    return finish(fig, path)


# ========================================================================== ASPP

def _demo_image(size: int) -> np.ndarray:
    """A soft synthetic RGB scene: a colour gradient with a few discs."""
    rows, cols = np.indices((size, size)) / max(size - 1, 1)
    image = np.stack([0.55 + 0.3 * cols, 0.6 + 0.25 * rows, 0.85 - 0.2 * cols], axis=-1)
    for cy, cx, radius, colour in ((0.3, 0.3, 0.14, (0.9, 0.7, 0.3)),
                                   (0.65, 0.7, 0.2, (0.4, 0.6, 0.8)),
                                   (0.75, 0.25, 0.1, (0.8, 0.45, 0.5))):
        inside = (rows - cy) ** 2 + (cols - cx) ** 2 < radius ** 2
        image[inside] = colour
    return np.clip(image, 0, 1)


@styled
def plot_aspp_fields(image=None, output_stride: int = 16, rates=(6, 12, 18),
                     kernel_size: int = 3, path=None) -> Figure:
    """Where each ASPP branch reads, drawn over the input image.

    ASPP runs on the feature map, one cell per ``output_stride`` input pixels:
    cell ``i`` is centred on input pixel ``i * output_stride`` (the grid of
    stride-2 3x3 convolutions with padding 1) and the map has
    ``(H - 1) // output_stride + 1`` cells per axis. A ``k x k`` branch at rate
    ``r``, evaluated at the centre cell, reads cells ``r`` apart, i.e.
    ``r * output_stride`` input pixels apart; each tap is drawn as the cell it
    reads (the backbone's own receptive field around each cell is not drawn).
    Taps on cells outside the map read padding (dashed, marked x). The 1x1
    branch reads one cell; the image-pooling branch averages the whole image.
    ``image`` is (H, W), (H, W, 3) or (3, H, W); the default is a synthetic
    513x513 scene (the DeepLab crop size).
    """
    if (not isinstance(output_stride, numbers.Integral) or isinstance(output_stride, bool)
            or output_stride < 1):
        raise InputError(f"output_stride must be a positive int, got {output_stride!r}")
    rates = check_rates(rates)
    kernel_size = check_kernel_size(kernel_size)
    image = as_image(_demo_image(513) if image is None else image)
    height, width = image.shape[:2]
    cell = output_stride
    n_cells = ((height - 1) // cell + 1, (width - 1) // cell + 1)
    centre_cell = (n_cells[0] // 2, n_cells[1] // 2)
    offsets = np.arange(kernel_size) - (kernel_size - 1) // 2
    # every panel shares the same limits: the widest branch plus one cell of margin
    reach = max(rates) * cell * ((kernel_size - 1) // 2) + cell
    centre_y, centre_x = centre_cell[0] * cell, centre_cell[1] * cell
    limits_x = (min(-cell, centre_x - reach), max(width, centre_x + reach))
    limits_y = (max(height, centre_y + reach), min(-cell, centre_y - reach))   # y points down

    panels = [("1x1", 0)] + [(f"{kernel_size}x{kernel_size} rate {r}", r) for r in rates]
    panels.append(("image pooling", None))
    columns = 3
    n_rows = math.ceil((len(panels) + 1) / columns)
    fig = new_figure(10, 3.7 * n_rows + 0.6)
    axes = fig.subplots(n_rows, columns, squeeze=False).ravel()
    colours = matplotlib.colormaps["tab10"]
    for index, (ax, (label, rate)) in enumerate(zip(axes, panels, strict=False)):  # spare axes
        colour = colours(index % 10)
        show_image(ax, image)
        if max(n_cells) <= 16:               # the feature map's cells, faintly (when few)
            for i in range(n_cells[0] + 1):
                ax.axhline(i * cell - cell / 2, color="white", linewidth=0.5, alpha=0.4)
            for j in range(n_cells[1] + 1):
                ax.axvline(j * cell - cell / 2, color="white", linewidth=0.5, alpha=0.4)
        if rate is None:
            ax.add_patch(Rectangle((-0.5, -0.5), width, height, facecolor=colour, alpha=0.3,
                                   edgecolor="none"))
            ax.add_patch(Rectangle((-0.5, -0.5), width, height, fill=False, edgecolor=colour,
                                   linewidth=4))
            ax.set_title("image pooling: the whole image")
        else:
            taps = offsets if rate else [0]
            for u in taps:
                for v in taps:
                    row, col = centre_cell[0] + u * rate, centre_cell[1] + v * rate
                    inside = 0 <= row < n_cells[0] and 0 <= col < n_cells[1]
                    y, x = row * cell, col * cell
                    ax.add_patch(Rectangle((x - cell / 2, y - cell / 2), cell, cell,
                                           facecolor=colour if inside else "none",
                                           alpha=0.45 if inside else 1.0, edgecolor="none"))
                    ax.add_patch(Rectangle((x - cell / 2, y - cell / 2), cell, cell, fill=False,
                                           edgecolor=colour, linewidth=2,
                                           linestyle="-" if inside else "--"))
                    ax.plot(x, y, "o" if inside else "X", color=colour, markersize=7,
                            markeredgecolor="black", markeredgewidth=0.7)
            if rate == 0:
                ax.set_title(f"1x1: one {cell}x{cell} px cell")
            else:
                step = rate * cell
                span = step * (kernel_size - 1) + cell
                ax.add_patch(Rectangle((centre_x - span / 2, centre_y - span / 2), span, span,
                                       fill=False, edgecolor=colour, linewidth=1.5,
                                       linestyle=":"))
                ax.set_title(f"{label}: taps {step} px apart")
        ax.add_patch(Rectangle((-0.5, -0.5), width, height, fill=False, edgecolor="black",
                               linewidth=1.2))
        ax.set_xlim(*limits_x)
        ax.set_ylim(*limits_y)
        ax.set_xlabel("x (input pixels)")
        ax.set_ylabel("y (input pixels)")
    legend_ax = axes[len(panels)]
    legend_ax.axis("off")
    legend_ax.legend(handles=[
        Line2D([], [], marker="o", color="0.4", markeredgecolor="black", linestyle="",
               markersize=8, label=f"tap on the map\n(reads one {cell}x{cell} px cell)"),
        Line2D([], [], marker="X", color="0.4", markeredgecolor="black", linestyle="",
               markersize=8, label="tap outside the map:\nreads padding zeros"),
        Line2D([], [], color="0.2", linestyle=":", label="the branch's field of view"),
        Patch(facecolor="none", edgecolor="black", label=f"the image ({height}x{width} px,\n"
              f"{n_cells[0]}x{n_cells[1]} feature cells)"),
    ], loc="center", fontsize=10, title=f"output stride {output_stride}", labelspacing=1.0)
    for ax in axes[len(panels) + 1:]:
        ax.axis("off")
    fig.suptitle(f"ASPP branches on a {height}x{width} image at output stride {output_stride}: "
                 f"rate r reads r x {output_stride} px apart")
    return finish(fig, path)
