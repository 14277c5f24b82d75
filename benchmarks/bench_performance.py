"""Every performance figure in one run: speed, memory and start-up, against PyTorch.

    python benchmarks/bench_performance.py            # about 2 minutes on 2 cores
    python benchmarks/bench_performance.py --quick    # fewer repeats, no NumPy conv column
    python benchmarks/bench_performance.py --smoke    # does it run? toy sizes, seconds
    minideeplab bench performance

Four parts, all float32 with 2 threads, PyTorch (when installed) as the peer:

1. **Convolutions** S1-S7 (``bench_conv.py``): forward and forward + backward,
   NumPy reference, Numba and PyTorch, as ratios.
2. **The model** (``bench_model.py``): forward + backward of ``DeepLabV3Plus(5)``
   at batch 8 on 128x128, and one training step (forward, loss, backward,
   SGD) at batch 8 and 16 on 64x64, for both backends and PyTorch. The
   PyTorch twin gets minideeplab's weights and must give the same logits
   before anything is timed.
3. **Memory**: the peak resident set size (RSS) of a process that trains for
   ``--memory-steps`` steps at batch 8, for minideeplab and for the PyTorch
   twin, each in a fresh process; and of a forward pass of the default model
   on one 513x513 image (eval mode), which must fit in 2 GiB. "After set-up"
   is the RSS once the libraries are imported and the model is built: the
   difference is what training itself costs.
4. **Start-up**: ``import minideeplab`` in a fresh process, and the first
   training step of a fresh process with an empty Numba cache (every kernel
   is compiled) and with a warm one (kernels loaded from disk).

Speeds are measured in interleaved rounds in one process, so that background
load slows every contender alike; read the ratios, not the milliseconds. The
memory and start-up figures come from child processes of this script (it runs
itself with ``--child ...``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

MEMORY_LIMIT_513 = 2 * 2**30


# ------------------------------------------------------------ child processes

def _status_bytes(field):
    """A memory figure of this process from /proc/self/status (Linux), in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024          # the kernel reports kB
    raise RuntimeError(f"{field} not in /proc/self/status")


def _peak_rss_bytes():
    # VmHWM, the high-water mark of this process's resident memory. (Not
    # getrusage's ru_maxrss: Linux keeps that across exec, so a child would
    # report its parent's peak.)
    return _status_bytes("VmHWM")


def _current_rss_bytes():
    return _status_bytes("VmRSS")


def _child_train(library, batch, steps):
    """Train ``steps`` steps at ``batch`` on 64x64 shapes; print RSS figures as JSON.

    ``after_setup``: libraries imported, model built; ``after_first_step``: also
    the first step done (Numba's kernels loaded, PyTorch's allocator warmed up).
    """
    from bench_model import training_step

    import minideeplab as mdl
    from minideeplab.optim import SGD

    images, masks = mdl.datasets.make_shapes(batch, size=64, seed=0)
    model = mdl.models.DeepLabV3Plus(5)
    if library == "torch":
        import torch

        from minideeplab.interop.torch import to_torch

        torch.set_num_threads(2)
        twin = to_torch(model)
        optimizer = torch.optim.SGD(twin.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
        images_t, masks_t = torch.from_numpy(images), torch.from_numpy(masks)

        def step():
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(twin(images_t), masks_t, ignore_index=255)
            loss.backward()
            optimizer.step()
    else:
        mdl.set_backend(library)
        import numba  # noqa: F401  (imported before the baseline, like torch above)

        optimizer = SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)

        def step():
            training_step(model, optimizer, images, masks)

    after_setup = _current_rss_bytes()
    step()
    after_first_step = _current_rss_bytes()
    for _ in range(steps - 1):
        step()
    print(json.dumps({"after_setup": after_setup, "after_first_step": after_first_step,
                      "peak": _peak_rss_bytes()}))


def _child_forward_513():
    """One 513x513 image through the default model in eval mode; print RSS as JSON."""
    import numpy as np

    import minideeplab as mdl

    model = mdl.models.DeepLabV3Plus(5).eval()
    image = np.random.default_rng(0).random((1, 3, 513, 513), dtype=np.float32)
    import numba  # noqa: F401

    after_setup = _current_rss_bytes()
    logits = model(image)
    assert logits.shape == (1, 5, 513, 513)
    print(json.dumps({"after_setup": after_setup, "peak": _peak_rss_bytes()}))


