"""The paper's pictures drawn from the code: the architecture (Fig. 2) and separable convs (Fig. 3).

* :func:`plot_architecture` -- DeepLabV3+ (or DeepLabV3) as a model object builds it: the
  backbone stage by stage, ASPP's branches, the decoder, with the tensor shapes of one forward
  pass written on the arrows;
* :func:`plot_separable_convolution` -- depthwise, pointwise and atrous depthwise convolution,
  tap by tap, with their weight counts.

Shapes are not typed in: :func:`plot_architecture` runs the model once on zeros and records
every module's output (:class:`minideeplab.nn.module.record_calls`, as ``summary`` does), so
the figure always shows the model it is given.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Rectangle

from ..errors import InputTypeError
from ..geometry import pair
from ..models.deeplab import DeepLabV3Plus
from ..nn.blocks import ASPPPooling, SeparableConv2d
from ..nn.module import record_calls
from ..summary import count_parameters
from .segmentation import colorize_mask
from .style import TAP_COLOUR, as_image, finish, styled

__all__ = ["plot_architecture", "plot_separable_convolution"]

_BACKBONE = "#dbe9f6"
_ASPP = "#fde3c8"
_DECODER = "#dcefd5"
_RESIZE = "#ececec"
_TEXT = 8.5
_SHAPE_TEXT = 8


# ============================================================================ helpers

def _box(ax, x, y, width, height, text, colour, fontsize=_TEXT):
    """A rounded box centred on (x, y); returns its edges (left, right, bottom, top)."""
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                boxstyle="round,pad=0,rounding_size=0.8", facecolor=colour,
                                edgecolor="0.3", linewidth=1.1, zorder=2))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=3)
    return x - width / 2, x + width / 2, y - height / 2, y + height / 2


def _arrow(ax, points, head=True):
    """A polyline through ``points`` with an arrow head on its last segment."""
    xs, ys = zip(*points, strict=True)
    ax.plot(xs[:-1] if head else xs, ys[:-1] if head else ys, color="0.2", linewidth=1.2,
            zorder=1, solid_capstyle="butt")
    if head:
        ax.annotate("", xy=points[-1], xytext=points[-2], zorder=1,
                    arrowprops=dict(arrowstyle="-|>", color="0.2", linewidth=1.2,
                                    shrinkA=0, shrinkB=0, mutation_scale=11))


def _shape(shape) -> str:
    """(C, H, W) as 'C ch' over 'HxW': fits between two boxes."""
    channels, height, width = shape
    return f"{channels} ch\n{height}x{width}"


def _label(ax, x, y, text, ha="center", va="center", fontsize=_SHAPE_TEXT, colour="0.15"):
    ax.text(x, y, text, ha=ha, va=va, fontsize=fontsize, color=colour, zorder=4,
            linespacing=1.05, bbox=dict(facecolor="white", edgecolor="none", pad=0.6, alpha=0.9))


def _group(ax, left, right, bottom, top, title, title_at="top"):
    """A dashed frame around a part of the network, like the paper's 'Encoder' / 'Decoder'."""
    ax.add_patch(FancyBboxPatch((left, bottom), right - left, top - bottom,
                                boxstyle="round,pad=0,rounding_size=1.5", fill=False,
                                edgecolor="0.45", linestyle="--", linewidth=1.2, zorder=0))
    y = top - 1.6 if title_at == "top" else bottom + 1.6
    ax.text(left + 1.2, y, title, ha="left", va="center", fontsize=10.5, fontweight="bold",
            color="0.3")


def _block_geometry(block):
    """(stride, dilation, kind) of one backbone block: separable or a standard conv block."""
    if isinstance(block, SeparableConv2d):
        return block.stride[0], block.dilation[0], "sep."
    conv = block[0]                                       # ConvBNReLU: the conv comes first
    return conv.stride[0], conv.dilation[0], "conv"


def _stage_text(index, stage) -> str:
    geometry = [_block_geometry(block) for block in stage]
    strides = [g[0] for g in geometry]
    rates = sorted({g[1] for g in geometry})
    kind = geometry[0][2]
    count = f"{len(geometry)} {kind} block{'s' if len(geometry) > 1 else ''}"
    if max(rates) > 1:
        how = "atrous, rate" + ("s " if len(rates) > 1 else " ") + ", ".join(map(str, rates))
        how = how.replace(", rate", ",\nrate")
    else:
        how = f"stride {max(strides)}"
    return f"stage {index}\n{count}\n{how}"


