"""Benchmark conv2d: the NumPy reference, the Numba kernels and (when installed) PyTorch.

    python benchmarks/bench_conv.py                    # every shape, back to back
    python benchmarks/bench_conv.py --shapes S1,S4 --blocks 7 --no-numpy
    python benchmarks/bench_conv.py --cold             # the cold regime, for comparison

The shapes are the convolutions DeepLabV3+ spends its time in, at batch 8 in
float32: a dense 3x3 (S1), the ASPP's atrous 3x3 at rates 6 and 12 (S2, S3),
depthwise 3x3 plain and atrous (S4, S5), a pointwise 1x1 (S6) and a strided
3x3 (S7). For each we time the forward pass and forward + backward (dX and dW)
**back to back, as training runs them** (:mod:`minideeplab.timing`: a warm-up,
then blocks of ``--calls`` calls of one contender, the blocks interleaved
between contenders, the fastest block's median), with 2 threads on every
side. ``--cold`` sleeps 0.2 s before every call instead: that regime measures
how fast idle thread pools wake up, and is labelled as such.

Beside each convolution's GFLOP/s stands the **GEMM peak**: a 1024^3 float32
matrix product in NumPy's BLAS, timed the same way in the same run. It is the
limit a convolution computed as matrix products can reach.

Before timing, the Numba output, dX and dW are compared with PyTorch's.
``main(argv)`` is what ``minideeplab bench`` calls; :func:`run` returns the
measurements as a list of dicts.
"""

from __future__ import annotations

import argparse
import sys
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
from minideeplab.timing import time_interleaved

THREADS = 2
# Seconds of pause before each block, then an untimed call (timing.time_interleaved):
# after its block, the NumPy reference's OpenBLAS threads and PyTorch's OpenMP threads
# keep spinning for a while and took a core from the next contender (the Numba S2
# forward measured 9.2 ms right after NumPy's block, 5.3 ms without NumPy in the run).
BLOCK_GAP = 0.2
GEMM_SIZE = 1024
# float32 through different summation orders: a few 1e-6 is agreement, 1e-3 a bug
TOLERANCE = 1e-4


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

    def takes_winograd(self):
        """Whether the Numba forward, dX and dW run Winograd's F(3x3, 3x3) (kernels/winograd.py)."""
        from minideeplab.kernels import winograd
        out = conv_output_size(self.x_shape[2:], self.w_shape[2:], self.stride, self.padding,
                               self.dilation)
        stride, padding, dilation = ((v, v) for v in (self.stride, self.padding, self.dilation))
        return winograd.applies(self.w_shape, stride, padding, dilation, self.groups, out)


SHAPES = {
    "S1": ConvShape((8, 64, 64, 64), (64, 64, 3, 3), 1, 1, 1, 1, "dense 3x3"),
    "S2": ConvShape((8, 64, 32, 32), (64, 64, 3, 3), 1, 6, 6, 1, "atrous 3x3, rate 6"),
    "S3": ConvShape((8, 64, 32, 32), (64, 64, 3, 3), 1, 12, 12, 1, "atrous 3x3, rate 12"),
    "S4": ConvShape((8, 128, 64, 64), (128, 1, 3, 3), 1, 1, 1, 128, "depthwise 3x3"),
    "S5": ConvShape((8, 128, 32, 32), (128, 1, 3, 3), 1, 6, 6, 128, "depthwise 3x3, rate 6"),
    "S6": ConvShape((8, 128, 64, 64), (256, 128, 1, 1), 1, 0, 1, 1, "pointwise 1x1"),
    "S7": ConvShape((8, 32, 128, 128), (64, 32, 3, 3), 2, 1, 1, 1, "strided 3x3, stride 2"),
}


# ------------------------------------------------------------------ set-up

