"""The benchmark scripts run and report what they claim to (no timing is asserted: speed is
measured by the scripts themselves, as ratios in one run)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import minideeplab as mdl

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
needs_numba = pytest.mark.skipif(not mdl.backend.numba_available(), reason="numba not installed")


@pytest.fixture
def bench_modules(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_conv
    import bench_performance

    return bench_conv, bench_performance


@needs_numba
def test_conv_benchmark_times_every_backend_and_prints_a_table(bench_modules):
    bench_conv, _ = bench_modules
    results = bench_conv.run(["S5"], repeats=1, include_numpy=True, include_torch=False,
                             verbose=False)
    row = results[0]
    assert row["shape"] == "S5" and row["gflop"] > 0
    for key in ("numpy_forward", "numba_forward", "numpy_forward_backward",
                "numba_forward_backward"):
        assert row[key] > 0
    table = bench_conv.format_table(results)
    assert "S5 depthwise" in table and "numpy/numba" in table


@pytest.mark.parametrize("child", [["import"], ["train", "numpy", "2", "2"]])
def test_performance_children_report_json(child):
    completed = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_performance.py"), "--child", *child],
        capture_output=True, text=True, check=True)
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    if child[0] == "import":
        assert 0 < figures["import"]
    else:
        assert 0 < figures["after_setup"] <= figures["after_first_step"] <= figures["peak"]


def test_memory_table_compares_with_torch_and_checks_the_2_gib_limit(bench_modules):
    _, bench_performance = bench_modules
    mib = 2**20
    rows = [
        {"what": "train batch 8, numba", "after_setup": 100 * mib, "after_first_step": 150 * mib,
         "peak": 160 * mib},
        {"what": "train batch 8, numpy", "after_setup": 100 * mib, "after_first_step": 120 * mib,
         "peak": 130 * mib},
        {"what": "train batch 8, torch", "after_setup": 300 * mib, "after_first_step": 330 * mib,
         "peak": 340 * mib},
        {"what": "forward, 1 x 513x513 (numba)", "after_setup": 100 * mib, "peak": 3000 * mib},
    ]
    table = bench_performance.format_memory(rows)
    assert "numba/torch, training at batch 8: peak 0.47x; peak - set-up 1.50x" in table
    assert "does NOT fit in 2 GiB" in table
