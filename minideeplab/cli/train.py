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


#: How this command line names the options an OptionError's message mentions.
OPTION_NAMES = {
    "dataset": "--dataset", "image_size": "--image-size", "steps": "--steps",
    "batch_size": "--batch-size", "optimizer": "--optimizer", "lr": "--lr",
    "warmup_steps": "--warmup-steps", "n_train": "--n-train", "n_val": "--n-val",
    "n_test": "--n-test", "eval_every": "--eval-every", "checkpoint_every": "--checkpoint-every",
    "seed": "--seed", "output_stride": "--output-stride", "decoder": "decoder (--no-decoder)",
    "separable": "separable (--standard-convs)", "scale_range": "scale_range (--scale-aug)",
    "resume": "--resume", "overwrite": "--overwrite", "out_dir": "--out",
}

# option (argparse dest) -> TrainConfig field, for the options given as values
_VALUE_OPTIONS = ("dataset", "image_size", "steps", "batch_size", "optimizer", "lr",
                  "warmup_steps", "n_train", "n_val", "n_test", "eval_every", "checkpoint_every",
                  "seed")


def add_training_options(p) -> None:
    """Options shared by 'train' and 'ablate'; the defaults shown are TrainConfig's.

    Every option defaults to None ("not given"), so that ``--resume`` can take what was not
    given from the checkpoint and compare only what was; :func:`train_config` fills in
    TrainConfig's defaults for a new run.
    """
    from minideeplab.datasets import DATASETS
    from minideeplab.train import DEFAULT_LR, TrainConfig

    from .data import add_data_options

    d = TrainConfig
    p.add_argument("--dataset", choices=tuple(DATASETS), help=f"training data ({d.dataset})")
    p.add_argument("--image-size", type=int, help=f"image side in pixels ({d.image_size})")
    p.add_argument("--steps", type=int, help=f"training steps ({d.steps})")
    p.add_argument("--batch-size", type=int,
                   help=f"images per step, at most --n-train ({d.batch_size})")
    p.add_argument("--optimizer", choices=tuple(DEFAULT_LR), help=f"optimizer ({d.optimizer})")
    p.add_argument("--lr", type=float,
                   help="peak learning rate (" + ", ".join(
                       f"{lr} for {name}" for name, lr in DEFAULT_LR.items()) + ")")
    p.add_argument("--warmup-steps", type=int,
                   help=f"linear warm-up before the poly decay ({d.warmup_steps})")
    p.add_argument("--n-train", type=int, help=f"training images ({d.n_train})")
    p.add_argument("--n-val", type=int, help=f"validation images ({d.n_val})")
    p.add_argument("--n-test", type=int, help=f"test images ({d.n_test})")
    p.add_argument("--eval-every", type=int, help=f"validate every N steps ({d.eval_every})")
    p.add_argument("--checkpoint-every", type=int,
                   help=f"write model.npz every N steps ({d.checkpoint_every})")
    p.add_argument("--seed", type=int, help=f"an int >= 0 ({d.seed})")
    p.add_argument("--scale-aug", action="store_true", default=None,
                   help="random scale (0.75-1.25) and crop besides the horizontal flip")
    p.add_argument("--backend", choices=("numba", "numpy"), help="hot-loop backend")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_data_options(p, training=True)


def train_config(args, base=None):
    """The TrainConfig the parsed options describe: those given, over ``base``'s values.

    ``base`` is the checkpoint's config on ``--resume`` (what is not given is resumed as it
    was); for a new run, TrainConfig's defaults.
    """
    from dataclasses import asdict

    from minideeplab.train import TrainConfig

    from .data import data_values

    values = asdict(base) if base is not None else {**asdict(TrainConfig()), "lr": None}
    values.update({name: getattr(args, name) for name in _VALUE_OPTIONS
                   if getattr(args, name) is not None})
    # own-data options: only those given (on --resume the others are the checkpoint's)
    values.update({name: value for name, value in data_values(args).items() if value is not None})
    model = dict(values["model"])
    if args.no_decoder:
        model["decoder"] = False
    if args.standard_convs:
        model["separable"] = False
    if args.output_stride is not None:
        model["output_stride"] = args.output_stride
    values["model"] = model
    if args.scale_aug:
        values["scale_range"] = (0.75, 1.25)
    return TrainConfig(**values)


