"""Every performance figure in one run, back to back, against PyTorch when it is installed.

    python benchmarks/bench_performance.py            # about 5 minutes on 2 cores
    python benchmarks/bench_performance.py --quick    # fewer blocks, no NumPy conv column
    minideeplab bench performance

All float32 with 2 threads on every side, timed **back to back, as training
runs** (:mod:`minideeplab.timing`: a warm-up, then blocks of repeated calls of
one contender, interleaved between contenders, the fastest block's median).
``--cold`` times the speed parts in the cold regime instead (a pause before
every call), labelled as such. Six parts:

1. **GEMM peak and convolutions** S1-S7 (``bench_conv.py``): forward and
   forward + backward, NumPy reference, Numba and PyTorch; each convolution's
   GFLOP/s beside the float32 GEMM peak of this machine's BLAS, measured in
   the same run.
2. **Training steps** (``bench_model.py``) of the default model at batch 8
   and 16 on 64x64 images and batch 8 on 128x128: NumPy, Numba, PyTorch.
3. **What the threads buy**: the Numba kernels on 1 thread and on 2 (our
   pool, ``kernels/_threads.py``), a dense convolution and a training step.
4. **Memory** and 5. **start-up** (``fresh_process.py``: each in a fresh process).
6. **The issue's targets**: every figure above against its target and against
   the ratios measured before this work.

Speeds are ratios measured in one run: background load slows every contender
alike (their blocks are interleaved); read the ratios, not the milliseconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import bench_conv  # noqa: E402
import bench_model  # noqa: E402
import fresh_process  # noqa: E402

from minideeplab.timing import time_interleaved  # noqa: E402  (bench_conv found the package)

# numba / torch, back to back, before this work (the table of issue 15)
BEFORE = {"S1": 1.34, "S2": 1.73, "S3": 1.24, "S4": 0.66, "S5": 0.32, "S6": 0.50, "S7": 1.02,
          (8, 64): 1.38, (16, 64): 1.23}
BEFORE_NUMPY = {(8, 64): 2.6, (16, 64): 4.0}        # numpy / torch, training step
BEFORE_FIRST_STEP = 18.0                             # seconds, empty Numba cache
BEFORE_PEAK_MIB = 171                                # numba, training at batch 8
# The same figure for the commit before this work (ba99e43), measured on the
# 2-core machine these figures come from by that commit's own benchmark
# (VmHWM, 10 steps): 216 MiB, of which `import numba` alone (numba 0.68) is
# 146 MiB there. The 171 MiB came from another setting.
BEFORE_PEAK_MIB_HERE = 216


def measure_threads(blocks, calls, cold, log):
    """Numba on 1 and on 2 threads: S1 forward + backward and a training step at batch 8."""
    import numpy as np

    import minideeplab as mdl
    from minideeplab import functional as F
    from minideeplab.allocator import reuse_freed_memory
    from minideeplab.optim import SGD

    shape = bench_conv.SHAPES["S1"]
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape.x_shape).astype(np.float32)
    w = (rng.standard_normal(shape.w_shape) * 0.1).astype(np.float32)
    dout = rng.standard_normal(x.shape[:1] + shape.w_shape[:1] + x.shape[2:]).astype(np.float32)
    images, masks = mdl.datasets.make_shapes(8, size=64, seed=0)
    model = mdl.models.DeepLabV3Plus(bench_model.NUM_CLASSES)
    optimizer = SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)

    def conv():
        out, cache = F.conv2d_forward(x, w, None, **shape.kwargs())
        F.conv2d_backward(dout, cache)

    def step():
        bench_model.training_step(model, optimizer, images, masks)

    def on(threads, work):
        def run():
            bench_conv.set_threads(threads)
            with mdl.use_backend("numba"):
                work()
        return run

    log("threads: 1 and 2 ...")
    contenders = {f"{what}, {threads} thread{'s' * (threads > 1)}": on(threads, work)
                  for what, work in (("S1 forward + backward", conv), ("training step 8x64", step))
                  for threads in (1, 2)}
    with reuse_freed_memory():                       # as train() runs its steps
        timings = time_interleaved(contenders, blocks=blocks, calls=calls, cold=cold,
                                   between_blocks=bench_conv.BLOCK_GAP)
    bench_conv.set_threads(bench_conv.THREADS)
    return {name: timing.seconds for name, timing in timings.items()}


def format_threads(seconds):
    lines = [f"{'numba, fastest block median':<40}{'ms':>9}{'2 threads vs 1':>16}", "-" * 65]
    for name, value in seconds.items():
        line = f"{name:<40}{value * 1e3:>9.2f}"
        if name.endswith("2 threads"):
            one = seconds[name.replace("2 threads", "1 thread")]
            line += f"{one / value:>15.2f}x"
        lines.append(line)
    return "\n".join(lines)


def _verdict(value, target):
    return "met" if value <= target else "NOT met"


def format_targets(conv_results, step_results, memory_rows, startup):
    """The issue's targets: this run against the target and against the figures before."""
    lines = [f"{'figure':<44}{'before':>8}{'now':>8}{'target':>9}   ", "-" * 76]

    def row(what, before, now, target, unit="x"):
        before_text = f"{before:.2f}{unit}" if before is not None else "-"
        lines.append(f"{what:<44}{before_text:>8}{now:>7.2f}{unit}{'<= ' + format(target, 'g'):>9}"
                     f"   {_verdict(now, target)}")

    for r in conv_results:
        if "torch_forward_backward" not in r:
            continue
        row(f"{r['shape']} {r['what']}: fwd+bwd numba/torch", BEFORE.get(r["shape"]),
            r["numba_forward_backward"] / r["torch_forward_backward"], 1.0)
        row(f"{r['shape']} {r['what']}: forward numba/torch", None,
            r["numba_forward"] / r["torch_forward"], 1.2)
    for r in step_results:
        key = (r["batch"], r["size"])
        if "torch" in r:
            row(f"{r['what']}: numba/torch", BEFORE.get(key), r["numba"] / r["torch"], 1.0)
            if "numpy" in r:
                row(f"{r['what']}: numpy/torch", BEFORE_NUMPY.get(key), r["numpy"] / r["torch"],
                    2.5)
    if startup is not None:
        row("first step, empty Numba cache (s, whole process)", BEFORE_FIRST_STEP,
            startup["cold"]["total"], 8.0, "s")
    if memory_rows is not None:
        numba = next(r for r in memory_rows if r["what"] == "train batch 8, numba")
        row("peak memory, batch 8, numba (MiB): issue's", BEFORE_PEAK_MIB,
            numba["peak"] / 2**20, BEFORE_PEAK_MIB, "")
        row("peak memory, batch 8, numba (MiB): base here", BEFORE_PEAK_MIB_HERE,
            numba["peak"] / 2**20, BEFORE_PEAK_MIB_HERE, "")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench_performance",
        description="Every performance figure in one run, back to back: GEMM peak, "
                    "convolutions, training steps, threads, memory and start-up, against "
                    "PyTorch when it is installed.")
    parser.add_argument("--quick", action="store_true",
                        help="3 blocks of 5 calls, no NumPy column in the convolution table")
    parser.add_argument("--blocks", type=int, default=None,
                        help="interleaved blocks per contender (5; --quick: 3)")
    parser.add_argument("--calls", type=int, default=None,
                        help="timed calls per block (10; --quick: 5)")
    parser.add_argument("--cold", action="store_true",
                        help="time the speed parts in the cold regime (a pause before every "
                             "call), for comparison only")
    parser.add_argument("--memory-steps", type=int, default=10,
                        help="training steps in the memory measurement (10)")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    parser.add_argument("--smoke", action="store_true",
                        help="does it run? one convolution shape and a tiny training step, one "
                             "call each, no fresh processes: seconds, and no figure to quote")
    args = parser.parse_args(argv)
    if args.smoke:
        args.blocks = args.calls = 1
    blocks = args.blocks or (3 if args.quick else 5)
    calls = args.calls or (5 if args.quick else 10)
    if blocks < 1 or calls < 1 or args.memory_steps < 1:
        parser.error("--blocks, --calls and --memory-steps must be >= 1")

    import numpy as np

    import minideeplab as mdl

    if not mdl.backend.numba_available():
        print("numba is not installed: nothing to benchmark", file=sys.stderr)
        return 1

    def log(message):
        print(f"  {message}", file=sys.stderr, flush=True)

    torch = None if args.no_torch else bench_conv.import_torch()
    bench_conv.set_threads()
    started = time.perf_counter()
    load_before = bench_model.load_average()

    log("1. GEMM peak and convolutions S1-S7 ...")
    peak = bench_conv.gemm_peak(blocks, calls, args.cold)
    conv_results = bench_conv.run(["S5"] if args.smoke else None, blocks, calls,
                                  include_numpy=not (args.quick or args.smoke),
                                  include_torch=torch is not None, cold=args.cold)
    log("2. training steps ...")
    step_results = []
    for batch, size in [(2, 16)] if args.smoke else bench_model.DEFAULT_STEPS:
        step_results.append(bench_model.bench_training_step(batch, size, torch, log, True,
                                                            blocks, calls, args.cold))
        if step_results[-1].get("check_loss", 0.0) > bench_conv.TOLERANCE:
            print(f"ERROR: minideeplab and torch losses differ by "
                  f"{step_results[-1]['check_loss']:.1e} (relative)", file=sys.stderr)
            return 1
    if args.smoke:
        print(bench_conv.format_table(conv_results, peak))
        print(bench_model.format_table(step_results))
        print("smoke run: one call of each, no figures to quote")
        return 0
    threads = measure_threads(blocks, calls, args.cold, log)
    allocator_rows = fresh_process.measure_allocator(16, 64, blocks, calls, log) \
        if torch is not None else None
    memory_rows = fresh_process.measure_memory(args.memory_steps, torch is not None, log)
    startup = fresh_process.measure_startup(3, log)

    regime = conv_results[0]["regime"]
    print(f"minideeplab performance, float32, 2 threads, {regime}: the fastest of {blocks} "
          f"interleaved blocks of {calls} calls (NumPy reference: 2), its median; "
          f"ratios > 1 mean the first is slower")
    versions = f"numpy {np.__version__}"
    versions += f", torch {torch.__version__}" if torch is not None else \
        "; PyTorch is not installed: no torch figures (pip install torch)"
    print(f"{versions}; {load_before} before, {bench_model.load_average()} after; "
          f"{os.cpu_count()} cores; {time.perf_counter() - started:.0f} s in all\n")
    print("1. conv2d, batch 8 (bench_conv.py)\n")
    print(bench_conv.format_table(conv_results, peak))
    print("\n2. one training step of DeepLabV3Plus(5) (bench_model.py)\n")
    print(bench_model.format_table(step_results))
    print("\n3. what the threads buy (our pool, kernels/_threads.py)\n")
    print(format_threads(threads))
    if allocator_rows is not None:
        print("\n   and what reusing freed memory buys (allocator.py, as train() runs)\n")
        print(fresh_process.format_allocator(allocator_rows, 16, 64))
    print("\n4. memory (fresh_process.py)\n")
    print(fresh_process.format_memory(memory_rows))
    print("\n5. start-up (fresh_process.py)\n")
    print(fresh_process.format_startup(startup))
    if torch is not None:
        print("\n6. the targets set for this work (issue 15 of the tracker; before: the figures "
              "measured when they were set, the same way)\n")
        print(format_targets(conv_results, step_results, memory_rows, startup))
    return 0


if __name__ == "__main__":
    sys.exit(main())
