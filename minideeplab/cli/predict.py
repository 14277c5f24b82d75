"""``minideeplab predict CHECKPOINT INPUT... --out DIR``: save predicted masks and overlays.

For every image (files, or every image in a folder) it writes ``DIR/NAME.png``, the predicted
class of each pixel as a palette PNG -- it shows the class colours in any viewer and reads back
as class indices (``np.asarray(PIL.Image.open(path))``) -- and ``DIR/NAME_overlay.png``, the
image, the classes and both blended, side by side with a legend of class names.

Images are predicted at their own size (tiles beyond ``--tile`` pixels, so a 4000x4000 photo
needs the memory of a 512x512 one). A model sees objects at the scale it was trained on: when an
image's longer side differs from the training images' by more than 2x, a note says so and
``--resize`` rescales the image to the training scale first (the mask is scaled back).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["register"]

#: Longest side of the pictures in an overlay figure (the mask file keeps the full size).
FIGURE_SIDE = 800


def collect_images(inputs) -> list:
    """The image files of ``inputs``: files as given, folders by their images (sorted)."""
    from minideeplab.datasets import IMAGE_SUFFIXES, list_images
    from minideeplab.errors import UsageError

    files = []
    for text in inputs:
        path = Path(text)
        if path.is_dir():
            found = list_images(path)
            for inner in ("images", "JPEGImages"):
                if not found and (path / inner).is_dir():
                    found = list_images(path / inner)
            if not found:
                raise UsageError(f"folder {path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            files.extend(found)
        elif path.is_file():
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise UsageError(f"{path} is not an image file: INPUT takes images "
                                 f"({', '.join(IMAGE_SUFFIXES)}) or folders of them")
            files.append(path)
        else:
            raise FileNotFoundError(f"image {path} does not exist")
    return files


def _one_file_per_name(files) -> list:
    """``files`` without repeats; two different files of the same stem are refused."""
    from minideeplab.errors import UsageError

    by_stem = {}
    for file in files:
        if file.stem in by_stem and by_stem[file.stem] != file:
            raise UsageError(f"two images have the name {file.stem!r} ({by_stem[file.stem]} and "
                             f"{file}); their predictions would overwrite each other")
        by_stem[file.stem] = file
    return list(by_stem.values())


def _output_folder(text) -> Path:
    """``--out`` as a folder path, checked; created only when the first mask is written (so a
    command that fails on its inputs leaves no empty folder behind)."""
    from minideeplab.datasets import IMAGE_SUFFIXES
    from minideeplab.errors import UsageError

    out = Path(text)
    if out.suffix.lower() in IMAGE_SUFFIXES:
        raise UsageError(f"--out is the folder for the predictions (NAME.png and "
                         f"NAME_overlay.png), got the file name {out}: give a folder, e.g. "
                         f"--out {out.with_suffix('')}")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder for the predictions")
    return out


def _share(fraction: float) -> str:
    return "<1%" if fraction < 0.005 else f"{fraction:.0%}"


def _training_scale(meta) -> tuple:
    """(H, W) of the images the model was trained on (median for own data)."""
    size = (meta.get("data") or {}).get("median_train_size")
    if size:
        return int(size[0]), int(size[1])
    side = int(meta.get("image_size", 64))
    return side, side


def save_index_png(path, labels, num_classes) -> None:
    """``labels`` (H, W) as a palette PNG: pixel = class index, palette = the class colours."""
    from PIL import Image

    from minideeplab.fileio import atomic_write
    from minideeplab.viz import class_palette

    colours = np.zeros((256, 3), dtype=np.uint8)
    colours[:num_classes] = np.round(class_palette(num_classes) * 255).astype(np.uint8)
    colours[255] = 255                                        # 255 (ignore) white, as in viz
    picture = Image.fromarray(np.asarray(labels, dtype=np.uint8), mode="P")
    picture.putpalette(colours.ravel().tolist())
    atomic_write(path, lambda file: picture.save(file, format="PNG"))


def _save_overlay(path, image, labels, class_names, title) -> None:
    from minideeplab import viz
    from minideeplab.fileio import atomic_write

    step = max(1, -(-max(labels.shape) // FIGURE_SIDE))      # ceil: the figure needs no more
    # channels-last: a (3, H, 1) image would read as (H, W, C) = (3, H, 1) and lose a pixel axis
    picture = np.moveaxis(image[:, ::step, ::step], 0, -1)
    if step > 1:
        mask_name = f"{path.stem[:-len('_overlay')]}.png"
        title += f"\n(drawn at 1/{step} scale; the mask {mask_name} is full size)"
    figure = viz.plot_overlay(picture, labels[::step, ::step], class_names, title=title,
                              pixel_step=step)
    atomic_write(path, lambda file: figure.savefig(file, format="png", dpi=110,
                                                   bbox_inches="tight", pad_inches=0.08))


def _cmd_predict(args) -> int:
    from minideeplab import datasets
    from minideeplab.checkpoint import load_checkpoint, load_model
    from minideeplab.datasets.resize import resize_bilinear, resize_nearest
    from minideeplab.errors import UsageError
    from minideeplab.evaluation import at_output_stride, predict_labels

    from .evaluate import settings_from

    files = collect_images(args.inputs)
    if args.data is not None:
        from minideeplab.datasets import detect_layout

        layout = detect_layout(args.data)
        if not layout.splits.get(args.split):
            raise UsageError(f"{args.data} has no {args.split} split ({layout.split_how})")
        files += [image for image, _ in layout.splits[args.split]]
    if not files:
        raise UsageError("give images or folders to predict, or --data DIR")
    files = _one_file_per_name(files)
    out = _output_folder(args.out)
    model = load_model(args.checkpoint)
    _, _, meta = load_checkpoint(args.checkpoint)
    settings = settings_from(args)
    network = at_output_stride(model, settings.output_stride)
    names = list(meta.get("class_names") or [f"class {k}" for k in range(model.num_classes)])
    train_h, train_w = _training_scale(meta)
    for file in files:
        image = datasets.read_image(file)
        height, width = image.shape[1:]
        factor = max(train_h, train_w) / max(height, width)
        note = ""
        if args.resize and abs(np.log2(factor)) > 0.01:
            size = (max(1, round(height * factor)), max(1, round(width * factor)))
            labels = predict_labels(network, resize_bilinear(image, *size), settings)
            labels = resize_nearest(labels, height, width)
            note = f" (predicted at {size[0]}x{size[1]}, the training scale, and scaled back)"
        else:
            labels = predict_labels(network, image, settings)
            if not 0.5 <= factor <= 2.0:
                how = f"{1 / factor:.1f}x theirs" if factor < 1 else f"1/{factor:.1f} of theirs"
                note = (f"\n  note: the model was trained on images of {train_h}x{train_w} "
                        f"pixels; this one's longer side is {max(height, width)} pixels, {how}: "
                        f"its objects may not be at the scale the model learned; --resize "
                        f"scales it to the training scale first")
        counts = np.bincount(labels.ravel(), minlength=model.num_classes)
        shares = ", ".join(f"{name} {_share(c / labels.size)}"
                           for name, c in zip(names, counts, strict=True) if c)
        mask_path, overlay_path = out / f"{file.stem}.png", out / f"{file.stem}_overlay.png"
        out.mkdir(parents=True, exist_ok=True)
        save_index_png(mask_path, labels, model.num_classes)
        written = [mask_path]
        if not args.no_overlay:
            _save_overlay(overlay_path, image, labels, names, f"Prediction for {file.name}")
            written.append(overlay_path)
        print(f"{file} ({height}x{width}): {shares} -> "
              f"{', '.join(str(p) for p in written)}{note}")
    print(f"wrote {len(files)} predicted mask(s) to {out}/ (palette PNGs: the pixel values are "
          f"the class indices 0..{model.num_classes - 1}: {', '.join(names)})")
    return 0


def register(subparsers) -> None:
    from .evaluate import add_settings_options

    p = subparsers.add_parser(
        "predict", help="segment images; save masks and overlays",
        description="Segment images with a checkpoint. For each image, write DIR/NAME.png (the "
                    "predicted class indices as a palette PNG) and DIR/NAME_overlay.png (image, "
                    "classes and overlay side by side, with a legend).")
    p.add_argument("checkpoint", help="a model.npz written by 'minideeplab train'")
    p.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="image files (PNG/JPEG/...) or folders of images")
    p.add_argument("--data", metavar="DIR",
                   help="also the images of a split of this dataset folder (see --split)")
    p.add_argument("--split", default="test", choices=("train", "val", "test"),
                   help="the split of --data to predict (test)")
    p.add_argument("--out", default="predictions",
                   help="folder for NAME.png and NAME_overlay.png (predictions)")
    p.add_argument("--resize", action="store_true",
                   help="scale each image to the training images' scale before predicting")
    p.add_argument("--no-overlay", action="store_true", help="write the masks only")
    add_settings_options(p)
    p.set_defaults(func=_cmd_predict)