def _child_first_step():
    """Import, build and run one training step at batch 8; print the seconds as JSON."""
    start = time.perf_counter()
    from bench_model import training_step

    import minideeplab as mdl
    from minideeplab.optim import SGD

    images, masks = mdl.datasets.make_shapes(8, size=64, seed=0)
    model = mdl.models.DeepLabV3Plus(5)
    optimizer = SGD(model.parameters(), lr=0.01, momentum=0.9)
    ready = time.perf_counter()
    training_step(model, optimizer, images, masks)
    done = time.perf_counter()
    print(json.dumps({"total": done - start, "step": done - ready}))


def _child_import():
    start = time.perf_counter()
    import minideeplab  # noqa: F401

    print(json.dumps({"import": time.perf_counter() - start}))


def _run_child(args, env=None):
    """Run this script as ``--child ARGS`` in a fresh interpreter; return its JSON line."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", *map(str, args)]
    completed = subprocess.run(command, capture_output=True, text=True,
                               env={**os.environ, **(env or {})})
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ the parts

def _mib(n_bytes):
    return n_bytes / 2**20


def measure_memory(steps, torch_available, log):
    rows = []
    contenders = ["numba", "numpy"] + (["torch"] if torch_available else [])
    for library in contenders:
        log(f"memory: training {steps} steps at batch 8 with {library} ...")
        rows.append({"what": f"train batch 8, {library}",
                     **_run_child(["train", library, 8, steps])})
    log("memory: forward of one 513x513 image ...")
    rows.append({"what": "forward, 1 x 513x513 (numba)", **_run_child(["forward513"])})
    return rows


def format_memory(rows):
    lines = [f"{'resident memory (RSS), MiB':<32}{'after set-up':>13}{'after step 1':>13}"
             f"{'peak':>7}{'peak - set-up':>15}", "-" * 80]
    for r in rows:
        first = f"{_mib(r['after_first_step']):>13.0f}" if "after_first_step" in r else f"{'-':>13}"
        lines.append(f"{r['what']:<32}{_mib(r['after_setup']):>13.0f}{first}"
                     f"{_mib(r['peak']):>7.0f}{_mib(r['peak'] - r['after_setup']):>15.0f}")
    by_name = {r["what"]: r for r in rows}
    torch_row = by_name.get("train batch 8, torch")
    if torch_row is not None:
        torch_growth = torch_row["peak"] - torch_row["after_setup"]
        for library in ("numba", "numpy"):
            mine = by_name[f"train batch 8, {library}"]
            lines.append(f"{library}/torch, training at batch 8: peak "
                         f"{mine['peak'] / torch_row['peak']:.2f}x; peak - set-up "
                         f"{(mine['peak'] - mine['after_setup']) / torch_growth:.2f}x")
    forward = by_name["forward, 1 x 513x513 (numba)"]
    verdict = "fits" if forward["peak"] <= MEMORY_LIMIT_513 else "does NOT fit"
    lines.append(f"513x513 forward: peak {_mib(forward['peak']):.0f} MiB, {verdict} in 2 GiB")
    return "\n".join(lines)


def measure_startup(repeats, log):
    log("start-up: import minideeplab ...")
    imports = [_run_child(["import"])["import"] for _ in range(repeats)]
    with tempfile.TemporaryDirectory(prefix="minideeplab-numba-cache-") as cache_dir:
        env = {"NUMBA_CACHE_DIR": cache_dir}
        log("start-up: first training step, empty Numba cache (compiles every kernel) ...")
        cold = _run_child(["first-step"], env)
        log("start-up: first training step, warm Numba cache ...")
        warm = [_run_child(["first-step"], env) for _ in range(repeats)]
    return {"import": min(imports), "cold": cold,
            "warm": min(warm, key=lambda r: r["total"])}


def format_startup(result):
    return "\n".join([
        f"{'start-up (fresh processes)':<52}{'seconds':>8}",
        "-" * 60,
        f"{'import minideeplab (fastest)':<52}{result['import']:>8.2f}",
        f"{'first training step, empty Numba cache: whole process':<52}"
        f"{result['cold']['total']:>8.1f}",
        f"{'   of which the step (compiling the kernels)':<52}{result['cold']['step']:>8.1f}",
        f"{'first training step, warm cache: whole process':<52}{result['warm']['total']:>8.2f}",
        f"{'   of which the step (loading the kernels)':<52}{result['warm']['step']:>8.2f}",
    ])


def _smoke(torch, log) -> int:
    """``--smoke``: the in-process parts once, at toy sizes (the figures mean nothing)."""
    import bench_conv
    import bench_model

    conv_results = bench_conv.run(["S5"], 1, include_numpy=False,
                                  include_torch=torch is not None, verbose=False)
    model_results = [bench_model.bench_forward_backward(2, 16, 1, False, torch, log),
                     bench_model.bench_training_step(2, 16, 1, torch, log)]
    print("minideeplab performance, --smoke: toy sizes, one run each; the figures mean nothing\n")
    print(bench_conv.format_table(conv_results))
    print(bench_model.format_table(model_results))
    print("\nmemory and start-up: not measured with --smoke (they run child processes)")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench_performance",
        description="Every performance figure in one run: convolutions, the model, memory "
                    "and start-up, against PyTorch when it is installed.")
    parser.add_argument("--quick", action="store_true",
                        help="3 repeats and no NumPy column in the convolution table")
    parser.add_argument("--repeats", type=int, default=7,
                        help="timed runs per contender (7; --quick: 3)")
    parser.add_argument("--memory-steps", type=int, default=10,
                        help="training steps in the memory measurement (10)")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    parser.add_argument("--smoke", action="store_true",
                        help="the smallest run, to check that the script works: one shape, a "
                             "toy model, no child processes (no memory or start-up figures)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        kind, *rest = args.child
        if kind == "train":
            _child_train(rest[0], int(rest[1]), int(rest[2]))
        elif kind == "forward513":
            _child_forward_513()
        elif kind == "first-step":
            _child_first_step()
        elif kind == "import":
            _child_import()
        else:
            parser.error(f"unknown child {kind!r}")
        return 0

    repeats = 3 if args.quick and args.repeats == 7 else args.repeats
    if repeats < 1 or args.memory_steps < 1:
        parser.error("--repeats and --memory-steps must be >= 1")

    import bench_conv
    import bench_model

    import minideeplab as mdl

    if not mdl.backend.numba_available():
        print("numba is not installed: nothing to benchmark", file=sys.stderr)
        return 1

    def log(message):
        print(f"  {message}", file=sys.stderr, flush=True)

    torch = None if args.no_torch else bench_model._import_torch(2)
    bench_model._set_numba_threads(2)
    if args.smoke:
        return _smoke(torch, log)
    started = time.perf_counter()
    load_before = bench_model._load()

    log("1. convolutions S1-S7 ...")
    conv_results = bench_conv.run(None, repeats, include_numpy=not args.quick,
                                  include_torch=torch is not None)
    log("2. the model ...")
    model_results = [bench_model.bench_forward_backward(8, 128, repeats, True, torch, log)]
    for batch in (8, 16):
        model_results.append(bench_model.bench_training_step(batch, 64, repeats, torch, log,
                                                             include_numpy=True))
    memory_rows = measure_memory(args.memory_steps, torch is not None, log)
    startup = measure_startup(3, log)

    print("minideeplab performance, float32, 2 threads; ratios > 1 mean the first is slower")
    import numpy as np

    versions = f"numpy {np.__version__}"
    if torch is not None:
        versions += f", torch {torch.__version__}"
    print(f"{versions}; {load_before} before, {bench_model._load()} after; "
          f"{os.cpu_count()} cores; {time.perf_counter() - started:.0f} s in all\n")
    print("1. conv2d, batch 8 (bench_conv.py)\n")
    print(bench_conv.format_table(conv_results))
    print("\n2. DeepLabV3Plus(5) (bench_model.py)\n")
    print(bench_model.format_table(model_results))
    print()
    print(bench_model.format_table(model_results, "fastest"))
    if torch is not None:
        print("\nnumpy/torch (the readable reference against PyTorch, median): " + ", ".join(
            f"{r['what']}: {r['numpy'] / r['torch']:.1f}x" for r in model_results
            if "numpy" in r and "torch" in r))
    print("\n3. memory\n")
    print(format_memory(memory_rows))
    print("\n4. start-up\n")
    print(format_startup(startup))
    return 0


if __name__ == "__main__":
    sys.exit(main())
