"""Figures to explore: the pictures behind the sliders of :mod:`.interactive`.

* :func:`plot_atrous_padding` -- a ``k x k`` kernel at rate ``r`` on an ``n x n`` map: which
  taps of one output land on the map and which on the zero padding, for every output;
* :func:`plot_aspp_explorer` -- ASPP's branches at an output stride, rates and map size: each
  branch's field of view in input pixels and its share of taps on the map;
* :func:`plot_receptive_field_explorer` -- the model layer by layer: the theoretical and the
  effective field of the unit over one input position, on an input image.

Each is a plain figure function (no Jupyter needed); :mod:`.interactive` wraps each in
sliders, and the gridding slider redraws :func:`minideeplab.viz.plot_gridding`.
"""

from __future__ import annotations

import numbers

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from .. import receptive_field as rf
from ..errors import InputError, InputTypeError
from ..geometry import ParallelSpec, check_kernel_size, check_rates, pair
from ..models.deeplab import DeepLabV3Plus
from ..nn.blocks import ASPPPooling
from ..nn.module import Sequential, record_calls
from .style import (
    FIELD_COLOUR,
    RF_BOX_COLOUR,
    TAP_COLOUR,
    as_image,
    finish,
    integer_ticks,
    new_figure,
    styled,
)

__all__ = ["plot_atrous_padding", "plot_aspp_explorer", "plot_receptive_field_explorer",
           "RF_LAYERS"]


def _odd_kernel(kernel_size) -> int:
    kernel_size = check_kernel_size(kernel_size)
    if kernel_size % 2 == 0:
        raise InputError(f"kernel_size must be odd ('same' padding centres it), got {kernel_size}")
    return kernel_size