def _branch_text(branch, rate) -> str:
    if isinstance(branch, ASPPPooling):
        return "image pooling"
    if rate is None:
        return "1x1 conv"
    first = branch[0]
    kind = "sep. conv" if isinstance(first, SeparableConv2d) else "conv"
    return f"3x3 {kind}\nrate {rate}"


def _output_shapes(model, input_shape):
    """Every module's output shape (C, H, W) in one forward pass on zeros (eval mode)."""
    shapes = {}

    def record(module, inputs, out):
        if isinstance(out, np.ndarray) and id(module) not in shapes:
            shapes[id(module)] = tuple(int(s) for s in out.shape[1:])

    was_training = model.training
    model.eval()
    try:
        with record_calls(record):
            model(np.zeros((1, *input_shape), dtype=model.dtype))
    finally:
        model.train(was_training)
    return shapes


# ====================================================================== architecture

@styled
def plot_architecture(model, input_size=64, image=None, path=None) -> Figure:
    """The paper's Figure 2 drawn from ``model``, with its tensor shapes on the arrows.

    The encoder (stem and the backbone's four stages, with the strides that dilation replaced,
    then ASPP's parallel branches, their concatenation and 1x1 projection) on top; the decoder
    (the stride-4 low-level features through a 1x1 conv, the encoder output upsampled, both
    concatenated, 3x3 convs, the classifier, the last upsampling) below. A DeepLabV3 model
    (``decoder=False``) shows its 1x1 classifier and one large upsampling instead.

    Args:
        model: a :class:`~minideeplab.models.DeepLabV3Plus` (any options).
        input_size: the input's side ``S`` or ``(H, W)``; shapes are those of one forward pass
            on a zero image of that size.
        image: optional (3, H, W) image of that size: drawn in the input box, and the model's
            prediction for it in the output box.
    """
    if not isinstance(model, DeepLabV3Plus):
        raise InputTypeError(f"model must be a DeepLabV3Plus, got {type(model).__name__}")
    height, width = pair(input_size, "input_size", minimum=1)
    input_shape = (model.in_channels, height, width)
    shapes = _output_shapes(model, input_shape)
    backbone, aspp, decoder = model.backbone, model.aspp, model.decoder

    fig = Figure(figsize=(10.6, 7.6))
    ax = fig.add_axes((0.0, 0.0, 1.0, 0.93))
    ax.set_xlim(0, 106)
    ax.set_ylim(0, 72)
    ax.set_aspect("equal")
    ax.axis("off")

    # ------------------------------------------------------------------ encoder, top row
    row = 52.0
    _group(ax, 0.4, 105.5, 33.0, 71.5, "Encoder")
    left_image = _box(ax, 4.6, row, 7.6, 9.0, "" if image is not None else "image", "white")
    if image is not None:
        ax.imshow(as_image(image), extent=(1.0, 8.2, row - 3.6, row + 3.6), zorder=3)
        ax.text(4.6, row - 5.6, "image", ha="center", va="top", fontsize=_TEXT)
    blocks = [("stem\n3x3 conv\nstride 2", backbone.stem)]
    blocks += [(_stage_text(i, stage), stage) for i, stage in enumerate(backbone.stages)]
    centres = [16.5 + 13.0 * i for i in range(len(blocks))]
    edges = [_box(ax, x, row, 9.0, 10.0, text, _BACKBONE) for x, (text, _) in
             zip(centres, blocks, strict=True)]
    ax.text((centres[0] + centres[-1]) / 2, row + 7.6,
            f"backbone: output stride {model.output_stride} (later strides become dilation)",
            ha="center", va="center", fontsize=9, color="0.25")
    previous_right, previous_shape = left_image[1], input_shape
    for (left, right, _, _), (_, module) in zip(edges, blocks, strict=True):
        _arrow(ax, [(previous_right, row), (left, row)])
        _label(ax, (previous_right + left) / 2, row + 3.3, _shape(previous_shape))
        previous_right, previous_shape = right, shapes[id(module)]

    # ASPP: fan out to every branch, fan in to the concatenation
    branches = list(aspp.branches)
    rates = [None, *aspp.rates] + ([None] if aspp.image_pooling else [])
    spacing = min(6.2, 31.0 / len(branches))
    branch_ys = [row + spacing * ((len(branches) - 1) / 2 - i) for i in range(len(branches))]
    aspp_x, fork_x = 84.0, 78.0
    ax.plot([previous_right, fork_x], [row, row], color="0.2", linewidth=1.2, zorder=1)
    ax.plot([fork_x, fork_x], [min(branch_ys), max(branch_ys)], color="0.2", linewidth=1.2)
    _label(ax, (previous_right + fork_x) / 2, row - 3.3, _shape(previous_shape))
    concat_x = 97.0
    for branch, rate, y in zip(branches, rates, branch_ys, strict=True):
        left, right, _, _ = _box(ax, aspp_x, y, 10.5, spacing * 0.8,
                                 _branch_text(branch, rate), _ASPP, fontsize=8)
        _arrow(ax, [(fork_x, y), (left, y)])
        ax.plot([right, concat_x - 3.0], [y, row], color="0.2", linewidth=1.0, zorder=1)
    branch_shape = shapes[id(branches[0])]
    ax.text(aspp_x, max(branch_ys) + spacing * 0.39 + 1.4,
            f"ASPP: each branch {branch_shape[0]} ch, {branch_shape[1]}x{branch_shape[2]}",
            ha="center", va="center", fontsize=9, color="0.25")
    _box(ax, concat_x, row, 6.0, 4.0, "concat", "white", fontsize=8)
    concat_channels = branch_shape[0] * len(branches)
    projection_y = 40.0
    _, _, projection_bottom, _ = _box(ax, concat_x, projection_y, 8.5, 5.5,
                                      "1x1 conv\n(project)", _ASPP, fontsize=8)
    _arrow(ax, [(concat_x, row - 2.0), (concat_x, projection_y + 2.5)])
    _label(ax, concat_x + 4.2, (row - 2.0 + projection_y + 2.5) / 2,
           _shape((concat_channels, *branch_shape[1:])), ha="left")
    encoded = shapes[id(aspp)]

    # ------------------------------------------------------------- decoder, bottom row
    low_y, route_y = 11.0, 31.0
    prediction_shape = shapes[id(model.upsample)]
    if decoder is not None:
        _group(ax, 21.0, 105.5, 2.5, 28.5, "Decoder", title_at="bottom")
        stage0_x = centres[1]
        project = _box(ax, stage0_x, low_y, 9.0, 7.0, "1x1 conv\n(project)", _DECODER)
        _arrow(ax, [(stage0_x, edges[1][2]), (stage0_x, project[3])])
        low_shape = shapes[id(backbone.stages[0])]
        _label(ax, stage0_x + 1.0, 38.5, "low-level\nfeatures\n" + _shape(low_shape), ha="left")
        concat = _box(ax, 45.0, low_y, 6.0, 4.0, "concat", "white", fontsize=8)
        _arrow(ax, [(project[1], low_y), (concat[0], low_y)])
        _label(ax, (project[1] + concat[0]) / 2, low_y - 3.4, _shape(shapes[id(decoder.project)]))
        factor = shapes[id(decoder.upsample)][1] // max(encoded[1], 1)
        upsample = _box(ax, 45.0, 22.5, 10.0, 4.5, f"upsample x{factor}", _RESIZE, fontsize=8)
        _arrow(ax, [(concat_x, projection_bottom), (concat_x, route_y), (45.0, route_y),
                    (45.0, upsample[3])])
        _arrow(ax, [(45.0, upsample[2]), (45.0, concat[3])])
        _label(ax, 46.4, (upsample[2] + concat[3]) / 2, _shape(shapes[id(decoder.upsample)]),
               ha="left")
        fuse_count = len(list(decoder.fuse))
        kind = "sep. conv" if isinstance(decoder.fuse[0], SeparableConv2d) else "conv"
        chain = [(58.5, f"{fuse_count} x 3x3\n{kind}", _DECODER, decoder.fuse),
                 (72.0, "1x1 conv\n(classes)", _DECODER, decoder.classifier)]
        fused_channels = shapes[id(decoder.upsample)][0] + shapes[id(decoder.project)][0]
        previous_right = concat[1]
        previous_shape = (fused_channels, *shapes[id(decoder.project)][1:])
    else:
        _group(ax, 64.0, 105.5, 2.5, 28.5, "no decoder (DeepLabV3)", title_at="bottom")
        chain = [(72.0, "1x1 conv\n(classes)", _DECODER, model.classifier)]
        _arrow(ax, [(concat_x, projection_bottom), (concat_x, route_y), (72.0, route_y),
                    (72.0, low_y + 3.5)])
        previous_right, previous_shape = None, encoded
    _label(ax, concat_x - 1.4, (projection_bottom + 33.0) / 2, _shape(encoded), ha="right")
    for x, text, colour, module in chain:
        left, right, _, _ = _box(ax, x, low_y, 9.0, 7.0, text, colour)
        if previous_right is not None:
            _arrow(ax, [(previous_right, low_y), (left, low_y)])
            _label(ax, (previous_right + left) / 2, low_y - 3.4, _shape(previous_shape))
        previous_right, previous_shape = right, shapes[id(module)]
    factor = prediction_shape[1] // max(previous_shape[1], 1)
    left, right, _, _ = _box(ax, 85.0, low_y, 8.6, 5.0, f"upsample x{factor}", _RESIZE,
                             fontsize=8)
    _arrow(ax, [(previous_right, low_y), (left, low_y)])
    _label(ax, (previous_right + left) / 2, low_y - 3.4, _shape(previous_shape))
    out_x = 99.5
    out_left, _, _, _ = _box(ax, out_x, low_y, 8.0, 9.0,
                             "" if image is not None else "prediction", "white")
    _arrow(ax, [(right, low_y), (out_left, low_y)])
    _label(ax, (right + out_left) / 2, low_y - 3.4, _shape(prediction_shape))
    if image is not None:
        prediction = model.predict(np.asarray(image, dtype=model.dtype)[None])[0]
        ax.imshow(colorize_mask(prediction, model.num_classes),
                  extent=(out_x - 3.5, out_x + 3.5, low_y - 3.5, low_y + 3.5), zorder=3)
        ax.text(out_x, low_y - 5.2, "prediction", ha="center", va="top", fontsize=_TEXT)

    name = "DeepLabV3+" if decoder is not None else "DeepLabV3"
    fig.suptitle(f"{name} as built here (the paper's Fig. 2): {count_parameters(model):,} "
                 f"parameters, output stride {model.output_stride}\non the arrows: "
                 f"channels and size of each tensor ('C ch, HxW') for a "
                 f"{input_shape[0]}x{height}x{width} input", fontsize=11.5, y=0.995)
    return finish(fig, path)


