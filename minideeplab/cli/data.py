"""``minideeplab data check DIR``, and the own-data options that train, evaluate and predict share.

The data check (:func:`minideeplab.datasets.check_data`) reads every image and mask of a dataset
folder once and prints what it found -- the layout, images per split, sizes, classes and their
pixel shares -- or refuses with an error naming the file (wrong size, a label outside the
classes, a colour not in the table, an image without a mask, a JPEG mask, 0/255-only masks).
``train --data DIR`` runs the same check before training.
"""

from __future__ import annotations

__all__ = ["register", "add_data_options", "data_values"]


def add_data_options(p, training: bool = False) -> None:
    """--data, --palette, --mask-255 (and, for training, --num-classes and --class-weights)."""
    from minideeplab.datasets import CLASS_WEIGHTS, MASK_255_CHOICES

    p.add_argument("--data", metavar="DIR",
                   help="your own dataset folder: images/ + masks/, Pascal VOC "
                        "(JPEGImages/, SegmentationClass/), or train/ val/ (test/) subfolders "
                        "of either")
    p.add_argument("--palette", metavar="FILE",
                   help="JSON class table (names; colours for RGB masks), default "
                        "DIR/classes.json or DIR/labelmap.txt")
    p.add_argument("--mask-255", choices=MASK_255_CHOICES,
                   help="what 255 in a mask means: 'ignore' (the default, but to be said when "
                        "masks hold only 0 and 255) or 'class1' (binary masks: 255 = class 1)")
    if training:
        p.add_argument("--num-classes", type=int,
                       help="number of classes (default: from the class table, else the "
                            "largest label + 1)")
        p.add_argument("--class-weights", choices=CLASS_WEIGHTS, default=None,
                       help="weight the loss per class against imbalance: inverse frequency "
                            "or median-frequency balancing (none)")


def data_values(args) -> dict:
    """The TrainConfig fields of the own-data options."""
    return {"data": args.data, "palette": args.palette, "mask_255": args.mask_255,
            "num_classes": args.num_classes, "class_weights": args.class_weights}


def _cmd_check(args) -> int:
    from minideeplab.datasets import check_data
    from minideeplab.errors import UsageError

    if args.num_classes is not None and args.num_classes < 1:
        raise UsageError(f"--num-classes must be >= 1, got {args.num_classes}")
    report = check_data(args.dir, palette=args.palette, mask_255=args.mask_255,
                        num_classes=args.num_classes)
    print(report.text())
    labels = f"[0, {report.num_classes})" + (" or 255 (ignore)" if report.mask_255 != "class1"
                                             else "")
    print(f"ok: every image has a readable mask of its size with labels in {labels}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "data", help="check a dataset folder of your own",
        description="Tools for your own data. 'minideeplab data check DIR' reads every image "
                    "and mask once and prints the layout, images per split, classes and their "
                    "pixel shares, or the first problem with the file it is in.")
    commands = p.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
    check = commands.add_parser(
        "check", help="check a dataset folder and print what it holds",
        description="Check a dataset folder (the check 'train --data DIR' runs first).")
    check.add_argument("dir", metavar="DIR", help="the dataset folder")
    check.add_argument("--palette", metavar="FILE",
                       help="JSON class table (default DIR/classes.json or DIR/labelmap.txt)")
    from minideeplab.datasets import MASK_255_CHOICES

    check.add_argument("--mask-255", choices=MASK_255_CHOICES,
                       help="what 255 in a mask means: ignore, or class1 (binary masks)")
    check.add_argument("--num-classes", type=int,
                       help="check labels against this many classes (default: the class "
                            "table's, else the largest label + 1)")
    check.set_defaults(func=_cmd_check)