def _positive(value, name: str, maximum=None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise InputError(f"{name} must be an int >= 1, got {value!r}")
    if maximum is not None and value > maximum:
        raise InputError(f"{name} must be at most {maximum} (to be drawn), got {value!r}")
    return int(value)


# ====================================================================== atrous padding

@styled
def plot_atrous_padding(kernel_size: int = 3, rate: int = 2, input_size: int = 9,
                        position=(0, 0), path=None) -> Figure:
    """Where one output's taps land on an ``n x n`` map with 'same' padding; counts per output.

    Stride 1 and padding ``p = rate (k - 1) / 2`` keep the map's size. Left: the map (white)
    inside its padding ring (grey), the taps of output ``position`` (red dots on the map, grey
    crosses on padding: those weights multiply zeros) and the field of view. Right: for every
    output, how many of its ``k^2`` taps read the map
    (:func:`minideeplab.receptive_field.valid_tap_map`).
    """
    kernel_size = _odd_kernel(kernel_size)
    rate = _positive(rate, "rate", maximum=64)
    size = _positive(input_size, "input_size", maximum=64)
    row, col = pair(position, "position", minimum=0)
    if row >= size or col >= size:
        raise InputError(f"position {(row, col)} must be inside the {size}x{size} map")
    padding = rate * (kernel_size - 1) // 2
    counts = np.rint(rf.valid_tap_map(rate, size, kernel_size) * kernel_size ** 2).astype(int)
    offsets = (np.arange(kernel_size) - (kernel_size - 1) // 2) * rate

    fig = new_figure(10, 5.2)
    ax_map, ax_count = fig.subplots(1, 2, width_ratios=(1.15, 1))
    ax_map.add_patch(Rectangle((-padding - 0.5, -padding - 0.5), size + 2 * padding,
                               size + 2 * padding, facecolor="0.82", hatch="//",
                               edgecolor="0.65", linewidth=0))
    ax_map.add_patch(Rectangle((-0.5, -0.5), size, size, facecolor="white", edgecolor="black",
                               linewidth=1.5))
    if size <= 24:                                   # the pixels of the map, when few
        for line in range(1, size):
            ax_map.plot([-0.5, size - 0.5], [line - 0.5] * 2, color="0.85", linewidth=0.5)
            ax_map.plot([line - 0.5] * 2, [-0.5, size - 0.5], color="0.85", linewidth=0.5)
    span = rate * (kernel_size - 1) + 1
    ax_map.add_patch(Rectangle((col - span / 2, row - span / 2), span, span, fill=False,
                               edgecolor=FIELD_COLOUR, linestyle="--", linewidth=2))
    taps_y, taps_x = np.meshgrid(row + offsets, col + offsets, indexing="ij")
    inside = (taps_y >= 0) & (taps_y < size) & (taps_x >= 0) & (taps_x < size)
    marker = max(20, 900 / (size + 2 * padding))
    ax_map.scatter(taps_x[inside], taps_y[inside], s=marker, color=TAP_COLOUR,
                   edgecolor="black", linewidth=0.6, zorder=3)
    ax_map.scatter(taps_x[~inside], taps_y[~inside], s=marker, marker="X", color="0.35",
                   zorder=3)
    ax_map.plot(col, row, "s", markersize=5, markerfacecolor="none", markeredgecolor="black")
    ax_map.set_xlim(-padding - 0.5, size + padding - 0.5)
    ax_map.set_ylim(size + padding - 0.5, -padding - 0.5)
    ax_map.set_aspect("equal")
    integer_ticks(ax_map)
    ax_map.set_xlabel("x (pixels; 0 .. n-1 is the map)")
    ax_map.set_ylabel("y (pixels)")
    ax_map.set_title(f"output {(row, col)}: {int(inside.sum())} of {kernel_size ** 2} taps on "
                     "the map")
    ax_map.legend(handles=[
        Line2D([], [], marker="o", linestyle="", color=TAP_COLOUR, markeredgecolor="black",
               label="tap on the map"),
        Line2D([], [], marker="X", linestyle="", color="0.35", label="tap on padding (zero)"),
        Line2D([], [], color=FIELD_COLOUR, linestyle="--", label=f"field of view {span} px"),
        Patch(facecolor="0.82", hatch="//", edgecolor="0.65", label=f"padding {padding} px"),
    ], loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9, framealpha=0.95)

    image = ax_count.imshow(counts, cmap="viridis", vmin=1, vmax=kernel_size ** 2)
    if size <= 16:
        for (i, j), value in np.ndenumerate(counts):
            ax_count.text(j, i, str(value), ha="center", va="center", fontsize=8,
                          color="white" if value < 0.6 * kernel_size ** 2 else "black")
    ax_count.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="red",
                                 linewidth=2))
    ax_count.set_xlabel("output x")
    ax_count.set_ylabel("output y")
    ax_count.set_title(f"per output (mean {counts.mean() / kernel_size ** 2:.0%} of the taps)")
    integer_ticks(ax_count)
    fig.colorbar(image, ax=ax_count, shrink=0.8, label=f"taps on the map (of {kernel_size ** 2})")
    fig.suptitle(f"{kernel_size}x{kernel_size} kernel at rate {rate} on a {size}x{size} map, "
                 f"'same' padding {padding}: the output is {size}x{size} too")
    return finish(fig, path)


# ================================================================================ ASPP

