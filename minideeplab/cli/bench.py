"""``minideeplab bench``: run a benchmark script of the repository's benchmarks/ folder."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from minideeplab.errors import UsageError

__all__ = ["register"]

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = REPO_ROOT / "benchmarks"


def _load(name: str, script: Path):
    """Import ``script`` as the module ``name``, registered in ``sys.modules`` first.

    A module executed without being registered cannot define a dataclass (``dataclasses``
    looks the class's module up in ``sys.modules``), and the scripts import each other by
    name; so they are imported as ``python benchmarks/bench_x.py`` would import them.
    """
    spec = importlib.util.spec_from_file_location(name, script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _cmd_bench(args) -> int:
    scripts = {path.stem.removeprefix("bench_"): path
               for path in sorted(BENCHMARKS.glob("bench_*.py"))}
    if not scripts:
        raise UsageError(f"no benchmarks in {BENCHMARKS}: they live in the repository's "
                         "benchmarks/ folder (run from a clone installed with 'pip install -e .')")
    if args.which not in scripts:
        raise UsageError(f"no benchmark {args.which!r}; choose one of "
                         f"{', '.join(scripts)} (benchmarks/bench_NAME.py)")
    module = _load(f"bench_{args.which}", scripts[args.which])
    return module.main(args.rest) or 0


def register(subparsers) -> None:
    p = subparsers.add_parser("bench", help="run a benchmark from benchmarks/",
                       description="Run benchmarks/bench_WHICH.py; later arguments go to it "
                                   "(minideeplab bench conv --help lists them).")
    p.add_argument("which", nargs="?", default="conv",
                   help="conv (default): convolution shapes S1-S7; model: the whole model; "
                        "performance: every speed, memory and start-up figure in one run")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="arguments for the benchmark")
    p.set_defaults(func=_cmd_bench)
