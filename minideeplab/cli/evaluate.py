"""``minideeplab evaluate`` and ``predict``: a trained checkpoint on data and on images."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

__all__ = ["register"]


def _cmd_evaluate(args) -> int:
    from minideeplab import datasets
    from minideeplab.checkpoint import load_checkpoint, load_model
    from minideeplab.train import evaluate

    from .train import print_metrics

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
    print_metrics(f"{dataset} {args.split} ({len(images)} images, {size}x{size})", result,
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


def register(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="metrics of a checkpoint on a dataset split",
                              description="Evaluate a checkpoint: mIoU, boundary mIoU, "
                                          "per-class IoU.")
    p.add_argument("checkpoint", help="a model.npz written by 'minideeplab train'")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--dataset", help="default: the checkpoint's")
    p.add_argument("--image-size", type=int, help="default: the checkpoint's")
    p.add_argument("--n", type=int, default=None, help="number of images (default: the split's)")
    p.set_defaults(func=_cmd_evaluate)

    p = subparsers.add_parser("predict", help="segment one image and save an overlay",
                              description="Segment IMAGE with a checkpoint; save the image and "
                                          "its predicted classes side by side.")
    p.add_argument("checkpoint")
    p.add_argument("image", help="an RGB or grayscale PNG/JPEG")
    p.add_argument("--out", default="overlay.png", help="output PNG (overlay.png)")
    p.set_defaults(func=_cmd_predict)
