"""The figures that need a fresh Python process: memory and start-up.

    python benchmarks/fresh_process.py train numba 8 10    # one child; prints one JSON line
    python benchmarks/fresh_process.py first-step

``bench_performance.py`` runs each measurement below as a child process of its
own (this file, with the child's name and arguments), so that nothing the
parent imported or allocated counts:

* **memory**: the peak resident set size (RSS) of a process that trains
  ``steps`` steps at batch 8 on 64x64 images, for minideeplab (each backend)
  and for the PyTorch twin; and of a forward pass of the default model on one
  513x513 image (eval mode), which must fit in 2 GiB. "After set-up" is the
  RSS once the libraries are imported and the model is built: the difference
  is what training itself costs.
* **start-up**: ``import minideeplab``; and the first training step of a
  process whose Numba cache is empty (every kernel is compiled) or warm
  (kernels loaded from disk).
"""

from __future__ import annotations

import contextlib
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
THREADS = 2


# ------------------------------------------------------------ inside the child

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


def child_train(library, batch, steps):
    """Train ``steps`` steps at ``batch`` on 64x64 shapes; print RSS figures as JSON.

    ``after_setup``: libraries imported, model built; ``after_first_step``: also
    the first step done (Numba's kernels loaded, PyTorch's allocator warmed up).
    """
    from bench_model import torch_training_step, training_step

    import minideeplab as mdl
    from minideeplab.allocator import reuse_freed_memory
    from minideeplab.optim import SGD

    images, masks = mdl.datasets.make_shapes(batch, size=64, seed=0)
    model = mdl.models.DeepLabV3Plus(5)
    if library == "torch":
        import torch

        from minideeplab.interop.torch import to_torch

        torch.set_num_threads(THREADS)
        twin = to_torch(model)
        optimizer = torch.optim.SGD(twin.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
        images_t, masks_t = torch.from_numpy(images), torch.from_numpy(masks)

        def step():
            torch_training_step(torch, twin, optimizer, images_t, masks_t)
    else:
        mdl.set_backend(library)
        if library == "numba":
            import numba  # noqa: F401  (imported before the baseline, like torch above)

        optimizer = SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)

        def step():
            training_step(model, optimizer, images, masks)

    # as train() runs its steps; PyTorch as its users run it (the default allocator)
    block = reuse_freed_memory() if library != "torch" else contextlib.nullcontext()
    after_setup = _current_rss_bytes()
    with block:
        step()
        after_first_step = _current_rss_bytes()
        for _ in range(steps - 1):
            step()
    print(json.dumps({"after_setup": after_setup, "after_first_step": after_first_step,
                      "peak": _peak_rss_bytes()}))


def child_forward_513():
    """One 513x513 image through the default model in eval mode; print RSS as JSON."""
    import numba  # noqa: F401
    import numpy as np

    import minideeplab as mdl

    model = mdl.models.DeepLabV3Plus(5).eval()
    image = np.random.default_rng(0).random((1, 3, 513, 513), dtype=np.float32)
    after_setup = _current_rss_bytes()
    logits = model(image)
    assert logits.shape == (1, 5, 513, 513)
    print(json.dumps({"after_setup": after_setup, "peak": _peak_rss_bytes()}))


def child_first_step():
    """Import, build and run one training step at batch 8; print the seconds as JSON."""
    start = time.perf_counter()
    from bench_model import training_step

    import minideeplab as mdl
    from minideeplab.optim import SGD

    images, masks = mdl.datasets.make_shapes(8, size=64, seed=0)
    model = mdl.models.DeepLabV3Plus(5)
    optimizer = SGD(model.parameters(), lr=0.01, momentum=0.9)
    ready = time.perf_counter()
    ready_cpu = time.process_time()
    training_step(model, optimizer, images, masks)
    done = time.perf_counter()
    print(json.dumps({"total": done - start, "step": done - ready,
                      "step_cpu": time.process_time() - ready_cpu}))


def child_import():
    start = time.perf_counter()
    import minideeplab  # noqa: F401

    print(json.dumps({"import": time.perf_counter() - start}))


def child_step_allocator(allocator, batch, size, blocks, calls):
    """A training step of minideeplab (numba) and of the PyTorch twin, interleaved, with
    the C library's ``default`` allocator settings or ``reuse`` (as train() runs); JSON."""
    import bench_conv
    import bench_model

    torch = bench_conv.import_torch()
    bench_conv.set_threads()
    result = bench_model.bench_training_step(batch, size, torch, lambda message: None, False,
                                             blocks, calls, reuse_memory=allocator == "reuse")
    print(json.dumps({key: result.get(key) for key in ("numba", "torch", "allocator")}))


