"""``minideeplab evaluate`` and ``minideeplab reproduce``: a checkpoint scored the paper's way.

``evaluate`` scores a checkpoint on a split of its dataset (or of ``--data DIR``), whole images
at their own size, at the test-time settings asked for (``--output-stride 8 --scales
0.75,1,1.25 --flip``), and prints the mIoU beside the multiply-adds per image; ``--report DIR``
adds report.json and the figures (confusion matrix, trimap curve, lowest-mIoU gallery).
``reproduce`` prints the paper's inference table (Table 3) at toy scale for one checkpoint.
The computing is in :mod:`minideeplab.evaluation`; this module reads options and prints.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["register", "open_eval_source", "add_settings_options", "settings_from"]

DEFAULT_CHECKPOINT = "runs/default/model.npz"
GALLERY_SIZE = 6


def add_settings_options(p) -> None:
    """--output-stride, --scales, --flip, --tile: the test-time settings."""
    from minideeplab.evaluation import OUTPUT_STRIDES

    p.add_argument("--output-stride", type=int, choices=OUTPUT_STRIDES,
                   help="evaluate at this output stride (default: the checkpoint's); the same "
                        "weights, the ASPP rates scaled with it")
    p.add_argument("--scales", default="1",
                   help="multi-scale inputs, e.g. 0.75,1,1.25: class probabilities averaged "
                        "(default 1)")
    p.add_argument("--flip", action="store_true",
                   help="also the left-right flipped image, probabilities averaged")
    p.add_argument("--tile", type=int, default=512,
                   help="images larger than this many pixels are predicted in tiles (512)")


def settings_from(args):
    from minideeplab.errors import UsageError
    from minideeplab.evaluation import Settings, parse_scales

    if args.tile < 32:
        raise UsageError(f"--tile must be >= 32 pixels, got {args.tile}")
    return Settings(args.output_stride, parse_scales(args.scales), args.flip, args.tile)


def open_eval_source(args, model, meta):
    """The data source to score on: --data, else --dataset, else the checkpoint's own data."""
    from minideeplab import datasets
    from minideeplab.errors import UsageError

    if args.n is not None and args.n < 1:
        raise UsageError(f"--n must be >= 1 (the number of images to evaluate), got {args.n}")
    if args.image_size is not None and args.image_size < 16:
        raise UsageError(f"--image-size must be >= 16 pixels, got {args.image_size}")
    trained = meta.get("train_config") or {}
    folder = args.data or (None if args.dataset else trained.get("data"))
    if folder is not None:
        if args.image_size is not None:
            raise UsageError("--image-size applies to the generated datasets; the images of a "
                             "folder are evaluated whole, at their own size")
        if not Path(folder).exists() and not args.data:
            raise UsageError(f"the checkpoint was trained on {folder}, which does not exist "
                             f"here: give the dataset folder with --data DIR")
        source = datasets.FolderSource(
            folder, palette=args.palette or trained.get("palette"),
            mask_255=args.mask_255 or trained.get("mask_255"), num_classes=model.num_classes)
    else:
        name = args.dataset or meta.get("dataset", "shapes")
        size = args.image_size or meta.get("image_size", 64)
        source = datasets.GeneratedSource(name, image_size=size,
                                          n={args.split: args.n} if args.n else None)
    if source.num_classes != model.num_classes:
        raise UsageError(f"the checkpoint has {model.num_classes} classes, {source.name} has "
                         f"{source.num_classes}")
    return source


def _count(source, split, n):
    total = (len(source.layout.splits.get(split, [])) if source.kind == "folder"
             else source.n[split])
    return total if n is None else min(n, total)


def _images(count: int) -> str:
    return f"{count} image" + ("" if count == 1 else "s")


