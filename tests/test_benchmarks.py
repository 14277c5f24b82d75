"""The benchmark scripts run and report what they claim to (no timing is asserted: speed is
measured by the scripts themselves, as ratios in one run)."""

import json
import os
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
    import bench_model
    import bench_performance
    import fresh_process

    return bench_conv, bench_model, bench_performance, fresh_process


@needs_numba
def test_conv_benchmark_times_every_backend_back_to_back_and_prints_a_table(bench_modules):
    bench_conv = bench_modules[0]
    results = bench_conv.run(["S5"], blocks=1, calls=1, include_numpy=True, include_torch=False,
                             verbose=False)
    row = results[0]
    assert row["shape"] == "S5" and row["gflop"] > 0 and row["regime"] == "back to back"
    for key in ("numpy_forward", "numba_forward", "numpy_forward_backward",
                "numba_forward_backward"):
        assert row[key] > 0
    assert row["numpy_max_rel_diff"] < 1e-4
    peak = {"gflops": 100.0, "seconds": 0.02, "size": 1024}
    table = bench_conv.format_table(results, peak)
    assert "S5 depthwise" in table and "numpy/numba" in table and "of peak" in table
    assert "GEMM peak (float32 1024^3 matmul" in table
    assert "PyTorch is not installed" in table


@needs_numba
def test_the_cold_regime_is_labelled(bench_modules):
    bench_conv = bench_modules[0]
    results = bench_conv.run(["S5"], blocks=1, calls=1, include_numpy=False,
                             include_torch=False, verbose=False, cold=True)
    assert results[0]["regime"] == "cold"


@needs_numba
def test_training_step_benchmark_without_torch(bench_modules):
    bench_model = bench_modules[1]
    result = bench_model.bench_training_step(2, 16, None, lambda message: None,
                                             include_numpy=True, blocks=1, calls=1)
    assert result["numba"] > 0 and result["numpy"] > 0 and "torch" not in result
    table = bench_model.format_table([result])
    assert "training step, batch 2, 16x16" in table


def test_steps_are_parsed_and_bad_ones_named(bench_modules):
    bench_model = bench_modules[1]
    assert bench_model.parse_steps("8x64, 16X64") == [(8, 64), (16, 64)]
    with pytest.raises(ValueError, match="'8-64' is not BATCHxSIZE"):
        bench_model.parse_steps("8-64")


@pytest.mark.parametrize("child", [["import"], ["train", "numpy", "2", "2"]])
def test_fresh_process_children_report_json(child):
    completed = subprocess.run(
        [sys.executable, str(BENCHMARKS / "fresh_process.py"), *child],
        capture_output=True, text=True, check=True)
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    if child[0] == "import":
        assert 0 < figures["import"]
    else:
        # The peak is the high-water mark of both readings, up to the kernel's bookkeeping:
        # Linux counts resident pages per thread and adds them to the process's figures
        # only every 64 page events, so VmRSS and VmHWM may each lag by up to 64 pages
        # per thread (seen here: a VmRSS 80 KiB above the VmHWM read just after it).
        # A step may also free a little, so after_first_step may be below after_setup.
        slack = 64 * 4096 * (os.cpu_count() + 4)      # 64 pages per thread, a few threads
        assert 0 < figures["after_setup"] <= figures["peak"] + slack
        assert 0 < figures["after_first_step"] <= figures["peak"] + slack


def test_memory_table_compares_with_torch_and_checks_the_2_gib_limit(bench_modules):
    fresh_process = bench_modules[3]
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
    table = fresh_process.format_memory(rows)
    assert "numba/torch, training at batch 8: peak 0.47x; peak - set-up 1.50x" in table
    assert "does NOT fit in 2 GiB" in table


def test_targets_table_says_which_targets_were_met(bench_modules):
    bench_performance = bench_modules[2]
    conv = [{"shape": "S1", "what": "dense 3x3", "numba_forward": 1.0, "torch_forward": 1.0,
             "numba_forward_backward": 3.0, "torch_forward_backward": 2.0}]
    steps = [{"what": "training step, batch 8, 64x64", "batch": 8, "size": 64, "numpy": 2.0,
              "numba": 0.9, "torch": 1.0}]
    table = bench_performance.format_targets(conv, steps, None, None)
    lines = {line.split(":")[0] + ":" + line.split(":")[1][:20]: line for line in
             table.splitlines()[2:]}
    assert any("S1 dense 3x3: fwd+bwd" in line and "1.34x" in line and "1.50x" in line
               and line.endswith("NOT met") for line in lines.values())
    assert any("S1 dense 3x3: forward" in line and line.endswith(" met")
               and not line.endswith("NOT met") for line in lines.values())
    assert any("numba/torch" in line and "1.38x" in line and "0.90x" in line
               and not line.endswith("NOT met") for line in lines.values())
    assert any("numpy/torch" in line and "2.00x" in line and not line.endswith("NOT met")
               for line in lines.values())


@needs_numba
def test_winograd_grid_compares_both_routes_and_restores_the_rule(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_winograd

    from minideeplab.kernels import winograd

    rule = winograd.applies, winograd.MIN_CHANNELS, winograd.MIN_TILE_USE
    # 8x8 at rate 8 is skipped: its outer taps would read only padding
    rows = bench_winograd.measure([16], [8], [1, 8], blocks=1, calls=1, log=lambda m: None)
    assert (winograd.applies, winograd.MIN_CHANNELS, winograd.MIN_TILE_USE) == rule
    assert len(rows) == 1
    channels, size, rate, use, takes, forward, dx = rows[0]
    assert (channels, size, rate, takes) == (16, 8, 1, True) and use == pytest.approx(64 / 81)
    assert forward > 0 and dx > 0
    table = bench_winograd.format_rows(rows)
    assert "tile use" in table and table.rstrip().endswith("*")
    with pytest.raises(SystemExit):
        bench_winograd.main(["--rates", "0"])
