"""``minideeplab evaluate`` and ``minideeplab reproduce`` on a tiny run trained in a temporary
folder (runs/default is never needed)."""

import json
import os

import pytest

from minideeplab.cli import main

SMALL = ["--image-size", "32", "--n-train", "16", "--n-val", "4", "--n-test", "4",
         "--batch-size", "4", "--no-progress"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    os.environ["MINIDEEPLAB_CACHE_DIR"] = str(out / "cache")
    try:
        assert main(["train", "--out", str(out), "--steps", "2", "--eval-every", "2",
                     *SMALL]) == 0
    finally:
        del os.environ["MINIDEEPLAB_CACHE_DIR"]
    return str(out / "model.npz")


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDEEPLAB_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize("command", [["evaluate"], ["reproduce"], ["predict"], ["data"],
                                     ["data", "check"], ["export"]])
def test_every_new_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: minideeplab" in capsys.readouterr().out


def test_evaluate_prints_every_score_and_the_cost(checkpoint, capsys):
    assert main(["evaluate", checkpoint, "--n", "3", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "shapes test (3 images, whole, at their own size) at OS 16, single scale" in out
    for score in ("mIoU", "boundary mIoU", "pixel accuracy", "mean class accuracy",
                  "frequency-weighted IoU", "IoU per class: background"):
        assert score in out, score
    assert "M mult-adds per image (1.0x a single pass at the trained OS 16)" in out


def test_evaluate_at_the_papers_test_time_settings_with_a_report(checkpoint, tmp_path, capsys):
    report = tmp_path / "report"
    assert main(["evaluate", checkpoint, "--n", "3", "--output-stride", "8", "--scales",
                 "0.75,1,1.25", "--flip", "--report", str(report), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "OS 8, scales 0.75/1/1.25, flip" in out
    ratio = float(out.split("M mult-adds per image (")[1].split("x")[0])
    assert ratio > 6                          # 3 scales x 2 flips at OS 8: far more compute
    data = json.loads((report / "report.json").read_text())
    for key in ("miou", "mean_class_accuracy", "frequency_weighted_iou", "pixel_accuracy",
                "confusion_matrix_normalized_per_true_class", "trimap", "per_image_miou"):
        assert key in data, key
    assert data["images"] == 3 and len(data["lowest_miou_images"]) == 3
    assert sorted(p.name for p in report.iterdir()) == [
        "confusion_matrix.png", "lowest_miou.png", "report.json", "trimap.png"]


@pytest.mark.parametrize("argv, message", [
    (["--n", "0"], "--n must be >= 1"),
    (["--image-size", "0"], "--image-size must be >= 16"),
    (["--scales", "1;2"], "scales must be numbers separated by commas"),
    (["--tile", "4"], "--tile must be >= 32"),
])
def test_evaluate_refuses_meaningless_options(checkpoint, argv, message, capsys):
    assert main(["evaluate", checkpoint, *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err


def test_the_image_size_option_is_used(checkpoint, capsys):
    assert main(["evaluate", checkpoint, "--n", "2", "--image-size", "48",
                 "--no-progress"]) == 0
    cost_48 = capsys.readouterr().out.split("cost: ")[1].split(" M")[0]
    assert main(["evaluate", checkpoint, "--n", "2", "--no-progress"]) == 0
    cost_32 = capsys.readouterr().out.split("cost: ")[1].split(" M")[0]
    assert float(cost_48) > float(cost_32)


def test_reproduce_prints_the_papers_inference_table(checkpoint, capsys):
    assert main(["reproduce", checkpoint, "--n", "2", "--scales", "0.5,1"]) == 0
    out = capsys.readouterr().out
    assert "DeepLabV3+ Table 3 at toy scale" in out and "best: " in out
    rows = [line for line in out.splitlines() if line.strip()[:2] in ("16", "8 ")]
    assert len(rows) == 6
    assert rows[0].split()[:3] == ["16", "-", "-"] and rows[5].split()[:3] == ["8", "0.5/1", "yes"]


def test_reproduce_without_the_default_run_says_how_to_make_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["reproduce"]) == 2
    err = capsys.readouterr().err
    assert "runs/default/model.npz" in err and "minideeplab train" in err
