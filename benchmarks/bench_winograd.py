"""Where Winograd's route pays: its time against im2col's on a grid of 3x3 convolutions.

    python benchmarks/bench_winograd.py              # about 2 minutes on 2 cores
    python benchmarks/bench_winograd.py --rates 1 --channels 16,64

The Numba conv2d computes a 3x3 convolution at stride 1 by Winograd's F(3x3,
3x3) (``minideeplab/kernels/winograd.py``) when it has at least
``winograd.MIN_CHANNELS`` channels in and out and at least ``winograd.MIN_TILE_USE``
of its tiles' outputs lie in the map (tiles that overhang the map waste
products), the rest by im2col + GEMM. This prints what that rule buys: for
batch 8, float32, 2 threads, C_in = C_out channels, 'same' padding, stride 1,
the forward pass and dX by each route, timed back to back and interleaved (the
fastest block's median), as the ratio Winograd / im2col (< 1: Winograd is
faster), beside the tiles' use. A ``*`` marks the convolutions the rule sends
to Winograd.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import numpy as np

try:
    import minideeplab  # noqa: F401
except ImportError:  # run from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minideeplab.kernels import _threads, conv, winograd  # noqa: E402
from minideeplab.timing import time_interleaved  # noqa: E402


@contextlib.contextmanager
def route(name):
    """conv.py with every 3x3 stride-1 conv sent to Winograd (its thresholds off), or
    with Winograd switched off ("im2col")."""
    saved = winograd.applies, winograd.MIN_CHANNELS, winograd.MIN_TILE_USE
    if name == "im2col":
        winograd.applies = lambda *args: False
    else:
        winograd.MIN_CHANNELS, winograd.MIN_TILE_USE = 1, 0.0
    try:
        yield
    finally:
        winograd.applies, winograd.MIN_CHANNELS, winograd.MIN_TILE_USE = saved


def passes(channels, size, rate, batch=8):
    """The forward and dX calls of one convolution, as functions of no arguments."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, channels, size, size)).astype(np.float32)
    w = (rng.standard_normal((channels, channels, 3, 3)) / (3 * channels ** 0.5)).astype(
        np.float32)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    args = ((1, 1), (rate, rate), (rate, rate), 1)
    return (lambda: conv.forward(x, w, *args, (size, size)),
            lambda: conv.backward_input(dout, w, x.shape, *args))


def measure(channels_list, sizes, rates, blocks, calls, log=print):
    """``[(channels, size, rate, use, takes, forward ratio, dX ratio)]``: the times' ratios
    are Winograd / im2col, ``use`` the share of the tiles' outputs that lie in the map."""
    rows = []
    for rate in rates:
        for size in sizes:
            if rate >= size:
                continue           # the outer taps would read only padding: not a 3x3 any more
            for channels in channels_list:
                forward, backward = passes(channels, size, rate)
                ratios = []
                for call in (forward, backward):
                    def by(name, call=call):
                        with route(name):
                            call()
                    timing = time_interleaved({"winograd": lambda: by("winograd"),
                                               "im2col": lambda: by("im2col")},
                                              blocks=blocks, calls=calls)
                    ratios.append(timing["winograd"].seconds / timing["im2col"].seconds)
                takes = winograd.applies((channels, channels, 3, 3), (1, 1), (rate, rate),
                                         (rate, rate), 1, (size, size))
                use = winograd.tile_use((size, size), (rate, rate))
                rows.append((channels, size, rate, use, takes, *ratios))
                log(f"  channels {channels}, {size}x{size}, rate {rate}: "
                    f"{ratios[0]:.2f}x, {ratios[1]:.2f}x")
    return rows


def format_rows(rows):
    lines = ["rate  size  tile use  channels  forward  dX       (tile use: the share of the "
             "tiles' outputs in the map;",
             "                                                 times: Winograd / im2col; "
             "* = the rule takes Winograd)",
             "-" * 96]
    for channels, size, rate, use, takes, fwd, dx in rows:
        mark = "*" if takes else " "
        lines.append(f"{rate:>4}  {size:>4}  {use:8.2f}  {channels:>8}  {fwd:6.2f}x "
                     f"{dx:6.2f}x {mark}")
    return "\n".join(lines)


def _ints(text):
    return [int(v) for v in text.split(",")]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bench_winograd", description=__doc__.split("\n")[0])
    parser.add_argument("--channels", type=_ints, default=[8, 16, 32, 64],
                        help="comma-separated channel counts (8,16,32,64)")
    parser.add_argument("--sizes", type=_ints, default=[8, 16, 32, 64],
                        help="comma-separated map sizes (8,16,32,64)")
    parser.add_argument("--rates", type=_ints, default=[1, 2, 6],
                        help="comma-separated atrous rates (1,2,6)")
    parser.add_argument("--blocks", type=int, default=3, help="interleaved blocks (3)")
    parser.add_argument("--calls", type=int, default=5, help="calls per block (5)")
    args = parser.parse_args(argv)
    if min(args.channels + args.sizes + args.rates) < 1:
        parser.error("channels, sizes and rates must be >= 1")
    _threads.set_num_threads(2)
    with _threads.single_threaded_blas():
        rows = measure(args.channels, args.sizes, args.rates, args.blocks, args.calls,
                       log=lambda m: print(m, file=sys.stderr, flush=True))
    print(f"Winograd F(3x3, 3x3) against im2col: batch 8, float32, 2 threads, back to back; "
          f"the rule: >= {winograd.MIN_CHANNELS} channels in and out, tile use >= "
          f"{winograd.MIN_TILE_USE}\n")
    print(format_rows(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