@styled
def plot_aspp_explorer(output_stride: int = 16, rates=(6, 12, 18), map_size: int = 33,
                       kernel_size: int = 3, path=None) -> Figure:
    """Each ASPP branch's field of view in input pixels, and its share of taps on the map.

    On a ``map_size`` map at ``output_stride`` (an input of about ``map_size * OS`` px), a
    branch at rate ``r`` reads cells ``r`` apart, ``r * OS`` input pixels apart, and its taps
    span ``(r (k - 1) + 1) * OS`` px. Left: the taps of the centre output, one colour per
    branch (crosses: on padding). Right: the share of each branch's taps that land on the map,
    averaged over all outputs; ``1/k^2`` means only the centre tap is left (a 1x1 conv).
    """
    stride = _positive(output_stride, "output_stride", maximum=64)
    rates = check_rates(rates)
    size = _positive(map_size, "map_size", maximum=129)
    kernel_size = _odd_kernel(kernel_size)
    offsets = np.arange(kernel_size) - (kernel_size - 1) // 2
    centre = size // 2
    colours = matplotlib.colormaps["tab10"]

    fig = new_figure(10, 5.4)
    ax_map, ax_share = fig.subplots(1, 2, width_ratios=(1.1, 1))
    side = (size - 1) * stride + 1            # the input whose map has `size` cells
    ax_map.add_patch(Rectangle((-stride / 2, -stride / 2), size * stride, size * stride,
                               facecolor="0.96", edgecolor="black", linewidth=1.5))
    if size <= 16:                            # the map's cells, faintly, when few
        for line in range(1, size):
            edge = (line - 0.5) * stride
            ax_map.plot([-stride / 2, (size - 0.5) * stride], [edge, edge], color="0.8", lw=0.6)
            ax_map.plot([edge, edge], [-stride / 2, (size - 0.5) * stride], color="0.8", lw=0.6)
    reach = max(rates) * stride * ((kernel_size - 1) // 2)
    middle = centre * stride
    limit = max(middle, (size - 1) * stride - middle, reach) + stride
    handles = []
    for index, rate in enumerate(rates):
        colour = colours((index + 1) % 10)
        span = (rate * (kernel_size - 1) + 1) * stride
        ax_map.add_patch(Rectangle((middle - span / 2, middle - span / 2), span, span,
                                   fill=False, edgecolor=colour, linestyle=":", linewidth=1.8))
        cells = centre + offsets * rate
        for u in cells:
            for v in cells:
                on_map = 0 <= u < size and 0 <= v < size
                ax_map.plot(v * stride, u * stride, "o" if on_map else "X",
                            color=colour, markersize=7 if on_map else 8,
                            markeredgecolor="black" if on_map else colour, markeredgewidth=0.6)
        handles.append(Line2D([], [], color=colour, marker="o", linestyle=":",
                              label=f"rate {rate}: taps {rate * stride} px apart, "
                                    f"field {span} px"))
    ax_map.plot(middle, middle, "s", color="black", markersize=5)
    ax_map.set_xlim(middle - limit, middle + limit)
    ax_map.set_ylim(middle + limit, middle - limit)
    ax_map.set_aspect("equal")
    ax_map.set_xlabel("x (input pixels)")
    ax_map.set_ylabel("y (input pixels)")
    ax_map.set_title(f"taps of the centre output on the {size}x{size} map")
    handles.append(Line2D([], [], marker="X", linestyle="", color="0.4",
                          label="cross: tap on padding"))
    ax_map.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=8.5,
                  ncols=1, frameon=False)

    names = ["1x1"] + [f"rate {r}" for r in rates] + ["image pooling"]
    shares = [1.0] + [rf.valid_tap_fraction(r, size, kernel_size) for r in rates] + [1.0]
    fields = [f"{stride} px"] + [f"{(r * (kernel_size - 1) + 1) * stride} px" for r in rates]
    fields.append("whole image")
    bar_colours = ["0.5"] + [colours((i + 1) % 10) for i in range(len(rates))] + ["0.25"]
    positions = np.arange(len(names))[::-1]
    bars = ax_share.barh(positions, shares, color=bar_colours, height=0.65)
    ax_share.bar_label(bars, labels=[f"{s:.0%}, field {f}" for s, f in
                                     zip(shares, fields, strict=True)], padding=3, fontsize=9)
    floor = 1 / kernel_size ** 2
    ax_share.axvline(floor, color="black", linestyle="--", linewidth=1.2)
    ax_share.text(floor, len(names) - 0.4, f" 1/{kernel_size ** 2}: a 1x1", fontsize=8.5,
                  va="bottom")
    ax_share.set_yticks(positions, names)
    ax_share.set_xlim(0, 1.75)
    ax_share.set_ylim(-0.6, len(names) - 0.1)
    ax_share.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    ax_share.set_xlabel("share of taps on the map (mean over outputs)")
    ax_share.set_title("each branch: taps on the map, field of view")
    ax_share.grid(axis="x", alpha=0.3)
    fig.suptitle(f"ASPP at output stride {stride}: a {size}x{size} map (from a {side}x{side} "
                 f"input); rate r reads r x {stride} px apart")
    return finish(fig, path)


# ==================================================================== receptive field

#: The layers the receptive-field explorer can stop at, in data-flow order.
RF_LAYERS = ("stem", "stage 0", "stage 1", "stage 2", "stage 3", "ASPP", "output")


def _aspp_without_pooling(aspp):
    branches = [[b] for b in aspp.branches if not isinstance(b, ASPPPooling)]
    names = ["1x1", *(f"rate {r}" for r in aspp.rates)]
    return [ParallelSpec("aspp", branches, names), aspp.project]