def _resumed_config(args, out: Path):
    """The config of ``--resume``: the checkpoint's, with the options given on top."""
    from minideeplab.checkpoint import load_checkpoint
    from minideeplab.run_folder import CHECKPOINT_NAME
    from minideeplab.train import TrainConfig

    checkpoint = out / CHECKPOINT_NAME
    if not checkpoint.is_file():
        return train_config(args)          # train() says there is nothing to resume
    _, _, meta = load_checkpoint(checkpoint)
    return train_config(args, TrainConfig.from_dict(meta["train_config"]))


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
    viz.plot_predictions(result["model"], images, masks, result["class_names"], path=predictions,
                         title=f"The first {len(images)} validation images: ground truth and the "
                               f"model's prediction (colours are classes, as in the legend)")
    return [curves, predictions]


def _cmd_train(args) -> int:
    import minideeplab as mdl
    from minideeplab.train import TrainingDiverged, TrainingInterrupted, train

    if args.backend:
        mdl.set_backend(args.backend)
    out = Path(args.out)
    config = _resumed_config(args, out) if args.resume else train_config(args)
    print(f"training DeepLabV3+ on '{config.data or config.dataset}' "
          f"({config.image_size}x{config.image_size}{' crops' if config.data else ''}, "
          f"{config.steps} steps of batch {config.batch_size}, backend {mdl.get_backend()}) "
          f"-> {out}/")
    try:
        result = train(config, out_dir=out, resume=args.resume, overwrite=args.overwrite,
                       progress=not args.no_progress)
    except TrainingDiverged as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except TrainingInterrupted as interrupt:
        print(f"\ninterrupted (Ctrl-C): {interrupt}", file=sys.stderr)
        if interrupt.checkpoint is not None:
            print(f"continue with: minideeplab train --out {out} --resume", file=sys.stderr)
        return 130
    model = result["model"]
    cost = mdl.summary(model, (model.in_channels, config.image_size, config.image_size))
    names = result["class_names"]
    speed = ""
    if result["images_per_second"]:
        speed = (f"; {result['images_per_second']:.0f} images/s after the first step, which "
                 f"took {result['first_step_seconds']:.1f} s")
    print(f"\ntrained {result['steps']} steps in {result['train_seconds'] / 60:.1f} min{speed} "
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
    rows = ablation(config, out_dir=args.out, progress=not args.no_progress,
                    overwrite=args.overwrite)
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
    p.add_argument("--out", default="runs/default",
                   help="run folder (runs/default); one that holds a trained model needs "
                        "--resume or --overwrite")
    add_training_options(p)
    p.add_argument("--output-stride", type=int, choices=(8, 16, 32),
                   help="input side / side of the encoder's output (16)")
    p.add_argument("--no-decoder", action="store_true", default=None,
                   help="DeepLabV3 (no decoder)")
    p.add_argument("--standard-convs", action="store_true", default=None,
                   help="standard 3x3 convs instead of separable ones")
    p.add_argument("--resume", action="store_true",
                   help="continue from DIR/model.npz exactly: options not given are the "
                        "checkpoint's; only --steps, --eval-every and --checkpoint-every may "
                        "differ from it")
    p.add_argument("--overwrite", action="store_true",
                   help="start again in a folder that holds a trained model (removes it)")
    p.set_defaults(func=_cmd_train, option_names=OPTION_NAMES)

    p = subparsers.add_parser(
        "ablate", help="train decoder/separable/output-stride variants",
        description="Train DeepLabV3+ with decoder on and off, separable convs on and off, "
                    "output stride 16 and 8, on the same budget, and print the table (mIoU, "
                    "boundary mIoU, params, mult-adds, time).")
    p.add_argument("--out", default="runs/ablation", help="folder for the runs (runs/ablation)")
    add_training_options(p)
    p.add_argument("--overwrite", action="store_true",
                   help="replace the runs of an earlier ablation in the same folder")
    p.set_defaults(func=_cmd_ablate, option_names=OPTION_NAMES, output_stride=None,
                   no_decoder=None, standard_convs=None)
