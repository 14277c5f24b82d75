"""``minideeplab train`` and ``minideeplab ablate``: training runs, and the figures after them.

The training loop (:func:`minideeplab.train.train`) returns its results and
draws nothing; this module prints them and draws ``curves.png`` and
``predictions.png`` into the run folder. The options' defaults are read from
:class:`~minideeplab.train.TrainConfig`, so the command line and the library
cannot disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["register"]


def add_training_options(p) -> None:
    """Options shared by 'train' and 'ablate'; defaults from TrainConfig."""
    from minideeplab.datasets import DATASETS
    from minideeplab.train import DEFAULT_LR, TrainConfig

    from .data import add_data_options

    d = TrainConfig
    p.add_argument("--dataset", default=d.dataset, choices=tuple(DATASETS))
    p.add_argument("--image-size", type=int, default=d.image_size,
                   help=f"image side in pixels ({d.image_size})")
    p.add_argument("--steps", type=int, default=d.steps, help=f"training steps ({d.steps})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"({d.batch_size})")
    p.add_argument("--optimizer", default=d.optimizer, choices=tuple(DEFAULT_LR))
    p.add_argument("--lr", type=float, default=None,
                   help="peak learning rate (" + ", ".join(
                       f"{lr} for {name}" for name, lr in DEFAULT_LR.items()) + ")")
    p.add_argument("--warmup-steps", type=int, default=d.warmup_steps,
                   help=f"linear warm-up before the poly decay ({d.warmup_steps})")
    p.add_argument("--n-train", type=int, default=d.n_train,
                   help=f"training images ({d.n_train})")
    p.add_argument("--n-val", type=int, default=d.n_val, help=f"validation images ({d.n_val})")
    p.add_argument("--n-test", type=int, default=d.n_test, help=f"test images ({d.n_test})")
    p.add_argument("--eval-every", type=int, default=d.eval_every,
                   help=f"validate every N steps ({d.eval_every})")
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every,
                   help=f"write model.npz every N steps ({d.checkpoint_every})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"({d.seed})")
    p.add_argument("--scale-aug", action="store_true",
                   help="random scale (0.75-1.25) and crop besides the horizontal flip")
    p.add_argument("--backend", choices=("numba", "numpy"), help="hot-loop backend")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_data_options(p, training=True)


def train_config(args):
    """The TrainConfig the parsed options describe."""
    from minideeplab.train import TrainConfig

    from .data import data_values

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
                  warmup_steps=args.warmup_steps, n_test=args.n_test)
    if args.scale_aug:
        values["scale_range"] = (0.75, 1.25)
    values.update(data_values(args))
    return TrainConfig(**values)


def print_metrics(title, result, class_names):
    print(f"{title}: mIoU {result['miou']:.3f}   boundary mIoU {result['boundary_miou']:.3f}   "
          f"pixel accuracy {result['pixel_accuracy']:.3f}")
    per_class = "   ".join(f"{name} {iou:.3f}" if iou == iou else f"{name} -"
                           for name, iou in zip(class_names, result["iou_per_class"], strict=True))
    print(f"  IoU per class: {per_class}")


def draw_run_figures(result, out: Path) -> list:
    """``curves.png`` and ``predictions.png`` of a finished run; returns their paths."""
    from minideeplab import viz

    images, masks = result["data_source"].preview("val", 8)
    curves, predictions = out / "curves.png", out / "predictions.png"
    viz.plot_training_curves(result["history"], path=curves)
    viz.plot_predictions(result["model"], images, masks, result["class_names"], path=predictions)
    return [curves, predictions]


def _cmd_train(args) -> int:
    import minideeplab as mdl
    from minideeplab.train import TrainingDiverged, train

    if args.backend:
        mdl.set_backend(args.backend)
    config = train_config(args)
    out = Path(args.out)
    print(f"training DeepLabV3+ on '{config.data or config.dataset}' "
          f"({config.image_size}x{config.image_size}{' crops' if config.data else ''}, "
          f"{config.steps} steps of batch {config.batch_size}, backend {mdl.get_backend()}) "
          f"-> {out}/")
    try:
        result = train(config, out_dir=out, resume=args.resume, progress=not args.no_progress)
    except TrainingDiverged as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    model = result["model"]
    cost = mdl.summary(model, (model.in_channels, config.image_size, config.image_size))
    names = result["class_names"]
    print(f"\ntrained {result['steps']} steps in {result['train_seconds'] / 60:.1f} min "
          f"({cost.total_parameters:,} parameters, {cost.total_mult_adds / 1e6:.1f} M mult-adds "
          f"per image)")
    print_metrics("val ", result["val"], names)
    if result["test"] is not None:
        print_metrics("test", result["test"], names)
    figures = draw_run_figures(result, out)
    print("\noutputs: " + ", ".join(str(p) for p in
                                     [out / "model.npz", out / "metrics.json", *figures]))
    return 0


def _cmd_ablate(args) -> int:
    import minideeplab as mdl
    from minideeplab import datasets
    from minideeplab.ablation import ablation, format_ablation

    if args.backend:
        mdl.set_backend(args.backend)
    config = train_config(args)
    rows = ablation(config, out_dir=args.out, progress=not args.no_progress)
    names = None if config.data else datasets.dataset_info(config.dataset)["class_names"]
    table = format_ablation(rows, names)
    print(f"\nablation on '{config.data or config.dataset}', {config.steps} steps of batch "
          f"{config.batch_size} each (validation split):\n{table}")
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "ablation.txt").write_text(table + "\n")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train DeepLabV3+ (default: the small model on shapes)",
        description="Train a DeepLabV3+ and write DIR/model.npz, DIR/metrics.json, "
                    "DIR/curves.png and DIR/predictions.png.")
    p.add_argument("--out", default="runs/default", help="run folder (runs/default)")
    add_training_options(p)
    p.add_argument("--output-stride", type=int, default=16, choices=(8, 16, 32))
    p.add_argument("--no-decoder", action="store_true", help="DeepLabV3 (no decoder)")
    p.add_argument("--standard-convs", action="store_true",
                   help="standard 3x3 convs instead of separable ones")
    p.add_argument("--resume", action="store_true", help="continue from DIR/model.npz")
    p.set_defaults(func=_cmd_train)

    p = subparsers.add_parser(
        "ablate", help="train decoder/separable/output-stride variants",
        description="Train DeepLabV3+ with decoder on and off, separable convs on and off, "
                    "output stride 16 and 8, on the same budget, and print the table (mIoU, "
                    "boundary mIoU, params, mult-adds, time).")
    p.add_argument("--out", default="runs/ablation", help="folder for the runs (runs/ablation)")
    add_training_options(p)
    p.set_defaults(func=_cmd_ablate, output_stride=16, no_decoder=False, standard_convs=False)
