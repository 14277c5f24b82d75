"""``minideeplab summary`` and ``minideeplab receptive-field``: look inside a model.

Both run the model on a ``--size`` x ``--size`` input. A size whose activations cannot fit
in memory is refused before anything runs, with the estimate (a MemoryError traceback, or a
machine swapping for minutes, is no answer).
"""

from __future__ import annotations

import os
from pathlib import Path

from minideeplab.errors import UsageError

__all__ = ["register"]

#: The side of the probe input whose activations are measured and scaled to ``--size``.
_PROBE = 32


def _check_size(size, model, what, copies=1):
    """Refuse ``--size`` unless ``copies`` x the activations of one forward pass fit in memory.

    The activations of a forward pass grow with the number of pixels, so those of a small
    probe image, scaled by ``(size / probe)**2``, estimate them at ``size``.
    """
    if size < 1:
        raise UsageError(f"--size must be a positive int, got {size}")
    needed = copies * _activation_bytes(model, _PROBE) * (size / _PROBE) ** 2
    available = _available_memory()
    if available is not None and needed > available:
        raise UsageError(f"--size {size} needs about {needed / 2**30:,.1f} GiB for {what}, "
                         f"more than the {available / 2**30:.1f} GiB available; give a smaller "
                         f"--size (the default is 64)")


def _activation_bytes(model, side):
    """Bytes of every layer output of one forward pass on a side x side image (eval mode)."""
    import numpy as np

    from minideeplab.nn.module import record_calls

    outputs = []
    was_training = model.training
    model.eval()
    try:
        with record_calls(lambda module, inputs, out: outputs.append(getattr(out, "nbytes", 0))):
            model(np.zeros((1, model.in_channels, side, side), dtype=model.dtype))
    finally:
        model.train(was_training)
    return sum(outputs)


def _available_memory():
    """Bytes of memory available now (Linux: MemAvailable), else the physical memory, or None."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _cmd_summary(args) -> int:
    import minideeplab as mdl

    if args.demo == "separable":
        from minideeplab import nn

        print("The paper's example: a 3x3 convolution from an 8x8x3 input to 16 channels.\n")
        standard = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        depthwise = nn.Conv2d(3, 3, 3, padding=1, groups=3, bias=False)
        pointwise = nn.Conv2d(3, 16, 1, bias=False)
        for label, layers in (("standard 3x3", [standard]),
                              ("depthwise 3x3 + pointwise 1x1", [depthwise, pointwise])):
            params = sum(mdl.count_parameters(layer) for layer in layers)
            mult_adds = sum(mdl.summary_module.layer_mult_adds(layer, (8, 8)) for layer in layers)
            print(f"  {label:<32} {params:>5} weights  {mult_adds:>7,} mult-adds")
        return 0
    model = mdl.models.DeepLabV3Plus(args.num_classes, output_stride=args.output_stride,
                                     decoder=not args.no_decoder,
                                     separable=not args.standard_convs)
    # the summary keeps every layer's output of one forward pass
    _check_size(args.size, model, f"one forward pass of a {args.size}x{args.size} image")
    print(mdl.summary(model, (3, args.size, args.size)))
    return 0


def _cmd_receptive_field(args) -> int:
    import minideeplab as mdl
    from minideeplab import receptive_field as rf
    from minideeplab import viz
    from minideeplab.checkpoint import build_model, load_model

    if args.model == "default":
        model = mdl.models.DeepLabV3Plus(5, output_stride=args.output_stride)
        label = "the untrained default model"
    else:
        model = load_model(args.model)
        label = f"the trained model {Path(args.model).name}"
    needs_erf = args.plot or (args.figures and args.model != "default")
    if needs_erf:
        # 4 samples; forward caches and the backward's gradients: about 3 copies each
        _check_size(args.size, model, f"the effective receptive field on {args.size}x{args.size}"
                    " inputs", copies=4 * 3)
    elif args.size < 1:
        raise UsageError(f"--size must be a positive int, got {args.size}")
    rows = rf.receptive_field(model)
    print(rf.format_table(rows))
    input_shape = (model.in_channels, args.size, args.size)
    erf = None
    if needs_erf:
        erf = rf.effective_receptive_field(model, input_shape, n_samples=4)
    written = []
    if args.plot:
        plot = Path(args.plot)
        viz.plot_rf_growth(rows, title="Receptive field of DeepLabV3+, layer by layer", path=plot)
        erf_path = plot.with_name(plot.stem + "_erf" + plot.suffix)
        viz.plot_erf(erf, rows, title=f"Effective receptive field of {label}", path=erf_path)
        written += [plot, erf_path]
    if args.figures:
        folder = Path(args.figures)
        figures = {
            "atrous_sampling.png": lambda path: viz.plot_atrous_sampling(path=path),
            "aspp_fields.png": lambda path: viz.plot_aspp_fields(
                output_stride=model.output_stride, rates=model.rates, path=path),
            "gridding.png": lambda path: viz.plot_gridding(path=path),
            "valid_tap_fraction.png": lambda path: viz.plot_valid_tap_fraction(path=path),
            "rf_growth.png": lambda path: viz.plot_rf_growth(
                rows, title="Receptive field of DeepLabV3+, layer by layer", path=path),
        }
        for name, draw in figures.items():
            draw(folder / name)
            written.append(folder / name)
        if args.model != "default":
            # the same architecture with its initial (random) weights, against the trained one
            untrained = build_model(model.config)
            viz.plot_erf_comparison(
                rf.effective_receptive_field(untrained, input_shape, n_samples=4), erf, rows,
                path=folder / "erf_untrained_vs_trained.png")
            written.append(folder / "erf_untrained_vs_trained.png")
    if written:
        print("wrote " + ", ".join(str(path) for path in written))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("receptive-field", help="receptive field of a model, per layer",
                       description="Print the theoretical receptive field per layer; with "
                                   "--plot, also draw it and the effective receptive field; "
                                   "with --figures DIR, every receptive-field figure.")
    p.add_argument("--model", default="default", help="'default' or a checkpoint path")
    p.add_argument("--output-stride", type=int, default=16, choices=(8, 16, 32),
                   help="for the default model")
    p.add_argument("--size", type=int, default=64, help="input size for the effective RF")
    p.add_argument("--plot", help="write figures: PLOT and PLOT with an _erf suffix")
    p.add_argument("--figures", metavar="DIR",
                   help="write every receptive-field figure into DIR: atrous sampling, ASPP "
                        "fields at the model's output stride and rates, gridding, valid-tap "
                        "fraction, RF growth and, for a checkpoint, the effective RF untrained "
                        "vs trained")
    p.set_defaults(func=_cmd_receptive_field)

    p = subparsers.add_parser("summary", help="print a model's layers, parameters and mult-adds",
                       description="Print every layer of a DeepLabV3+ with its output shape, "
                                   "parameters and mult-adds, with totals.")
    p.add_argument("--num-classes", type=int, default=5)
    p.add_argument("--size", type=int, default=64, help="input image side in pixels (64)")
    p.add_argument("--output-stride", type=int, default=16, choices=(8, 16, 32))
    p.add_argument("--no-decoder", action="store_true", help="DeepLabV3 (no decoder)")
    p.add_argument("--standard-convs", action="store_true",
                   help="standard 3x3 convs instead of separable ones")
    p.add_argument("--demo", choices=("separable",),
                   help="'separable': the paper's 432 vs 75 parameter example")
    p.set_defaults(func=_cmd_summary)