def _strip_pooling(specs, aspp):
    """The specs with ASPP's image-pooling branch left out: the field of the convolutions."""
    out = []
    for spec in specs:
        if spec is aspp:
            out += _aspp_without_pooling(aspp)
        elif isinstance(spec, ParallelSpec):
            branches = [_strip_pooling(b if isinstance(b, list) else [b], aspp)
                        for b in spec.branches]
            out.append(ParallelSpec(spec.name, branches, spec.branch_names))
        else:
            out.append(spec)
    return out


def _layer_parts(model, layer):
    """(sub-network as a module, its layer specs without image pooling, global?) for ``layer``."""
    stages = list(model.backbone.stages)
    if layer == "output":
        return model, _strip_pooling(model.layer_specs(), model.aspp), model.aspp.image_pooling
    count = RF_LAYERS.index(layer)                  # stem = 0, stage k = k + 1, ASPP = 5
    modules = [model.backbone.stem, *stages[:count]]
    if layer == "ASPP":
        modules = [model.backbone.stem, *stages, model.aspp]
        specs = [model.backbone.stem, *stages, *_aspp_without_pooling(model.aspp)]
        return Sequential(modules), specs, model.aspp.image_pooling
    return Sequential(modules), list(modules), False


@styled
def plot_receptive_field_explorer(model=None, layer: str = "stage 2", position=(32, 32),
                                  image=None, n_samples: int = 4, path=None) -> Figure:
    """The theoretical and the effective field of one unit of ``layer``, on an input image.

    ``layer`` is one of :data:`RF_LAYERS`; the unit is the one of that layer's grid whose
    field is centred nearest to input pixel ``position`` = (y, x). Left: the image, the unit's
    centre, its theoretical field (cyan; the convolutions only when image pooling makes the
    field global) and the square holding 90% of its effective field. Middle: the effective
    field (:func:`~minideeplab.receptive_field.effective_receptive_field`, ``n_samples``
    random inputs, log colour scale). Right: the theoretical field layer by layer at this
    model's output stride. ``model`` defaults to an untrained ``DeepLabV3Plus(5)``; ``image``
    (3, H, W) to a grey 64x64 image.
    """
    model = DeepLabV3Plus(5) if model is None else model
    if not isinstance(model, DeepLabV3Plus):
        raise InputTypeError(f"model must be a DeepLabV3Plus, got {type(model).__name__}")
    if layer not in RF_LAYERS:
        raise InputError(f"layer must be one of {RF_LAYERS}, got {layer!r}")
    image = as_image(np.full((64, 64), 0.5) if image is None else image)
    height, width = image.shape[:2]
    y, x = pair(position, "position", minimum=0)
    if y >= height or x >= width:
        raise InputError(f"position {(y, x)} must be inside the {height}x{width} image")
    n_samples = _positive(n_samples, "n_samples", maximum=256)

    def field_of(name):
        network, specs, is_global = _layer_parts(model, name)
        return network, rf.receptive_field(specs)[-1], is_global

    network, row, is_global = field_of(layer)
    grid, was_training = {}, model.training
    def record(module, inputs, out):
        if isinstance(out, np.ndarray):                  # the backbone returns a pair
            grid.setdefault(id(module), out.shape[2:])

    with record_calls(record):
        model.eval()(np.zeros((1, model.in_channels, height, width), dtype=model.dtype))
    model.train(was_training)
    out_shape = (height, width) if network is model else grid[id(list(network)[-1])]
    jump, start = rf.per_axis(row.stride), rf.per_axis(row.start)
    if network is model:        # the output has the input's size: the unit is the pixel itself
        unit = centre = (y, x)
        half = [(size - 1) / 2 for size in rf.per_axis(row.size)]
        top, left, bottom, right = y - half[0], x - half[1], y + half[0], x + half[1]
    else:                       # unit i of a layer is centred on input pixel start + i * jump
        unit = tuple(int(np.clip(round((p - s) / j), 0, n - 1)) for p, s, j, n in
                     zip((y, x), start, jump, out_shape, strict=True))
        centre = tuple(s + u * j for s, u, j in zip(start, unit, jump, strict=True))
        top, left, bottom, right = rf.receptive_field_box(row, unit)
    erf = rf.effective_receptive_field(network, (model.in_channels, height, width),
                                       n_samples=n_samples, output_index=unit)
    radius = rf.erf_radius(erf, 0.9, centre=centre)

    fig = new_figure(12, 4.6)
    ax_image, ax_erf, ax_bars = fig.subplots(1, 3, width_ratios=(1, 1.15, 1.1))
    ax_image.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
    floor = max(erf.max() * 1e-4, erf[erf > 0].min())
    shown = ax_erf.imshow(np.log10(np.maximum(erf, floor)), cmap="magma")
    fig.colorbar(shown, ax=ax_erf, shrink=0.8, label="log10(share of gradient mass)")
    field_label = f"theoretical field {row.size:g} px" + (" (convs only)" if is_global else "")
    for ax in (ax_image, ax_erf):
        ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left + 1, bottom - top + 1,
                               fill=False, edgecolor=RF_BOX_COLOUR, linewidth=2, linestyle="--"))
        side = 2 * radius + 1
        ax.add_patch(Rectangle((centre[1] - side / 2, centre[0] - side / 2), side, side,
                               fill=False, edgecolor="white" if ax is ax_erf else "#ff7f0e",
                               linewidth=1.8, linestyle=":"))
        ax.plot(centre[1], centre[0], "+", color="red", markersize=12, markeredgewidth=2)
        ax.set_xlabel("x (input pixels)")
    # the image panel shows the whole theoretical field (up to half an image beyond each side)
    ax_image.set_xlim(max(left, -width / 2) - 1.5, min(right, 1.5 * width) + 1.5)
    ax_image.set_ylim(min(bottom, 1.5 * height) + 1.5, max(top, -height / 2) - 1.5)
    ax_image.add_patch(Rectangle((-0.5, -0.5), width, height, fill=False, edgecolor="black"))
    if top < -height / 2 or left < -width / 2 or bottom > 1.5 * height or right > 1.5 * width:
        ax_image.text(0.5, 0.98, f"the {row.size:g} px field reaches\nbeyond this view",
                      transform=ax_image.transAxes, ha="center", va="top", fontsize=8.5,
                      color="#007c91")
    ax_erf.set_xlim(-0.5, width - 0.5)
    ax_erf.set_ylim(height - 0.5, -0.5)
    ax_image.set_ylabel("y (input pixels)")
    ax_image.set_title(f"{layer}: unit {unit} of {out_shape[0]}x{out_shape[1]}")
    ax_erf.set_title(f"effective field: 90% in {2 * radius + 1:g} px")
    ax_image.legend(handles=[
        Line2D([], [], color=RF_BOX_COLOUR, linestyle="--", label=field_label),
        Line2D([], [], color="#ff7f0e", linestyle=":", label="90% of the effective field"),
        Line2D([], [], color="red", marker="+", linestyle="", label="the unit's centre"),
    ], loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=8.5, frameon=False)

    sizes = [float(rf.per_axis(field_of(name)[1].size)[0]) for name in RF_LAYERS]
    colours = ["#d62728" if name == layer else FIELD_COLOUR for name in RF_LAYERS]
    bars = ax_bars.barh(np.arange(len(RF_LAYERS))[::-1], sizes, color=colours, height=0.65)
    labels = [f"{s:g}" + (" + pooling: global" if name in ("ASPP", "output")
                          and model.aspp.image_pooling else "")
              for s, name in zip(sizes, RF_LAYERS, strict=True)]
    ax_bars.bar_label(bars, labels=labels, padding=3, fontsize=8.5,
                      bbox=dict(facecolor="white", edgecolor="none", pad=0.5, alpha=0.85))
    ax_bars.axvline(width, color="black", linestyle="--", linewidth=1.2)
    ax_bars.text(width, len(RF_LAYERS) - 0.45, f" image {width} px", fontsize=8.5, va="bottom")
    ax_bars.set_yticks(np.arange(len(RF_LAYERS))[::-1], RF_LAYERS)
    ax_bars.set_xlim(0, max(sizes) * 1.9)
    ax_bars.set_ylim(-0.6, len(RF_LAYERS) + 0.1)
    ax_bars.set_xlabel("theoretical field (input pixels)")
    ax_bars.set_title(f"layer by layer, output stride {model.output_stride}")
    ax_bars.grid(axis="x", alpha=0.3)
    fig.suptitle(f"Receptive field of one unit: {layer}, jump {rf.per_axis(row.stride)[0]:g} px "
                 f"between units" + (", image pooling makes it global" if is_global else ""))
    return finish(fig, path)