def _training_overlap(source, split, meta) -> str | None:
    """A warning if images of ``split`` were training images of the checkpoint."""
    stems = ((meta.get("data") or {}).get("stems") or {}).get("train")
    if source.kind != "folder" or not stems or split == "train":
        return None
    shared = {image.stem for image, _ in source.layout.splits.get(split, [])} & set(stems)
    if not shared:
        return None
    return (f"warning: {len(shared)} of the {split} images were training images of this "
            f"checkpoint (e.g. {sorted(shared)[0]}): the folder's split changed since training")


def _print_scores(result, baseline_cost, trained_stride) -> None:
    scored = result.scores()
    print(f"  mIoU {scored['miou']:.3f}   boundary mIoU {scored['boundary_miou']:.3f}   "
          f"pixel accuracy {scored['pixel_accuracy']:.3f}   mean class accuracy "
          f"{scored['mean_class_accuracy']:.3f}   frequency-weighted IoU "
          f"{scored['frequency_weighted_iou']:.3f}")
    per_class = "   ".join(f"{name} {iou:.3f}" if iou == iou else f"{name} -"
                           for name, iou in zip(result.class_names, scored["iou_per_class"],
                                                strict=True))
    print(f"  IoU per class: {per_class}")
    ratio = result.mult_adds_per_image / max(baseline_cost, 1)
    print(f"  cost: {result.mult_adds_per_image / 1e6:.1f} M mult-adds per image "
          f"({ratio:.1f}x a single pass at the trained OS {trained_stride}); "
          f"{result.seconds:.1f} s")


def _write_report(result, folder: Path) -> list:
    import json

    from minideeplab import viz
    from minideeplab.fileio import atomic_write

    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result.to_json(), indent=1)
    atomic_write(folder / "report.json", lambda f: f.write(text.encode("utf-8")))
    label = result.settings.label(result.output_stride)
    written = [folder / "report.json", folder / "confusion_matrix.png", folder / "trimap.png",
               folder / "lowest_miou.png"]
    viz.plot_confusion_matrix(result.cm, result.class_names, path=written[1],
                              title=f"Confusion matrix ({label}), normalised per true class")
    viz.plot_trimap_curve(result.trimap.widths, {label: result.trimap.curve()},
                          overall={label: result.scores()["miou"]}, path=written[2],
                          title="mIoU near object boundaries (trimap, DeepLabV3+ Fig. 5)")
    if result.gallery:
        viz.plot_gallery(result.gallery, result.class_names, path=written[3],
                         title=f"The {_images(len(result.gallery))} with the lowest mIoU "
                               f"(each scored alone), worst first")
    else:
        written.pop()
    return written


def _cmd_evaluate(args) -> int:
    from minideeplab.checkpoint import load_checkpoint, load_model
    from minideeplab.evaluation import evaluate_images, single_pass_cost

    model = load_model(args.checkpoint)
    _, _, meta = load_checkpoint(args.checkpoint)
    settings = settings_from(args)
    source = open_eval_source(args, model, meta)
    count = _count(source, args.split, args.n)
    if count == 0 or not source.has_split(args.split):
        from minideeplab.errors import UsageError

        raise UsageError(f"{source.name} has no {args.split} images; choose another --split")
    warning = _training_overlap(source, args.split, meta)
    if warning:
        print(warning)
    print(f"evaluating {args.checkpoint} on {source.name} {args.split} ({_images(count)}, "
          f"whole, at their own size) at {settings.label(model.output_stride)}")
    result = evaluate_images(model, source.pairs(args.split, args.n), source.class_names,
                             settings, trimap=args.report is not None,
                             gallery=GALLERY_SIZE if args.report else 0,
                             progress=not args.no_progress, total=count)
    cost = single_pass_cost(model)
    baseline = sum(cost(h, w) for h, w in result.sizes) / max(result.images, 1)
    _print_scores(result, baseline, model.output_stride)
    if args.report is not None:
        written = _write_report(result, Path(args.report))
        print("report: " + ", ".join(str(p) for p in written))
    return 0


