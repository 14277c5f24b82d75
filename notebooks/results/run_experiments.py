"""Train the experiments that notebooks 03 and 05 report, over three seeds, and save the numbers.

The notebooks read the JSON files written here instead of training the same models again
(each experiment is several models of a few tens of seconds each), and show the mean and the range
over the seeds. Run it from the repository root, once (15 minutes on a quiet 2-core machine:
default 3.2, ablation 4.5, aspp 6.7 minutes, measured):

    python notebooks/results/run_experiments.py                 # all three experiments
    python notebooks/results/run_experiments.py --only aspp     # one of: default ablation aspp
    python notebooks/results/run_experiments.py --resume        # keep the runs already saved
    python notebooks/results/run_experiments.py --quick --out /tmp/check   # a few steps: a check

On a machine other programs share, run it single-threaded (``NUMBA_NUM_THREADS=1
OMP_NUM_THREADS=1``): with two threads that wait for each other's turn a training step measured
3.6 s, single-threaded 0.45 s (the results are the same).

Three experiments, one JSON file each, next to this script:

* ``default_runs.json`` -- the default model of notebook 05 (``TrainConfig()`` but 2000 steps),
  seeds 0, 1, 2: validation and test mIoU, boundary mIoU and IoU per class.
* ``ablation.json`` -- the paper's ablation of notebook 05 (``minideeplab.ablation``: decoder,
  separable convolutions, output stride), 400 steps per variant, seeds 0, 1, 2.
* ``aspp.json`` -- ASPP's parts of notebook 03: image pooling on and off, atrous branches on and
  off, rates (1, 1, 1), the paper's (6, 12, 18), and the default (1, 2, 3); trained with random
  rescaling by 0.5-2 (so that objects span 6 to 64 px) and scored on the validation images at
  three scales.

A seed fixes the weight initialisation, the dropout masks and the order of the training batches;
the data (the shapes dataset's train, validation and test splits) is the same for every seed.
Every file is rewritten after each run (atomically), so an interrupted run loses at most one
model, and ``--resume`` picks up where it stopped.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))          # the repository, for a run without install

import minideeplab as mdl  # noqa: E402
from minideeplab import datasets  # noqa: E402
from minideeplab.ablation import ABLATION_VARIANTS  # noqa: E402
from minideeplab.fileio import atomic_write  # noqa: E402
from minideeplab.train import TrainConfig, evaluate, train  # noqa: E402

SEEDS = (0, 1, 2)
DEFAULT_STEPS = 2000              # notebook 05's main run
ABLATION_STEPS = 400              # notebook 05's ablation, per variant
ASPP_STEPS = 600
ASPP_TRAIN_SCALES = (0.5, 2.0)    # random rescaling of the training images
ASPP_EVAL_SCALES = (0.5, 1.0, 2.0)
QUICK_DATA = dict(n_train=32, n_val=8, n_test=8)    # --quick: a check that the script runs

#: ASPP's parts switched on and off (overrides of the model's keywords, see deeplab_config).
ASPP_VARIANTS = {
    "default: 1x1, rates (1, 2, 3), image pooling": {},
    "no image pooling": {"aspp_pooling": False},
    "no atrous branches: 1x1 + image pooling": {"aspp_rates": ()},
    "rates (1, 1, 1)": {"aspp_rates": (1, 1, 1)},
    "paper's rates (6, 12, 18)": {"aspp_rates": (6, 12, 18)},
}


def _rounded(value):
    """A score to 4 decimals (the JSON stays small); NaN (a class absent everywhere) as None."""
    return None if value is None or value != value else round(float(value), 4)


def scores(result_split: dict) -> dict:
    """The numbers kept of one evaluation (plain floats)."""
    return {"miou": _rounded(result_split["miou"]),
            "boundary_miou": _rounded(result_split["boundary_miou"]),
            "iou_per_class": [_rounded(v) for v in result_split["iou_per_class"]]}


def cost(model, image_size: int) -> dict:
    report = mdl.summary(model, (model.in_channels, image_size, image_size))
    return {"parameters": report.total_parameters, "mult_adds": report.total_mult_adds}


def commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE,
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


class ResultFile:
    """One experiment's JSON: its settings and one entry per (variant, seed), saved after each."""

    def __init__(self, name: str, settings: dict, variants, out_dir: Path, resume: bool):
        self.path = out_dir / f"{name}.json"
        self.variants = list(variants)
        self.data = {"experiment": name, "settings": settings, "seeds": list(SEEDS),
                     "runs": {}, "machine": platform.machine(), "commit": commit()}
        if resume and self.path.exists():
            previous = json.loads(self.path.read_text())
            if previous.get("settings") == settings:
                self.data["runs"] = previous["runs"]
            else:
                print(f"{self.path.name}: settings changed, starting again")

    def done(self, variant: str, seed: int) -> bool:
        return str(seed) in self.data["runs"].get(variant, {})

    def add(self, variant: str, seed: int, entry: dict) -> None:
        self.data["runs"].setdefault(variant, {})[str(seed)] = entry
        self.data["complete"] = all(
            len(self.data["runs"].get(v, {})) == len(SEEDS) for v in self.variants)
        text = json.dumps(self.data, indent=1) + "\n"
        atomic_write(self.path, lambda f: f.write(text.encode("utf-8")))


