"""``minideeplab data check DIR`` and ``data export NAME DIR``, and the own-data options that
train, evaluate and predict share.

The data check (:func:`minideeplab.datasets.check_data`) reads every image and mask of a dataset
folder once and prints what it found -- the layout, images per split, sizes, classes and their
pixel shares -- or refuses with an error naming the file (wrong size, a label outside the
classes, a colour not in the table, an image without a mask, a JPEG mask, 0/255-only masks).
``train --data DIR`` runs the same check before training.

``data export`` writes a generated dataset (shapes, digits) as such a folder of PNG files, so
that ``predict``, ``data check`` and ``train --data`` have something to work on before you
have images of your own.
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


def _cmd_export(args) -> int:
    """DIR/{train,val,test}/images/NAME_split_0000.png (RGB) and masks/ (palette PNGs whose
    pixel values are the class indices), and DIR/classes.json (the class names). Written into a
    temporary folder beside DIR and renamed at the end: an interrupted export leaves nothing."""
    import json
    import shutil
    import tempfile
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from minideeplab.datasets import DATASETS, SPLITS, dataset_info, load_dataset
    from minideeplab.errors import UsageError

    from .predict import save_index_png

    if args.name not in DATASETS:
        raise UsageError(f"NAME must be one of {', '.join(DATASETS)}, got {args.name!r}")
    if args.n < 1:
        raise UsageError(f"--n must be >= 1, got {args.n}")
    if args.size < 16:
        raise UsageError(f"--size must be >= 16, got {args.size}")
    out = Path(args.dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} already exists and is not an empty folder: give a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    info = dataset_info(args.name)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for split in SPLITS:
            images, masks = load_dataset(args.name, split, n=args.n, size=args.size, cache=False)
            (staging / split / "images").mkdir(parents=True)
            for k, (image, mask) in enumerate(zip(images, masks, strict=True)):
                stem = f"{args.name}_{split}_{k:04d}"
                pixels = np.clip(np.round(np.moveaxis(image, 0, -1) * 255), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(staging / split / "images" / f"{stem}.png")
                save_index_png(staging / split / "masks" / f"{stem}.png", mask,
                               info["num_classes"])
        (staging / "classes.json").write_text(json.dumps(list(info["class_names"])) + "\n")
        if out.exists():
            out.rmdir()                                   # empty (checked above)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    print(f"wrote {len(SPLITS)} x {args.n} images of {args.size}x{args.size} and their masks "
          f"to {out}/ (train/, val/, test/, each images/ + masks/; classes.json: "
          f"{', '.join(info['class_names'])})")
    print(f"next: minideeplab data check {out}   |   minideeplab predict "
          f"runs/default/model.npz {out / 'test' / 'images'}   |   minideeplab train --data {out}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "data", help="check a dataset folder of your own, or export a generated one",
        description="Tools for your own data. 'minideeplab data check DIR' reads every image "
                    "and mask once and prints the layout, images per split, classes and their "
                    "pixel shares, or the first problem with the file it is in. 'minideeplab "
                    "data export shapes DIR' writes the generated shapes as such a folder.")
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

    export = commands.add_parser(
        "export", help="write a generated dataset as a folder of PNG images and masks",
        description="Write NAME (shapes or digits), N images per split, as a dataset folder "
                    "in the layout of your own data: DIR/train, DIR/val and DIR/test, each "
                    "with images/ (RGB PNG) and masks/ (palette PNGs: the pixel values are the "
                    "class indices), and DIR/classes.json. Something to try predict, data "
                    "check and train --data on.")
    export.add_argument("name", metavar="NAME", help="the dataset: shapes or digits")
    export.add_argument("dir", metavar="DIR", help="a new (or empty) folder to write")
    export.add_argument("--n", type=int, default=20,
                        help="images per split (20; the generated sets have 2000 train, "
                             "500 val, 500 test)")
    export.add_argument("--size", type=int, default=64, help="image side in pixels (64)")
    export.set_defaults(func=_cmd_export)
