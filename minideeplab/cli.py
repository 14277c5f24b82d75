"""The ``minideeplab`` command: ``train | evaluate | predict | summary | receptive-field | bench``.

Each subcommand has ``--help``. Run ``minideeplab --help`` for the list.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

__all__ = ["main", "build_parser"]

REPO_ROOT = Path(__file__).resolve().parents[1]


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
    print(mdl.summary(model, (3, args.size, args.size)))
    return 0


def _train_config(args):
    from minideeplab.train import TrainConfig

    model = {}
    if args.no_decoder:
        model["decoder"] = False
    if args.standard_convs:
        model["separable"] = False
    if args.output_stride != 16:
        model["output_stride"] = args.output_stride
    values = dict(dataset=args.dataset, image_size=args.image_size, steps=args.steps,
                  batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
                  eval_every=args.eval_every, checkpoint_every=args.checkpoint_every,
                  seed=args.seed, model=model, n_train=args.n_train, n_val=args.n_val,
                  warmup_steps=args.warmup_steps,
                  n_test=args.n_test)
    if args.scale_aug:
        values["scale_range"] = (0.75, 1.25)
    if args.lr is None:
        values["lr"] = TrainConfig.lr if args.optimizer == "sgd" else 1e-3
    return TrainConfig(**values)


def _print_metrics(title, result, class_names):
    print(f"{title}: mIoU {result['miou']:.3f}   boundary mIoU {result['boundary_miou']:.3f}   "
          f"pixel accuracy {result['pixel_accuracy']:.3f}")
    per_class = "   ".join(f"{name} {iou:.3f}" if iou == iou else f"{name} -"
                           for name, iou in zip(class_names, result["iou_per_class"], strict=True))
    print(f"  IoU per class: {per_class}")


def _cmd_train(args) -> int:
    import minideeplab as mdl
    from minideeplab.train import TrainingDiverged, train

    if args.backend:
        mdl.set_backend(args.backend)
    config = _train_config(args)
    out = Path(args.out)
    print(f"training DeepLabV3+ on '{config.dataset}' ({config.image_size}x{config.image_size}, "
          f"{config.steps} steps of batch {config.batch_size}, backend {mdl.get_backend()}) "
          f"-> {out}/")
    try:
        result = train(config, out_dir=out, resume=args.resume, progress=not args.no_progress)
    except TrainingDiverged as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    names = result["class_names"]
    print(f"\ntrained {result['steps']} steps in {result['train_seconds'] / 60:.1f} min "
          f"({result['parameters']:,} parameters, {result['mult_adds'] / 1e6:.1f} M mult-adds "
          f"per image)")
    _print_metrics("val ", result["val"], names)
    _print_metrics("test", result["test"], names)
    print(f"\noutputs: {out / 'model.npz'}, {out / 'metrics.json'}, {out / 'curves.png'}, "
          f"{out / 'predictions.png'}")
    return 0


def _cmd_ablate(args) -> int:
    import minideeplab as mdl
    from minideeplab.train import ablation, format_ablation

    if args.backend:
        mdl.set_backend(args.backend)
    config = _train_config(args)
    rows = ablation(config, out_dir=args.out, progress=not args.no_progress)
    from minideeplab import datasets

    table = format_ablation(rows, datasets.dataset_info(config.dataset)["class_names"])
    print(f"\nablation on '{config.dataset}', {config.steps} steps of batch {config.batch_size} "
          f"each (validation split):\n{table}")
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "ablation.txt").write_text(table + "\n")
    return 0


def _cmd_evaluate(args) -> int:
    from minideeplab import datasets
    from minideeplab.checkpoint import load_checkpoint, load_model
    from minideeplab.train import evaluate

    model = load_model(args.checkpoint)
    _, _, meta = load_checkpoint(args.checkpoint)
    dataset = args.dataset or meta.get("dataset", "shapes")
    size = args.image_size or meta.get("image_size", 64)
    info = datasets.dataset_info(dataset)
    if info["num_classes"] != model.num_classes:
        print(f"error: the checkpoint has {model.num_classes} classes, dataset '{dataset}' has "
              f"{info['num_classes']}", file=sys.stderr)
        return 2
    images, masks = datasets.load_dataset(dataset, args.split, n=args.n, size=size)
    result = evaluate(model, images, masks, info["num_classes"])
    _print_metrics(f"{dataset} {args.split} ({len(images)} images, {size}x{size})", result,
                   info["class_names"])
    return 0


def _cmd_predict(args) -> int:
    from minideeplab import datasets, viz
    from minideeplab.checkpoint import load_checkpoint, load_model

    model = load_model(args.checkpoint)
    _, _, meta = load_checkpoint(args.checkpoint)
    class_names = meta.get("class_names") or [f"class {k}" for k in range(model.num_classes)]
    image = datasets.read_image(args.image)                      # (3, H, W) in [0, 1]
    prediction = model.predict(image[None].astype(model.dtype))[0]
    viz.plot_overlay(image, prediction, class_names,
                     title=f"Prediction for {Path(args.image).name}",
                     path=args.out)
    counts = np.bincount(prediction.ravel(), minlength=model.num_classes)
    shares = ", ".join(f"{name} {c / prediction.size:.0%}"
                       for name, c in zip(class_names, counts, strict=True) if c)
    print(f"predicted classes: {shares}")
    print(f"wrote {args.out}")
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
    rows = rf.receptive_field(model)
    print(rf.format_table(rows))
    input_shape = (model.in_channels, args.size, args.size)
    erf = None
    if args.plot or (args.figures and args.model != "default"):
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


def _cmd_bench(args) -> int:
    script = REPO_ROOT / "benchmarks" / f"bench_{args.which}.py"
    if not script.exists():
        print(f"error: {script} not found; the benchmarks live in the repository's benchmarks/ "
              "folder (run from a clone installed with 'pip install -e .')", file=sys.stderr)
        return 2
    spec = importlib.util.spec_from_file_location(f"bench_{args.which}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(args.rest) or 0


def _add_training_options(p) -> None:
    """Options shared by 'train' and 'ablate'."""
    from minideeplab.train import TrainConfig

    p.add_argument("--dataset", default="shapes", choices=("shapes", "digits"))
    p.add_argument("--image-size", type=int, default=64, help="image side in pixels (64)")
    p.add_argument("--steps", type=int, default=TrainConfig.steps,
                   help=f"training steps ({TrainConfig.steps})")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--optimizer", default="sgd", choices=("sgd", "adam"))
    p.add_argument("--lr", type=float, default=None,
                   help=f"peak learning rate ({TrainConfig.lr} for sgd, 1e-3 for adam)")
    p.add_argument("--warmup-steps", type=int, default=TrainConfig.warmup_steps,
                   help=f"linear warm-up before the poly decay ({TrainConfig.warmup_steps})")
    p.add_argument("--n-train", type=int, default=2000, help="training images (2000)")
    p.add_argument("--n-val", type=int, default=500)
    p.add_argument("--n-test", type=int, default=500)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale-aug", action="store_true",
                   help="random scale (0.75-1.25) and crop besides the horizontal flip")
    p.add_argument("--backend", choices=("numba", "numpy"), help="hot-loop backend")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minideeplab",
        description="DeepLabV3+ from scratch in NumPy: train, evaluate, inspect.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train DeepLabV3+ (default: the small model on shapes)",
                       description="Train a DeepLabV3+ and write DIR/model.npz, "
                                   "DIR/metrics.json, DIR/curves.png and DIR/predictions.png.")
    p.add_argument("--out", default="runs/default", help="run folder (runs/default)")
    _add_training_options(p)
    p.add_argument("--output-stride", type=int, default=16, choices=(8, 16, 32))
    p.add_argument("--no-decoder", action="store_true", help="DeepLabV3 (no decoder)")
    p.add_argument("--standard-convs", action="store_true",
                   help="standard 3x3 convs instead of separable ones")
    p.add_argument("--resume", action="store_true", help="continue from DIR/model.npz")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("ablate", help="train decoder/separable/output-stride variants",
                       description="Train DeepLabV3+ with decoder on and off, separable convs on "
                                   "and off, output stride 16 and 8, on the same budget, and "
                                   "print the table (mIoU, boundary mIoU, params, mult-adds, "
                                   "time).")
    p.add_argument("--out", default="runs/ablation", help="folder for the runs (runs/ablation)")
    _add_training_options(p)
    p.set_defaults(func=_cmd_ablate, output_stride=16, no_decoder=False, standard_convs=False)

    p = sub.add_parser("evaluate", help="metrics of a checkpoint on a dataset split",
                       description="Evaluate a checkpoint: mIoU, boundary mIoU, per-class IoU.")
    p.add_argument("checkpoint", help="a model.npz written by 'minideeplab train'")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--dataset", help="default: the checkpoint's")
    p.add_argument("--image-size", type=int, help="default: the checkpoint's")
    p.add_argument("--n", type=int, default=None, help="number of images (default: the split's)")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("predict", help="segment one image and save an overlay",
                       description="Segment IMAGE with a checkpoint; save the image and its "
                                   "predicted classes side by side.")
    p.add_argument("checkpoint")
    p.add_argument("image", help="an RGB or grayscale PNG/JPEG")
    p.add_argument("--out", default="overlay.png", help="output PNG (overlay.png)")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("receptive-field", help="receptive field of a model, per layer",
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

    p = sub.add_parser("summary", help="print a model's layers, parameters and mult-adds",
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

    p = sub.add_parser("bench", help="run a benchmark from benchmarks/",
                       description="Run benchmarks/bench_WHICH.py; later arguments go to it.")
    p.add_argument("which", nargs="?", default="conv",
                   help="conv (default): convolution shapes S1-S7; model: the whole model; "
                        "performance: every speed, memory and start-up figure in one run")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="arguments for the benchmark")
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError) as error:
        # bad input: one clear line, not a traceback (MINIDEEPLAB_DEBUG=1 shows it)
        import os

        if os.environ.get("MINIDEEPLAB_DEBUG"):
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
