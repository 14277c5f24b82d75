"""Benchmark the whole model: minideeplab (Numba, NumPy) against the same network in PyTorch.

    python benchmarks/bench_model.py                     # everything, a few minutes
    python benchmarks/bench_model.py --repeats 3 --no-numpy
    minideeplab bench model --size 96 --batch 4

Two measurements, both in float32 with 2 threads (``torch.set_num_threads(2)``
and ``numba.set_num_threads(2)``; ``--threads`` changes it), in one run:

1. **forward + backward** of the default model, ``DeepLabV3Plus(5)``, in
   training mode at ``--batch`` 8 on ``--size`` 128 x 128 images, with a random
   upstream gradient: NumPy backend, Numba backend and PyTorch. Both sides
   compute the input gradient too (minideeplab always does; the torch input
   gets ``requires_grad=True``), so they do the same work.
2. **one training step** (forward, cross-entropy, backward, SGD with momentum
   0.9 and weight decay 1e-4) at batch 8 and 16 on 64 x 64 shapes images,
   the training configuration: Numba against PyTorch. Here torch skips the
   input gradient (nothing asks for it) while minideeplab's hand-written
   backward computes it anyway: that is part of its cost.

The PyTorch network is ``to_torch(model)``: the identical architecture with
minideeplab's weights loaded. Before timing anything the script **checks**
that the two give the same logits (float32 tolerance) in eval mode and in
training mode (dropout off for the check, since the two libraries draw
different masks), and the same loss; it stops with an error if they do not.

The first table gives the median of ``--repeats`` runs after a warm-up (the
first Numba call compiles its kernels, or loads them from the cache: its time
is reported separately), the second the fastest run. The contenders are timed
in interleaved rounds (numpy, numba, torch, numpy, numba, torch, ...) so that
a burst of background load slows all of them alike, and the machine's load
average is printed before and after. On a shared 2-core machine other
processes matter a great deal: two threads that synchronise at every parallel
loop wait for whichever one the scheduler has put aside, and a pass that takes
0.1 s on an idle machine can take seconds. With a load average above the
number of cores, read the fastest-run table (or try ``--threads 1``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

try:
    import minideeplab as mdl
except ImportError:  # run from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import minideeplab as mdl

from minideeplab import functional as F
from minideeplab.nn import Dropout

NUM_CLASSES = 5
THREADS = 2
# float32 through different summation orders: ~1e-6 is agreement, 1e-3 is a bug
LOGITS_TOLERANCE = 1e-4
SETTLE_SECONDS = 0.02


# ------------------------------------------------------------------------ set-up

def _import_torch(threads):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def _set_numba_threads(threads):
    """Use ``threads`` Numba threads (or as many as Numba has, if fewer); returns the number."""
    import numba

    threads = min(threads, numba.config.NUMBA_NUM_THREADS)
    numba.set_num_threads(threads)
    return threads


def _relative_difference(a, b):
    """``max|a - b| / max|b|``: one number for "how different", insensitive to scale."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


class _dropout_off:
    """Set every dropout probability to 0 inside a ``with`` block (both libraries)."""

    def __init__(self, model, twin):
        self.layers = [m for m in model.modules() if isinstance(m, Dropout)]
        if twin is not None:
            import torch

            self.layers += [m for m in twin.modules() if isinstance(m, torch.nn.Dropout)]

    def __enter__(self):
        self.saved = [layer.p for layer in self.layers]
        for layer in self.layers:
            layer.p = 0.0

    def __exit__(self, *exc):
        for layer, p in zip(self.layers, self.saved, strict=True):
            layer.p = p
        return False