# ============================================================== separable convolution

def _grid(ax, left, bottom, size, colour, cells=(), crosses=(), cell=1.0):
    """A ``size x size`` grid of square cells of side ``cell``; ``cells`` filled with
    ``colour``, ``crosses`` marked with a tap dot. Row 0 is drawn at the top."""
    filled = set(cells)
    for row in range(size):
        for col in range(size):
            face = colour if (row, col) in filled else "white"
            ax.add_patch(Rectangle((left + col * cell, bottom + (size - 1 - row) * cell), cell,
                                   cell, facecolor=face, edgecolor="0.55", linewidth=0.6))
    for row, col in crosses:
        ax.plot(left + (col + 0.5) * cell, bottom + (size - 0.5 - row) * cell, "o",
                color=TAP_COLOUR, markersize=4.5, markeredgecolor="black", markeredgewidth=0.5,
                zorder=3)


def _depthwise_panel(ax, rate, channels, colours):
    side, kernel = 7, 3
    span = rate * (kernel - 1) + 1
    start = (side - span) // 2
    taps = [(start + u * rate, start + v * rate) for u in range(kernel) for v in range(kernel)]
    window = [(r, c) for r in range(start, start + span) for c in range(start, start + span)]
    centre = (side // 2, side // 2)
    for c in range(channels):
        bottom = (channels - 1 - c) * 9.0
        _grid(ax, 0, bottom, side, colours[c] + (0.35,), cells=window, crosses=taps)
        _grid(ax, 9.5, bottom + 2, kernel, colours[c] + (0.85,),
              cells=[(u, v) for u in range(kernel) for v in range(kernel)])
        _grid(ax, 15.5, bottom, side, colours[c] + (0.85,), cells=[centre])
        ax.text(-0.6, bottom + side / 2, f"ch {c}", ha="right", va="center", fontsize=9)
        ax.annotate("", xy=(15.4, bottom + side / 2), xytext=(12.7, bottom + side / 2),
                    arrowprops=dict(arrowstyle="-|>", color="0.2", linewidth=1.1))
        ax.text(8.3, bottom + side / 2, "*", ha="center", va="center", fontsize=14)
    ax.text(3.5, channels * 9.0 - 0.8, "input", ha="center", fontsize=9)
    ax.text(11.0, channels * 9.0 - 0.8, f"{kernel}x{kernel} filter\nper channel",
            ha="center", fontsize=9)
    ax.text(19.0, channels * 9.0 - 0.8, "output", ha="center", fontsize=9)
    ax.set_xlim(-3.5, 23.5)
    ax.set_ylim(-1.0, channels * 9.0 + 2.0)


def _pointwise_panel(ax, channels, colours, out_channels=4):
    side = 7
    pixel = (3, 4)
    for c in range(channels):
        bottom = (channels - 1 - c) * 9.0
        _grid(ax, 0, bottom, side, colours[c] + (0.85,), cells=[pixel])
        ax.text(-0.6, bottom + side / 2, f"ch {c}", ha="right", va="center", fontsize=9)
        ax.annotate("", xy=(11.0, channels * 4.5 - 0.5),
                    xytext=(pixel[1] + 1.0, bottom + side - 0.5 - pixel[0]),
                    arrowprops=dict(arrowstyle="-", color=colours[c], linewidth=1.6))
    ax.add_patch(Rectangle((11.0, channels * 4.5 - 2.0), 3.0, 3.0, facecolor="white",
                           edgecolor="0.3"))
    ax.text(12.5, channels * 4.5 - 0.5, r"$\Sigma$", ha="center", va="center", fontsize=13)
    ax.text(13.0, channels * 4.5 - 2.6, "1x1xC filter f:\nweights W[f, c]", ha="left",
            va="top", fontsize=9)
    cell = 0.55                                   # outputs drawn smaller: the same 7x7 size
    step = channels * 9.0 / out_channels
    for f in range(out_channels):
        bottom = channels * 9.0 - (f + 1) * step + (step - side * cell) / 2
        _grid(ax, 17.0, bottom, side, "0.45", cells=[pixel] if f == 1 else [], cell=cell)
        ax.text(17.2 + side * cell, bottom + side * cell / 2, f"out {f}", ha="left",
                va="center", fontsize=8.5)
    bottom = channels * 9.0 - 2 * step + (step - side * cell) / 2
    target = (17.0 + (pixel[1] + 0.5) * cell, bottom + (side - 0.5 - pixel[0]) * cell)
    ax.annotate("", xy=target, xytext=(14.0, channels * 4.5 - 0.5),
                arrowprops=dict(arrowstyle="-|>", color="0.2", linewidth=1.1))
    ax.text(3.5, channels * 9.0 - 0.8, "input", ha="center", fontsize=9)
    ax.text(19.0, channels * 9.0 + 1.0, f"N = {out_channels} outputs", ha="center",
            fontsize=9)
    ax.set_xlim(-3.5, 26.0)
    ax.set_ylim(-1.0, channels * 9.0 + 2.0)


@styled
def plot_separable_convolution(channels: int = 3, rate: int = 2, path=None) -> Figure:
    """The paper's Figure 3: (a) depthwise, (b) pointwise, (c) atrous depthwise convolution.

    (a) Each input channel is convolved with its own ``3x3`` filter (red dots: the taps of one
    output pixel): ``C k^2`` weights and no mixing of channels. (b) A 1x1 convolution mixes the
    channels at each pixel: output channel ``f`` is ``sum_c W[f, c] x[c]``, ``C N`` weights.
    (c) The depthwise step with its taps ``rate`` pixels apart: the same 9 weights per channel
    see a ``(2 rate + 1)``-pixel window. DeepLabV3+'s atrous separable convolution is (c)
    followed by (b). ``channels`` (1-4) input channels are drawn.
    """
    if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) \
            or not 1 <= channels <= 4:
        raise InputTypeError(f"channels must be an int from 1 to 4, got {channels!r}")
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or not 1 <= rate <= 3:
        raise InputTypeError(f"rate must be an int from 1 to 3 (the drawn map is 7x7), "
                             f"got {rate!r}")
    colours = [(0.85, 0.2, 0.2), (0.2, 0.6, 0.25), (0.2, 0.4, 0.85), (0.75, 0.55, 0.1)]
    fig = Figure(figsize=(12, 4.9), layout="constrained")
    axes = fig.subplots(1, 3)
    _depthwise_panel(axes[0], 1, channels, colours)
    _pointwise_panel(axes[1], channels, colours)
    _depthwise_panel(axes[2], int(rate), channels, colours)
    span = 2 * int(rate) + 1
    titles = [f"(a) depthwise conv: {channels} x 3x3 = {channels * 9} weights\n"
              "one filter per channel, no mixing",
              f"(b) pointwise conv: {channels} x N weights\nmixes channels at each pixel",
              f"(c) atrous depthwise conv, rate {rate}\nthe same 9 taps span {span}x{span} px"]
    for ax, title in zip(axes, titles, strict=True):
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title(title, fontsize=11)
    fig.suptitle("Depthwise separable convolution (the paper's Fig. 3): atrous separable = "
                 "(c) then (b)")
    return finish(fig, path)