def _cmd_reproduce(args) -> int:
    from minideeplab.checkpoint import CheckpointError, load_checkpoint, load_model
    from minideeplab.evaluation import format_inference_table, inference_table, parse_scales

    try:
        model = load_model(args.checkpoint)
    except CheckpointError as error:
        if args.checkpoint == DEFAULT_CHECKPOINT and not Path(args.checkpoint).exists():
            raise CheckpointError(f"{error}: train the default run first ('minideeplab train') "
                                  f"or give a checkpoint") from None
        raise
    _, _, meta = load_checkpoint(args.checkpoint)
    source = open_eval_source(args, model, meta)
    count = _count(source, args.split, args.n)
    scales = parse_scales(args.scales)
    print(f"DeepLabV3+ Table 3 at toy scale: {args.checkpoint} (trained at output stride "
          f"{model.output_stride}) on {source.name} {args.split}, {_images(count)}; "
          f"MS = scales {'/'.join(f'{s:g}' for s in scales)}")
    print(format_inference_table([]).splitlines()[0])
    rows = inference_table(model, lambda: source.pairs(args.split, args.n), source.class_names,
                           scales=scales, tile=args.tile,
                           log=lambda line: print(line, flush=True))
    best = max(rows, key=lambda row: row["miou"])
    print(f"best: OS {best['output_stride']}{', MS' if best['multi_scale'] else ''}"
          f"{', flip' if best['flip'] else ''}: mIoU {best['miou']:.3f} for "
          f"{best['mult_adds_per_image'] / rows[0]['mult_adds_per_image']:.1f}x the compute "
          f"of the first row ({best['miou'] - rows[0]['miou']:+.3f} mIoU)")
    return 0


def _add_data_selection(p, n_help) -> None:
    from .data import add_data_options

    p.add_argument("--split", default="test", choices=("train", "val", "test"),
                   help="the split to score (test)")
    p.add_argument("--dataset", help="a generated dataset (default: the checkpoint's)")
    p.add_argument("--image-size", type=int,
                   help="image side of a generated dataset (default: the checkpoint's)")
    p.add_argument("--n", type=int, default=None, help=n_help)
    add_data_options(p)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="score a checkpoint (test-time settings, report)",
        description="Score a checkpoint on a split of its data (or --data DIR): whole images at "
                    "their own size; mIoU, boundary mIoU, pixel accuracy, mean class accuracy, "
                    "frequency-weighted IoU, IoU per class, and mult-adds per image. The paper's "
                    "test-time settings: --output-stride 8 --scales 0.75,1,1.25 --flip.")
    p.add_argument("checkpoint", help="a model.npz written by 'minideeplab train'")
    _add_data_selection(p, "number of images (default: the whole split)")
    add_settings_options(p)
    p.add_argument("--report", metavar="DIR",
                   help="write DIR/report.json, confusion_matrix.png, trimap.png (mIoU within "
                        "1..40 px of boundaries) and lowest_miou.png")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_evaluate)

    p = subparsers.add_parser(
        "reproduce", help="the paper's inference table (OS 16/8, multi-scale, flip)",
        description="Print DeepLabV3+ Table 3 at toy scale: one checkpoint evaluated at output "
                    "stride 16 and 8, each without and with multi-scale inputs and left-right "
                    "flipping; mIoU beside mult-adds per image.")
    p.add_argument("checkpoint", nargs="?", default=DEFAULT_CHECKPOINT,
                   help=f"a model.npz ({DEFAULT_CHECKPOINT}, the default run)")
    _add_data_selection(p, "number of images (default: the whole split)")
    p.add_argument("--scales", default="0.75,1,1.25",
                   help="the scales of the multi-scale rows (0.75,1,1.25)")
    p.add_argument("--tile", type=int, default=512, help="tile side for large images (512)")
    p.set_defaults(func=_cmd_reproduce)