def _timed(fn):
    # Let the previous contender's idle threads stop spinning first: OpenMP and
    # BLAS workers busy-wait for a while after their last job, and on a 2-core
    # machine that would be charged to whoever runs next.
    time.sleep(SETTLE_SECONDS)
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _time_rounds(runners, repeats, few=()):
    """Seconds per runner over interleaved rounds; ``few`` get a third of the rounds.

    Returns ``{name: median, "fastest": {name: minimum}}``: the median is the
    typical time, the minimum the one least disturbed by other processes.
    """
    samples = {name: [] for name in runners}
    few_rounds = max(1, repeats // 3)
    for round_index in range(repeats):
        for name, fn in runners.items():
            if name in few and round_index >= few_rounds:
                continue
            samples[name].append(_timed(fn))
    result = {name: statistics.median(times) for name, times in samples.items()}
    result["fastest"] = {name: min(times) for name, times in samples.items()}
    return result


# ------------------------------------------------------- 1. forward + backward

def bench_forward_backward(batch, size, repeats, include_numpy, torch, log):
    """Forward + backward of DeepLabV3Plus(5) in training mode; returns a result dict."""
    rng = np.random.default_rng(0)
    model = mdl.models.DeepLabV3Plus(NUM_CLASSES)
    images = rng.standard_normal((batch, 3, size, size)).astype(np.float32)
    grad_logits = rng.standard_normal((batch, NUM_CLASSES, size, size)).astype(np.float32)
    result = {"what": f"forward + backward, batch {batch}, {size}x{size}"}

    twin = None
    if torch is not None:
        from minideeplab.interop.torch import to_torch

        twin = to_torch(model)
        images_t = torch.from_numpy(images).requires_grad_(True)
        grad_logits_t = torch.from_numpy(grad_logits)

    # the checks come first; the first Numba call compiles (or loads) the kernels
    log("checking logits and compiling the Numba kernels ...")
    with mdl.use_backend("numba"):
        model.eval()
        start = time.perf_counter()
        logits = model(images)
        result["numba_first_call"] = time.perf_counter() - start
        if twin is not None:
            twin.eval()
            with torch.no_grad():
                result["check_eval"] = _relative_difference(logits, twin(images_t).numpy())
        model.train()
        if twin is not None:
            twin.train()
            with _dropout_off(model, twin):
                logits = model(images)
                with torch.no_grad():
                    result["check_train"] = _relative_difference(logits,
                                                                 twin(images_t).numpy())
    if twin is not None and max(result["check_eval"], result["check_train"]) > LOGITS_TOLERANCE:
        return result                                   # main() reports the mismatch

    def minideeplab_step():
        model.zero_grad()
        model(images)
        model.backward(grad_logits)

    def numba():
        with mdl.use_backend("numba"):
            minideeplab_step()

    def numpy_reference():
        with mdl.use_backend("numpy"):
            minideeplab_step()

    def pytorch():
        twin.zero_grad()
        images_t.grad = None
        twin(images_t).backward(grad_logits_t)

    runners = {}
    if include_numpy:
        runners["numpy"] = numpy_reference
    runners["numba"] = numba
    if twin is not None:
        runners["torch"] = pytorch
    log("warming up ...")
    for fn in runners.values():
        fn()
    log(f"timing {', '.join(runners)} ...")
    result.update(_time_rounds(runners, repeats, few=("numpy",)))
    return result


# --------------------------------------------------------------- 2. training step

def training_step(model, optimizer, images, masks):
    """One step of minideeplab training: forward, loss, backward, update."""
    logits = model(images)
    _, cache = F.softmax_cross_entropy_forward(logits, masks)
    model.backward(F.softmax_cross_entropy_backward(1.0, cache))
    optimizer.step()
    optimizer.zero_grad()


def bench_training_step(batch, size, repeats, torch, log, include_numpy=False):
    """One SGD training step at the training configuration; returns a result dict.

    ``include_numpy`` also times the NumPy reference (a third of the rounds).
    """
    from minideeplab.optim import SGD

    images, masks = mdl.datasets.make_shapes(batch, size=size, seed=0)
    model = mdl.models.DeepLabV3Plus(NUM_CLASSES)
    result = {"what": f"training step, batch {batch}, {size}x{size}"}
    optimizer = SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)

    twin = None
    if torch is not None:
        from minideeplab.interop.torch import to_torch

        twin = to_torch(model)
        optimizer_t = torch.optim.SGD(twin.parameters(), lr=0.01, momentum=0.9,
                                      weight_decay=1e-4)
        images_t, masks_t = torch.from_numpy(images), torch.from_numpy(masks)
        # the same loss from the same weights (dropout off: the masks would differ)
        with mdl.use_backend("numba"), _dropout_off(model, twin), torch.no_grad():
            loss = F.softmax_cross_entropy_forward(model(images), masks)[0]
            loss_t = torch.nn.functional.cross_entropy(twin(images_t), masks_t,
                                                       ignore_index=255).item()
        result["check_loss"] = abs(loss - loss_t) / abs(loss_t)
        if result["check_loss"] > LOGITS_TOLERANCE:
            return result

    def numba():
        with mdl.use_backend("numba"):
            training_step(model, optimizer, images, masks)

    def numpy_reference():
        with mdl.use_backend("numpy"):
            training_step(model, optimizer, images, masks)

    def pytorch():
        optimizer_t.zero_grad()
        loss = torch.nn.functional.cross_entropy(twin(images_t), masks_t, ignore_index=255)
        loss.backward()
        optimizer_t.step()

    runners = {"numpy": numpy_reference} if include_numpy else {}
    runners["numba"] = numba
    if twin is not None:
        runners["torch"] = pytorch
    log("warming up ...")
    for fn in runners.values():
        fn()
    log(f"timing {', '.join(runners)} ...")
    result.update(_time_rounds(runners, repeats, few=("numpy",)))
    return result


# ----------------------------------------------------------------------- report

def _ms(result, key):
    return f"{result[key] * 1e3:>10.1f}" if key in result else f"{'-':>10}"


def _ratio(result, top, bottom):
    if top not in result or bottom not in result:
        return f"{'-':>13}"
    return f"{result[top] / result[bottom]:>12.2f}x"


