"""``minideeplab bench``: run a benchmark script of the repository's benchmarks/ folder."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

__all__ = ["register"]

REPO_ROOT = Path(__file__).resolve().parents[2]


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


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="run a benchmark from benchmarks/",
                       description="Run benchmarks/bench_WHICH.py; later arguments go to it.")
    p.add_argument("which", nargs="?", default="conv",
                   help="conv (default): convolution shapes S1-S7; model: the whole model; "
                        "performance: every speed, memory and start-up figure in one run")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="arguments for the benchmark")
    p.set_defaults(func=_cmd_bench)