def import_torch(threads=THREADS):
    """PyTorch with ``threads`` threads, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def set_threads(threads=THREADS):
    """The Numba kernels use ``threads`` threads (our pool, see kernels/_threads.py)."""
    from minideeplab.kernels import _threads

    _threads.set_num_threads(threads)
    return threads


def relative_difference(a, b):
    """``max|a - b| / max|b|``: one number for "how different", insensitive to scale."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def gemm_peak(blocks=5, calls=10, cold=False, threads=THREADS):
    """GFLOP/s of a ``GEMM_SIZE``^3 float32 matrix product in NumPy's BLAS (``threads`` threads).

    Timed like everything else (see :mod:`minideeplab.timing`); returns a dict
    with ``gflops``, ``seconds`` and ``size``.
    """
    from minideeplab.kernels._threads import blas_threads

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((GEMM_SIZE, GEMM_SIZE)).astype(np.float32) for _ in range(2))
    product = np.empty_like(a)
    with blas_threads(threads):
        timing = time_interleaved({"gemm": lambda: np.matmul(a, b, out=product)},
                                  blocks=blocks, calls=calls, cold=cold)["gemm"]
    return {"gflops": 2 * GEMM_SIZE**3 / timing.seconds / 1e9, "seconds": timing.seconds,
            "size": GEMM_SIZE}


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


def _torch_runners(torch, shape, x, w, dout):
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


# ------------------------------------------------------------------------ timing

KINDS = ("forward", "forward_backward")


def run(shape_names=None, blocks=5, calls=10, include_numpy=True, include_torch=True,
        cold=False, verbose=True, threads=THREADS):
    """Time every requested shape; returns one dict per shape.

    Keys: ``shape``, ``what``, ``gflop`` (forward), ``winograd`` (whether the Numba
    forward and dX take the Winograd route), ``regime``, and for each
    contender present ``<contender>_forward`` / ``<contender>_forward_backward``
    in seconds (the fastest block's median), plus ``torch_max_rel_diff``
    (Numba vs PyTorch, worst of out, dX, dW) and ``numpy_max_rel_diff``. The
    slow NumPy reference gets 2 calls per block.
    """
    shape_names = list(SHAPES) if shape_names is None else list(shape_names)
    torch = import_torch(threads) if include_torch else None
    set_threads(threads)
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
            runners["torch"] = _torch_runners(torch, shape, x, w, dout)
        row = {"shape": name, "what": shape.what, "gflop": shape.forward_flops() / 1e9,
               "winograd": shape.takes_winograd()}

        # the same numbers first (this also compiles or loads the Numba kernels)
        outputs = {b: runners[b][1]() for b in runners}
        for other in ("torch", "numpy"):
            if other in outputs:
                row[f"{other}_max_rel_diff"] = max(
                    relative_difference(mine, theirs)
                    for mine, theirs in zip(outputs["numba"], outputs[other], strict=True))

        contenders = {f"{b} {kind}": runners[b][index] for b in runners
                      for index, kind in enumerate(KINDS)}
        few = {f"numpy {kind}": 2 for kind in KINDS}
        timings = time_interleaved(contenders, blocks=blocks,
                                   calls={name: few.get(name, calls) for name in contenders},
                                   cold=cold, between_blocks=BLOCK_GAP)
        for label, timing in timings.items():
            backend, kind = label.split(" ")
            row[f"{backend}_{kind}"] = timing.seconds
            row["regime"] = timing.regime
        results.append(row)
        if verbose:
            print(f"  {name} done", file=sys.stderr, flush=True)
    return results


# ---------------------------------------------------------------------- printing