def format_table(results, statistic="median"):
    """The results as a plain-text table: milliseconds and ratios (> 1: the first is slower).

    ``statistic`` is "median" or "fastest" (the minimum over the runs).
    """
    header = (f"{statistic + ' of the runs':<38}{'numpy ms':>10}{'numba ms':>10}{'torch ms':>10}"
              f"{'numpy/numba':>13}{'numba/torch':>13}")
    lines = [header, "-" * len(header)]
    for result in results:
        r = {"what": result["what"], **(result if statistic == "median" else result["fastest"])}
        lines.append(f"{r['what']:<38}{_ms(r, 'numpy')}{_ms(r, 'numba')}{_ms(r, 'torch')}"
                     f"{_ratio(r, 'numpy', 'numba')}{_ratio(r, 'numba', 'torch')}")
    return "\n".join(lines)


def _load():
    try:
        return "load average %.2f %.2f %.2f (1, 5, 15 min)" % os.getloadavg()
    except OSError:
        return "load average unavailable"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench_model",
        description="Time DeepLabV3Plus(5) forward + backward (numpy, numba, torch) and a "
                    "training step (numba, torch), float32, 2 threads.")
    parser.add_argument("--size", type=int, default=128,
                        help="image side for forward + backward (128)")
    parser.add_argument("--batch", type=int, default=8, help="batch for forward + backward (8)")
    parser.add_argument("--train-size", type=int, default=64,
                        help="image side for the training step (64, the training configuration)")
    parser.add_argument("--train-batches", default="8,16",
                        help="comma-separated batch sizes for the training step (8,16)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed runs per contender after a warm-up; the median is reported")
    parser.add_argument("--no-numpy", action="store_true", help="skip the (slow) NumPy reference")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    parser.add_argument("--threads", type=int, default=THREADS,
                        help=f"threads for Numba and PyTorch ({THREADS})")
    args = parser.parse_args(argv)
    try:
        train_batches = [int(b) for b in args.train_batches.split(",") if b.strip()]
    except ValueError:
        parser.error(f"--train-batches must be comma-separated ints, got {args.train_batches!r}")
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if args.threads < 1:
        parser.error("--threads must be >= 1")
    if args.batch < 2 or any(b < 2 for b in train_batches):
        parser.error("batch sizes must be >= 2 (training-mode BatchNorm after ASPP's image "
                     "pooling needs two values per channel)")
    if args.size < 16 or args.train_size < 16:
        parser.error("image sizes must be >= 16")
    if not mdl.backend.numba_available():
        print("numba is not installed: nothing to benchmark", file=sys.stderr)
        return 1

    def log(message):
        print(f"  {message}", file=sys.stderr, flush=True)

    torch = None if args.no_torch else _import_torch(args.threads)
    numba_threads = _set_numba_threads(args.threads)
    load_before = _load()

    results = [bench_forward_backward(args.batch, args.size, args.repeats, not args.no_numpy,
                                      torch, log)]
    first = results[0]
    if torch is not None and max(first["check_eval"], first["check_train"]) > LOGITS_TOLERANCE:
        print(f"ERROR: minideeplab and torch logits differ: max|diff| / max|logits| = "
              f"{first['check_eval']:.1e} (eval), {first['check_train']:.1e} (train); "
              f"tolerance {LOGITS_TOLERANCE:.0e}. Nothing was timed.", file=sys.stderr)
        return 1
    for batch in train_batches:
        results.append(bench_training_step(batch, args.train_size, args.repeats, torch, log))
        if results[-1].get("check_loss", 0.0) > LOGITS_TOLERANCE:
            print(f"ERROR: minideeplab and torch losses differ by "
                  f"{results[-1]['check_loss']:.1e} (relative). Stopped.", file=sys.stderr)
            return 1

    print(f"DeepLabV3Plus({NUM_CLASSES}), float32, training mode; median of {args.repeats} "
          f"runs after a warm-up (the NumPy reference: {max(1, args.repeats // 3)})")
    versions = f"numpy {np.__version__}, numba threads {numba_threads}"
    if torch is not None:
        versions += f", torch {torch.__version__} threads {torch.get_num_threads()}"
    print(versions)
    print(f"before: {load_before}\nafter:  {_load()}   (on {os.cpu_count()} cores)\n")
    print(format_table(results))
    print()
    # the minimum is the run least slowed by other processes: on a busy machine its
    # ratios are the better estimate of what an idle machine would show
    print(format_table(results, "fastest"))
    print(f"\nfirst Numba call (compiles the kernels or loads them from the cache): "
          f"{first['numba_first_call']:.1f} s")
    if torch is not None:
        losses = ", ".join(f"{r['check_loss']:.1e}" for r in results[1:])
        print(f"checked before timing, numba vs torch (max|diff| / max|value|): "
              f"logits {first['check_eval']:.1e} (eval), {first['check_train']:.1e} (train); "
              f"loss {losses}")
    elif not args.no_torch:
        print("PyTorch is not installed: no torch column (pip install torch)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
