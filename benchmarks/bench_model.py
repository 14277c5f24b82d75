"""Benchmark a training step: minideeplab (Numba, NumPy) against the same network in PyTorch.

    python benchmarks/bench_model.py                     # 8x64, 16x64 and 8x128, a minute or two
    python benchmarks/bench_model.py --steps 8x64 --no-numpy
    minideeplab bench model --steps 4x96 --cold

One training step of the default model, ``DeepLabV3Plus(5)``: forward,
cross-entropy, backward, SGD with momentum 0.9 and weight decay 1e-4, on
*shapes* images, in float32 with 2 threads on every side (``--threads``).
``--steps`` lists the configurations as BATCHxSIZE (default: batch 8 and 16
at 64x64, the training configuration, and batch 8 at 128x128).

The PyTorch contender is ``to_torch(model)``: the identical architecture with
minideeplab's weights, and torch's SGD with the same settings. Before timing,
the script **checks** that the two give the same loss from the same weights
(float32 tolerance; dropout off for the check, since the two libraries draw
different masks) and stops with an error if they do not. Neither computes
the image's gradient (nothing asks for it: ``model.backward(...,
input_grad=False)``, as ``train()`` calls it).

Timing is back to back, as training runs (:mod:`minideeplab.timing`): a
warm-up, then blocks of ``--calls`` steps of one contender, interleaved, the
fastest block's median; the NumPy reference gets 2 steps per block.
``--cold`` sleeps before every step instead (labelled as such).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

import numpy as np

try:
    import minideeplab as mdl
except ImportError:  # run from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import minideeplab as mdl

from minideeplab import functional as F
from minideeplab.allocator import reuse_freed_memory
from minideeplab.nn import Dropout
from minideeplab.timing import time_interleaved

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bench_conv import BLOCK_GAP, THREADS, TOLERANCE, import_torch, set_threads  # noqa: E402

NUM_CLASSES = 5
DEFAULT_STEPS = ((8, 64), (16, 64), (8, 128))


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


def training_step(model, optimizer, images, masks):
    """One step of minideeplab training: forward, loss, backward, update."""
    logits = model(images)
    _, cache = F.softmax_cross_entropy_forward(logits, masks)
    model.backward(F.softmax_cross_entropy_backward(1.0, cache), input_grad=False)
    optimizer.step()
    optimizer.zero_grad()


def torch_training_step(torch, twin, optimizer, images_t, masks_t):
    """One step of the PyTorch twin: forward, loss, backward, update."""
    optimizer.zero_grad()
    loss = torch.nn.functional.cross_entropy(twin(images_t), masks_t, ignore_index=255)
    loss.backward()
    optimizer.step()


def bench_training_step(batch, size, torch, log, include_numpy=True, blocks=5, calls=10,
                        cold=False, reuse_memory=True):
    """Time one training step at ``batch`` images of ``size`` x ``size``; returns a dict.

    Keys: ``what``, ``batch``, ``size``, ``regime``, seconds per step for
    ``numpy`` / ``numba`` / ``torch`` (those present) and ``check_loss``
    (relative difference of the two losses, when torch is there).

    ``reuse_memory``: time inside :func:`minideeplab.allocator.reuse_freed_memory`,
    as ``train()`` runs its steps. The setting is process-wide, so the PyTorch
    twin, timed in the same process, runs with it too.
    """
    from minideeplab.optim import SGD

    images, masks = mdl.datasets.make_shapes(batch, size=size, seed=0)
    model = mdl.models.DeepLabV3Plus(NUM_CLASSES)
    result = {"what": f"training step, batch {batch}, {size}x{size}", "batch": batch,
              "size": size}
    optimizer = SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)

    runners = {}
    if include_numpy:
        def numpy_reference():
            with mdl.use_backend("numpy"):
                training_step(model, optimizer, images, masks)
        runners["numpy"] = numpy_reference

    def numba():
        with mdl.use_backend("numba"):
            training_step(model, optimizer, images, masks)
    runners["numba"] = numba

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
        if result["check_loss"] > TOLERANCE:
            return result                              # main() reports the mismatch
        runners["torch"] = lambda: torch_training_step(torch, twin, optimizer_t, images_t,
                                                       masks_t)

    log(f"{result['what']}: timing {', '.join(runners)} ...")
    memory = reuse_freed_memory() if reuse_memory else contextlib.nullcontext()
    with memory:
        timings = time_interleaved(runners, blocks=blocks, cold=cold, between_blocks=BLOCK_GAP,
                                   calls={"numpy": 2, "numba": calls, "torch": calls})
    result["allocator"] = "reuse freed memory" if reuse_memory else "default"
    for name, timing in timings.items():
        result[name] = timing.seconds
        result["regime"] = timing.regime
    return result


# ----------------------------------------------------------------------- report

def _ms(result, key):
    return f"{result[key] * 1e3:>10.1f}" if key in result else f"{'-':>10}"


def _ratio(result, top, bottom):
    if top not in result or bottom not in result:
        return f"{'-':>13}"
    return f"{result[top] / result[bottom]:>12.2f}x"


def format_table(results):
    """The results as a plain-text table: milliseconds and ratios (> 1: the first is slower)."""
    header = (f"{'per step (fastest block median)':<34}{'numpy ms':>10}{'numba ms':>10}"
              f"{'torch ms':>10}{'numba/torch':>13}{'numpy/torch':>13}{'numpy/numba':>13}")
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(f"{r['what']:<34}{_ms(r, 'numpy')}{_ms(r, 'numba')}{_ms(r, 'torch')}"
                     f"{_ratio(r, 'numba', 'torch')}{_ratio(r, 'numpy', 'torch')}"
                     f"{_ratio(r, 'numpy', 'numba')}")
    return "\n".join(lines)


def load_average():
    try:
        return "load average %.2f %.2f %.2f (1, 5, 15 min)" % os.getloadavg()
    except OSError:
        return "load average unavailable"


def parse_steps(text):
    """``"8x64,16x64"`` -> ``[(8, 64), (16, 64)]``; raises ValueError with the bad part."""
    steps = []
    for part in text.split(","):
        batch, _, size = part.strip().lower().partition("x")
        if not (batch.isdigit() and size.isdigit()):
            raise ValueError(f"{part.strip()!r} is not BATCHxSIZE (e.g. 8x64)")
        steps.append((int(batch), int(size)))
    return steps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench_model",
        description="Time a training step of DeepLabV3Plus(5), back to back: numpy, numba and "
                    "the identical PyTorch model, float32, 2 threads.")
    parser.add_argument("--steps", default=",".join(f"{b}x{s}" for b, s in DEFAULT_STEPS),
                        help="configurations BATCHxSIZE, comma-separated (8x64,16x64,8x128)")
    parser.add_argument("--blocks", type=int, default=5,
                        help="interleaved blocks per contender (5); the fastest block counts")
    parser.add_argument("--calls", type=int, default=10,
                        help="steps per block (10; the NumPy reference: 2); their median")
    parser.add_argument("--cold", action="store_true",
                        help="the cold regime: sleep 0.2 s before every step (for comparison)")
    parser.add_argument("--no-numpy", action="store_true", help="skip the (slow) NumPy reference")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    parser.add_argument("--default-allocator", action="store_true",
                        help="time with the C library's default allocator settings instead of "
                             "reusing freed memory as train() does (allocator.py)")
    parser.add_argument("--threads", type=int, default=THREADS,
                        help=f"threads for Numba and PyTorch ({THREADS})")
    args = parser.parse_args(argv)
    try:
        steps = parse_steps(args.steps)
    except ValueError as error:
        parser.error(f"--steps: {error}")
    for option in ("blocks", "calls", "threads"):
        if getattr(args, option) < 1:
            parser.error(f"--{option} must be >= 1")
    if any(batch < 2 for batch, _ in steps):
        parser.error("batch sizes must be >= 2 (training-mode BatchNorm after ASPP's image "
                     "pooling needs two values per channel)")
    if any(size < 16 for _, size in steps):
        parser.error("image sizes must be >= 16")
    if not mdl.backend.numba_available():
        print("numba is not installed: nothing to benchmark", file=sys.stderr)
        return 1

    def log(message):
        print(f"  {message}", file=sys.stderr, flush=True)

    torch = None if args.no_torch else import_torch(args.threads)
    set_threads(args.threads)
    before = load_average()
    results = []
    for batch, size in steps:
        results.append(bench_training_step(batch, size, torch, log, not args.no_numpy,
                                           args.blocks, args.calls, args.cold,
                                           reuse_memory=not args.default_allocator))
        if results[-1].get("check_loss", 0.0) > TOLERANCE:
            print(f"ERROR: minideeplab and torch losses differ by "
                  f"{results[-1]['check_loss']:.1e} (relative). Nothing was timed.",
                  file=sys.stderr)
            return 1

    print(f"DeepLabV3Plus({NUM_CLASSES}), one training step, float32, {args.threads} threads, "
          f"{results[0]['regime']}: the fastest of {args.blocks} interleaved blocks of "
          f"{args.calls} steps (NumPy: 2), its median; allocator: {results[0]['allocator']}")
    versions = f"numpy {np.__version__}"
    if torch is not None:
        versions += f", torch {torch.__version__}"
    print(f"{versions}\nbefore: {before}\nafter:  {load_average()}   "
          f"(on {os.cpu_count()} cores)\n")
    print(format_table(results))
    if torch is not None:
        print("\nchecked before timing, numba vs torch loss (relative difference): "
              + ", ".join(f"{r['check_loss']:.1e}" for r in results))
    else:
        print("\nPyTorch is not installed: no torch column (pip install torch)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