def format_table(results, peak=None):
    """The results as a plain-text table (times in ms, ratios as 'x').

    ``peak`` (from :func:`gemm_peak`) adds each Numba convolution's GFLOP/s as
    a share of the GEMM peak.
    """
    has_numpy = any("numpy_forward" in r for r in results)
    has_torch = any("torch_forward" in r for r in results)
    lines = []
    if peak is not None:
        lines += [f"GEMM peak (float32 {peak['size']}^3 matmul, NumPy's BLAS, same run): "
                  f"{peak['gflops']:.0f} GFLOP/s", ""]
    for kind, label, flop_factor in (("forward", "forward", 1),
                                     ("forward_backward", "forward + backward", 3)):
        header = f"{label:<20}{'GFLOP':>7}"
        if has_numpy:
            header += f"{'numpy ms':>10}"
        header += f"{'numba ms':>10}{'GFLOP/s':>9}"
        if peak is not None:
            header += f"{'of peak':>9}"
        if has_torch:
            header += f"{'torch ms':>10}{'GFLOP/s':>9}{'numba/torch':>13}"
        if has_numpy:
            header += f"{'numpy/numba':>13}"
        lines += [header, "-" * len(header)]
        for r in results:
            gflop = r["gflop"] * flop_factor
            numba = r[f"numba_{kind}"]
            mark = "*" if r.get("winograd") else " "
            line = f"{r['shape'] + mark + r['what']:<20.20}{gflop:>7.2f}"
            if has_numpy:
                line += f"{r[f'numpy_{kind}'] * 1e3:>10.1f}"
            line += f"{numba * 1e3:>10.2f}{gflop / numba:>9.1f}"
            if peak is not None:
                line += f"{gflop / numba / peak['gflops']:>9.0%}"
            if has_torch:
                torch_time = r[f"torch_{kind}"]
                line += f"{torch_time * 1e3:>10.2f}{gflop / torch_time:>9.1f}"
                line += f"{numba / torch_time:>12.2f}x"
            if has_numpy:
                line += f"{r[f'numpy_{kind}'] / numba:>12.1f}x"
            lines.append(line)
        lines.append("")
    if any(r.get("winograd") for r in results):
        lines += ["GFLOP/s counts the direct sum's multiply-adds (2 FLOPs each). * : Numba's "
                  "forward, dX and dW run Winograd's", "F(3x3, 3x3): 25 products per 3x3 tile "
                  "instead of 81, so these can pass the GEMM peak (kernels/winograd.py).", ""]
    if has_torch:
        worst = max(r["torch_max_rel_diff"] for r in results)
        lines.append(f"numba vs torch, worst max-abs difference / max-abs value "
                     f"(out, dX, dW, float32): {worst:.1e}")
    else:
        lines.append("PyTorch is not installed: no torch columns (pip install torch)")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench_conv", description="Time conv2d forward and backward, back to back: "
                                       "numpy, numba, torch; with the GEMM peak of this machine.")
    parser.add_argument("--shapes", default=",".join(SHAPES),
                        help=f"comma-separated subset of {','.join(SHAPES)} (default: all)")
    parser.add_argument("--blocks", type=int, default=5,
                        help="interleaved blocks per contender (5); the fastest block counts")
    parser.add_argument("--calls", type=int, default=10,
                        help="timed calls per block (10; the NumPy reference: 2); their median")
    parser.add_argument("--cold", action="store_true",
                        help="the cold regime: sleep 0.2 s before every call (idle thread "
                             "pools wake up inside the timing), for comparison only")
    parser.add_argument("--no-numpy", action="store_true",
                        help="skip the (slow) NumPy reference")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    parser.add_argument("--threads", type=int, default=THREADS,
                        help=f"threads for Numba, PyTorch and the GEMM peak ({THREADS})")
    args = parser.parse_args(argv)

    names = [s.strip().upper() for s in args.shapes.split(",") if s.strip()]
    unknown = [s for s in names if s not in SHAPES]
    if unknown:
        parser.error(f"unknown shapes {unknown}; choose from {list(SHAPES)}")
    for option in ("blocks", "calls", "threads"):
        if getattr(args, option) < 1:
            parser.error(f"--{option} must be >= 1")
    if not mdl.backend.numba_available():
        print("numba is not installed: nothing to benchmark", file=sys.stderr)
        return 1

    peak = gemm_peak(args.blocks, args.calls, args.cold, args.threads)
    results = run(names, args.blocks, args.calls, include_numpy=not args.no_numpy,
                  include_torch=not args.no_torch, cold=args.cold, threads=args.threads)
    regime = results[0]["regime"]
    print(f"conv2d, float32, batch 8, {args.threads} threads, {regime}: the fastest of "
          f"{args.blocks} interleaved blocks of {args.calls} calls, its median "
          f"(times in ms; ratios > 1 mean the first one is slower)\n")
    for name in names:
        s = SHAPES[name]
        print(f"  {name}: x {s.x_shape}  w {s.w_shape}  stride {s.stride}  padding {s.padding}  "
              f"dilation {s.dilation}  groups {s.groups}")
    print()
    print(format_table(results, peak))
    worst = max(max(r.get("torch_max_rel_diff", 0.0), r.get("numpy_max_rel_diff", 0.0))
                for r in results)
    if worst > TOLERANCE:
        print("ERROR: numba disagrees with torch or numpy", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