CHILDREN = {"train": lambda library, batch, steps: child_train(library, int(batch), int(steps)),
            "forward513": child_forward_513, "first-step": child_first_step,
            "import": child_import,
            "step-allocator": lambda allocator, batch, size, blocks, calls: child_step_allocator(
                allocator, int(batch), int(size), int(blocks), int(calls))}


# ------------------------------------------------------------ in the parent

def run_child(args, env=None):
    """Run this file with ``args`` in a fresh interpreter; return its JSON line as a dict."""
    command = [sys.executable, str(Path(__file__).resolve()), *map(str, args)]
    completed = subprocess.run(command, capture_output=True, text=True,
                               env={**os.environ, **(env or {})})
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _mib(n_bytes):
    return n_bytes / 2**20


def measure_memory(steps, torch_available, log):
    """Peak memory of training (each library) and of a 513x513 forward: a list of rows."""
    rows = []
    for library in ["numba", "numpy"] + (["torch"] if torch_available else []):
        log(f"memory: training {steps} steps at batch 8 with {library} ...")
        rows.append({"what": f"train batch 8, {library}",
                     **run_child(["train", library, 8, steps])})
    log("memory: forward of one 513x513 image ...")
    rows.append({"what": "forward, 1 x 513x513 (numba)", **run_child(["forward513"])})
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


def measure_allocator(batch, size, blocks, calls, log):
    """What reusing freed memory buys: the training step timed in fresh processes, with the
    default allocator and reusing freed memory, alternately, twice each; the faster run of
    each setting is kept (a list of two dicts: allocator, numba and torch seconds)."""
    runs = {"default": [], "reuse": []}
    for allocator in ("default", "reuse", "default", "reuse"):
        log(f"allocator: training step {batch}x{size}, {allocator} ...")
        runs[allocator].append(run_child(["step-allocator", allocator, batch, size, blocks,
                                          calls]))
    return [min(found, key=lambda r: r["numba"]) for found in runs.values()]


def format_allocator(rows, batch, size):
    has_torch = rows[0].get("torch") is not None
    lines = [f"{f'training step {batch}x{size}, fresh process each':<44}{'numba ms':>10}"
             + (f"{'torch ms':>10}{'numba/torch':>13}" if has_torch else ""), "-" * 77]
    for r in rows:
        line = f"{'allocator: ' + r['allocator']:<44}{r['numba'] * 1e3:>10.1f}"
        if has_torch:
            line += f"{r['torch'] * 1e3:>10.1f}{r['numba'] / r['torch']:>12.2f}x"
        lines.append(line)
    lines.append("(the setting is process-wide: PyTorch, timed in the same process, gets it too)")
    return "\n".join(lines)


def measure_startup(repeats, log):
    """Import time and the first training step with an empty and a warm Numba cache."""
    log("start-up: import minideeplab ...")
    imports = [run_child(["import"])["import"] for _ in range(repeats)]
    with tempfile.TemporaryDirectory(prefix="minideeplab-numba-cache-") as cache_dir:
        env = {"NUMBA_CACHE_DIR": cache_dir, "MINIDEEPLAB_BACKEND": "numba"}
        log("start-up: first training step, empty Numba cache (compiles every kernel) ...")
        cold = run_child(["first-step"], env)
        log("start-up: first training step, warm Numba cache ...")
        warm = [run_child(["first-step"], env) for _ in range(repeats)]
    return {"import": min(imports), "cold": cold, "warm": min(warm, key=lambda r: r["total"])}


def format_startup(result):
    return "\n".join([
        f"{'start-up (fresh processes)':<52}{'seconds':>8}",
        "-" * 60,
        f"{'import minideeplab (fastest)':<52}{result['import']:>8.2f}",
        f"{'first training step, empty Numba cache: whole process':<52}"
        f"{result['cold']['total']:>8.1f}",
        f"{'   of which the step (compiling the kernels)':<52}{result['cold']['step']:>8.1f}",
        f"{'   the step in CPU seconds (what load cannot inflate)':<52}"
        f"{result['cold']['step_cpu']:>8.1f}",
        f"{'first training step, warm cache: whole process':<52}{result['warm']['total']:>8.2f}",
        f"{'   of which the step (loading the kernels)':<52}{result['warm']['step']:>8.2f}",
    ])


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in CHILDREN:
        print(f"usage: fresh_process.py {{{'|'.join(CHILDREN)}}} [arguments]", file=sys.stderr)
        sys.exit(2)
    CHILDREN[sys.argv[1]](*sys.argv[2:])
