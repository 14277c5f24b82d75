"""The ``minideeplab`` command: ``train | evaluate | predict | summary | receptive-field | bench``.

Each subcommand has ``--help``. Run ``minideeplab --help`` for the list.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minideeplab",
        description="DeepLabV3+ from scratch in NumPy: train, evaluate, inspect.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
    p.add_argument("which", nargs="?", default="conv", help="conv (default)")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="arguments for the benchmark")
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