def run_default(out_dir: Path, resume: bool, quick: bool) -> None:
    steps = 2 if quick else DEFAULT_STEPS
    config = TrainConfig(steps=steps, eval_every=steps, **(QUICK_DATA if quick else {}))
    results = ResultFile("default_runs", {"train_config": _plain(asdict(config))}, ["default"],
                         out_dir, resume)
    for seed in SEEDS:
        if results.done("default", seed):
            continue
        print(f"default model, seed {seed}: {steps} steps", flush=True)
        result = train(TrainConfig(**{**asdict(config), "seed": seed}), progress=False,
                       log=lambda *_: None)
        results.add("default", seed, {"val": scores(result["val"]),
                                      "test": scores(result["test"]),
                                      "train_seconds": result["train_seconds"],
                                      **cost(result["model"], config.image_size)})


def run_ablation(out_dir: Path, resume: bool, quick: bool) -> None:
    config = TrainConfig(steps=2 if quick else ABLATION_STEPS, **(QUICK_DATA if quick else {}))
    settings = {"train_config": _plain(asdict(config)),
                "variants": _plain(ABLATION_VARIANTS)}
    results = ResultFile("ablation", settings, ABLATION_VARIANTS, out_dir, resume)
    for seed in SEEDS:
        for name, overrides in ABLATION_VARIANTS.items():
            if results.done(name, seed):
                continue
            print(f"ablation, {name}, seed {seed}: {config.steps} steps", flush=True)
            variant = TrainConfig(**{**asdict(config), "seed": seed,
                                     "model": {**config.model, **overrides}})
            result = train(variant, progress=False, log=lambda *_: None)
            results.add(name, seed, {"val": scores(result["val"]),
                                     "train_seconds": result["train_seconds"],
                                     **cost(result["model"], config.image_size)})


def rescaled_validation(config: TrainConfig, scale: float):
    """The validation split with every image rescaled by ``scale`` and cropped or padded back
    to its size (padding is labelled 'ignore'); the same crops for every model."""
    images, masks = datasets.load_dataset(config.dataset, "val", n=config.n_val,
                                          size=config.image_size)
    if scale == 1.0:
        return images, masks
    return datasets.augment(images, masks, np.random.default_rng(0), flip=False,
                            scale_range=(scale, scale))


def run_aspp(out_dir: Path, resume: bool, quick: bool) -> None:
    config = TrainConfig(steps=2 if quick else ASPP_STEPS, scale_range=ASPP_TRAIN_SCALES,
                         **(QUICK_DATA if quick else {}))
    settings = {"train_config": _plain(asdict(config)), "variants": _plain(ASPP_VARIANTS),
                "eval_scales": list(ASPP_EVAL_SCALES)}
    results = ResultFile("aspp", settings, ASPP_VARIANTS, out_dir, resume)
    validation = {scale: rescaled_validation(config, scale) for scale in ASPP_EVAL_SCALES}
    for seed in SEEDS:
        for name, overrides in ASPP_VARIANTS.items():
            if results.done(name, seed):
                continue
            print(f"ASPP, {name}, seed {seed}: {config.steps} steps", flush=True)
            variant = TrainConfig(**{**asdict(config), "seed": seed,
                                     "model": {**config.model, **overrides}})
            result = train(variant, progress=False, log=lambda *_: None)
            model = result["model"]
            by_scale = {str(scale): scores(evaluate(model, images, masks, model.num_classes))
                        for scale, (images, masks) in validation.items()}
            results.add(name, seed, {"val": by_scale, "rates": list(model.rates),
                                     "train_seconds": result["train_seconds"],
                                     **cost(model, config.image_size)})


def _plain(value):
    """Tuples as lists, so that settings compare equal to what JSON reads back."""
    return json.loads(json.dumps(value))


EXPERIMENTS = {"aspp": run_aspp, "ablation": run_ablation, "default": run_default}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=list(EXPERIMENTS), action="append",
                        help="run only this experiment (repeatable); default: all three")
    parser.add_argument("--resume", action="store_true",
                        help="keep the runs already saved with the same settings")
    parser.add_argument("--out", type=Path, default=HERE,
                        help="folder for the JSON files (default: next to this script)")
    parser.add_argument("--quick", action="store_true",
                        help="2 steps per model on a few images: checks that the script runs")
    args = parser.parse_args(argv)
    if args.quick and args.out.resolve() == HERE:
        parser.error("--quick would overwrite the saved results: give --out DIR as well")
    for name in args.only or list(EXPERIMENTS):
        start = time.perf_counter()
        EXPERIMENTS[name](args.out, args.resume, args.quick)
        print(f"{name}: done in {(time.perf_counter() - start) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
