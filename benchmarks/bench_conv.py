"""Benchmark conv2d: the NumPy reference, the Numba kernels and (when installed) PyTorch.

    python benchmarks/bench_conv.py                    # every shape, all backends
    python benchmarks/bench_conv.py --shapes S1,S4 --repeats 9 --no-numpy

The shapes are the convolutions DeepLabV3+ spends its time in, at batch 8 in
float32: a dense 3x3 (S1), the ASPP's atrous 3x3 at rates 6 and 12 (S2, S3),
depthwise 3x3 plain and atrous (S4, S5), a pointwise 1x1 (S6) and a strided
3x3 (S7). For each we time the forward pass and forward + backward (dX and dW),
take the median of ``--repeats`` runs after a warm-up (``--stat min``: the
fastest run), and print milliseconds, GFLOP/s and ratios; the slow NumPy
reference gets a third of the runs. The machine may be shared and noisy, so
the backends are timed in interleaved rounds (numpy, numba, torch, numpy,
numba, torch, ...): a burst of background load then slows all of them, and
their ratios stay meaningful even when the absolute times do not.

Before timing, the Numba output, dX and dW are compared with PyTorch's.
``main(argv)`` is what ``minideeplab bench`` calls; :func:`run` returns the
measurements as a list of dicts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:
    import minideeplab as mdl
except ImportError:  # run from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import minideeplab as mdl

from minideeplab import functional as F
from minideeplab.geometry import conv_output_size


@dataclass(frozen=True)
class ConvShape:
    """One benchmark convolution: NCHW input, weight shape and conv arguments."""

    x_shape: tuple
    w_shape: tuple
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1
    what: str = ""

    def kwargs(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    groups=self.groups)

    def forward_flops(self):
        """2 * multiply-adds of the forward pass (dX and dW each cost the same again)."""
        n = self.x_shape[0]
        c_out, c_per_group, kh, kw = self.w_shape
        h_out, w_out = conv_output_size(self.x_shape[2:], (kh, kw), self.stride, self.padding,
                                        self.dilation)
        return 2 * n * c_out * h_out * w_out * c_per_group * kh * kw


SHAPES = {
    "S1": ConvShape((8, 64, 64, 64), (64, 64, 3, 3), 1, 1, 1, 1, "dense 3x3"),
    "S2": ConvShape((8, 64, 32, 32), (64, 64, 3, 3), 1, 6, 6, 1, "atrous 3x3, rate 6"),
    "S3": ConvShape((8, 64, 32, 32), (64, 64, 3, 3), 1, 12, 12, 1, "atrous 3x3, rate 12"),
    "S4": ConvShape((8, 128, 64, 64), (128, 1, 3, 3), 1, 1, 1, 128, "depthwise 3x3"),
    "S5": ConvShape((8, 128, 32, 32), (128, 1, 3, 3), 1, 6, 6, 128, "depthwise 3x3, rate 6"),
    "S6": ConvShape((8, 128, 64, 64), (256, 128, 1, 1), 1, 0, 1, 1, "pointwise 1x1"),
    "S7": ConvShape((8, 32, 128, 128), (64, 32, 3, 3), 2, 1, 1, 1, "strided 3x3, stride 2"),
}


# ------------------------------------------------------------------ the contenders

def _minideeplab_runners(shape, x, w, dout, backend):
    kwargs = shape.kwargs()

    def forward():
        with mdl.use_backend(backend):
            return F.conv2d_forward(x, w, None, **kwargs)[0]

    def forward_backward():
        with mdl.use_backend(backend):
            out, cache = F.conv2d_forward(x, w, None, **kwargs)
            dx, dw, _ = F.conv2d_backward(dout, cache)
        return out, dx, dw

    return forward, forward_backward


def _torch_runners(shape, x, w, dout):
    import torch

    kwargs = shape.kwargs()
    x_t = torch.from_numpy(x).requires_grad_(True)
    w_t = torch.from_numpy(w).requires_grad_(True)
    dout_t = torch.from_numpy(dout)

    def forward():
        with torch.no_grad():
            return torch.nn.functional.conv2d(x_t, w_t, None, **kwargs)

    def forward_backward():
        x_t.grad = None
        w_t.grad = None
        out = torch.nn.functional.conv2d(x_t, w_t, None, **kwargs)
        out.backward(dout_t)
        return out.detach().numpy(), x_t.grad.numpy(), w_t.grad.numpy()

    return forward, forward_backward


def _import_torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(2)
    return torch


def _relative_difference(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


# ------------------------------------------------------------------------ timing

SETTLE_SECONDS = 0.2

def _timed(fn):
    # Let the previous contender's idle threads stop spinning first. OpenBLAS
    # workers busy-wait for up to ~0.1 s after their last GEMM (OpenMP ones a
    # few ms), and on a 2-core machine that time is charged to whoever runs
    # next: a torch conv right after a NumPy GEMM measured 10x slower after a
    # 20 ms pause, and normal after 0.2 s.
    time.sleep(SETTLE_SECONDS)
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(shape_names=None, repeats=5, include_numpy=True, include_torch=True, verbose=True,
        stat="median"):
    """Time every requested shape; returns one dict per shape.

    Keys: ``shape``, ``what``, ``gflop`` (forward), and for each backend present
    ``<backend>_forward`` / ``<backend>_forward_backward`` in seconds (the
    median of the timed runs, or with ``stat="min"`` the fastest, which is
    the better estimate when other programs load the machine), plus
    ``torch_max_rel_diff`` (Numba vs PyTorch, worst of out, dX, dW).
    """
    summarise = {"median": statistics.median, "min": min}[stat]
    shape_names = list(SHAPES) if shape_names is None else list(shape_names)
    torch = _import_torch() if include_torch else None
    backends = (["numpy"] if include_numpy else []) + ["numba"]
    results = []
    for name in shape_names:
        shape = SHAPES[name]
        rng = np.random.default_rng(0)
        x = rng.standard_normal(shape.x_shape).astype(np.float32)
        w = (rng.standard_normal(shape.w_shape) * 0.1).astype(np.float32)
        with mdl.use_backend("numba"):
            out = F.conv2d_forward(x, w, None, **shape.kwargs())[0]
        dout = rng.standard_normal(out.shape).astype(np.float32)

        runners = {b: _minideeplab_runners(shape, x, w, dout, b) for b in backends}
        if torch is not None:
            runners["torch"] = _torch_runners(shape, x, w, dout)
        row = {"shape": name, "what": shape.what, "gflop": shape.forward_flops() / 1e9}

        # warm-up: compiles the Numba kernels, fills caches, and gives the outputs to compare
        outputs = {b: runners[b][1]() for b in runners if b != "numpy"}
        if torch is not None:
            row["torch_max_rel_diff"] = max(
                _relative_difference(mine, theirs)
                for mine, theirs in zip(outputs["numba"], outputs["torch"], strict=True))
        for b in runners:
            runners[b][0]()

        times = {(b, kind): [] for b in runners for kind in ("forward", "forward_backward")}
        # the NumPy reference is slow: fewer rounds of it are enough for its ratio
        numpy_rounds = max(1, repeats // 3)
        for round_index in range(repeats):
            for b, (forward, forward_backward) in runners.items():
                if b == "numpy" and round_index >= numpy_rounds:
                    continue
                times[(b, "forward")].append(_timed(forward))
                times[(b, "forward_backward")].append(_timed(forward_backward))
        for (b, kind), samples in times.items():
            row[f"{b}_{kind}"] = summarise(samples)
        results.append(row)
        if verbose:
            print(f"  {name} done", file=sys.stderr, flush=True)
    return results


# ---------------------------------------------------------------------- printing

def format_table(results):
    """The results as a plain-text table (times in ms, ratios as 'x')."""
    has_numpy = any("numpy_forward" in r for r in results)
    has_torch = any("torch_forward" in r for r in results)
    lines = []
    for kind, label, flop_factor in (("forward", "forward", 1), ("forward_backward",
                                                                    "forward + backward", 3)):
        header = f"{label:<20}{'GFLOP':>7}"
        if has_numpy:
            header += f"{'numpy ms':>11}"
        header += f"{'numba ms':>11}{'GFLOP/s':>9}"
        if has_torch:
            header += f"{'torch ms':>11}{'GFLOP/s':>9}{'numba/torch':>13}"
        if has_numpy:
            header += f"{'numpy/numba':>13}"
        lines += [header, "-" * len(header)]
        for r in results:
            gflop = r["gflop"] * flop_factor
            numba = r[f"numba_{kind}"]
            line = f"{r['shape'] + ' ' + r['what']:<20.20}{gflop:>7.2f}"
            if has_numpy:
                line += f"{r[f'numpy_{kind}'] * 1e3:>11.1f}"
            line += f"{numba * 1e3:>11.2f}{gflop / numba:>9.1f}"
            if has_torch:
                torch_time = r[f"torch_{kind}"]
                line += f"{torch_time * 1e3:>11.2f}{gflop / torch_time:>9.1f}"
                line += f"{numba / torch_time:>12.2f}x"
            if has_numpy:
                line += f"{r[f'numpy_{kind}'] / numba:>12.1f}x"
            lines.append(line)
        lines.append("")
    if has_torch:
        worst = max(r["torch_max_rel_diff"] for r in results)
        lines.append(f"numba vs torch, worst max-abs difference / max-abs value "
                     f"(out, dX, dW, float32): {worst:.1e}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench_conv", description="Time conv2d forward and backward: numpy, numba, torch.")
    parser.add_argument("--shapes", default=",".join(SHAPES),
                        help=f"comma-separated subset of {','.join(SHAPES)} (default: all)")
    parser.add_argument("--repeats", type=int, default=7,
                        help="timed runs per backend after a warm-up; the median is reported")
    parser.add_argument("--no-numpy", action="store_true",
                        help="skip the (slow) NumPy reference")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    parser.add_argument("--stat", choices=("median", "min"), default="median",
                        help="summary of the timed runs (min: for a machine other programs load)")
    args = parser.parse_args(argv)

    names = [s.strip().upper() for s in args.shapes.split(",") if s.strip()]
    unknown = [s for s in names if s not in SHAPES]
    if unknown:
        parser.error(f"unknown shapes {unknown}; choose from {list(SHAPES)}")
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if not mdl.backend.numba_available():
        print("numba is not installed: nothing to benchmark", file=sys.stderr)
        return 1

    results = run(names, args.repeats, include_numpy=not args.no_numpy,
                  include_torch=not args.no_torch, stat=args.stat)
    print(f"conv2d, float32, batch 8, {args.stat} of {args.repeats} runs "
          f"(times in ms; ratios > 1 mean the first one is slower)\n")
    for name in names:
        s = SHAPES[name]
        print(f"  {name}: x {s.x_shape}  w {s.w_shape}  stride {s.stride}  padding {s.padding}  "
              f"dilation {s.dilation}  groups {s.groups}")
    print()
    print(format_table(results))
    # float32 through different summation orders: a few 1e-6 is agreement, 1e-3 a bug
    if any(r.get("torch_max_rel_diff", 0.0) > 1e-4 for r in results):
        print("ERROR: numba and torch disagree", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
