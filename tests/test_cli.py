"""The ``minideeplab`` command: every subcommand runs, has --help, and bad input is one clear
line."""

import json

import numpy as np
import pytest

from minideeplab.cli import main

SMALL = ["--image-size", "32", "--n-train", "32", "--n-val", "8", "--n-test", "8",
         "--batch-size", "4", "--no-progress"]


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDEEPLAB_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    import os

    os.environ["MINIDEEPLAB_CACHE_DIR"] = str(out / "cache")
    try:
        assert main(["train", "--out", str(out), "--steps", "3", "--eval-every", "3", *SMALL]) == 0
    finally:
        del os.environ["MINIDEEPLAB_CACHE_DIR"]
    return out


@pytest.mark.parametrize("command", ["train", "ablate", "evaluate", "predict", "summary",
                                     "receptive-field", "bench"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: minideeplab" in capsys.readouterr().out


def test_train_writes_the_run_folder(trained_run, capsys):
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["image_size"] == 32 and metrics["steps"] == 3
    assert (trained_run / "model.npz").is_file() and (trained_run / "curves.png").is_file()


def test_evaluate_and_predict(trained_run, tmp_path, capsys):
    assert main(["evaluate", str(trained_run / "model.npz"), "--n", "4"]) == 0
    assert "mIoU" in capsys.readouterr().out
    from PIL import Image

    image = (np.random.default_rng(0).random((40, 36, 3)) * 255).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "in.png")
    out = tmp_path / "predicted"
    assert main(["predict", str(trained_run / "model.npz"), str(tmp_path / "in.png"),
                 "--out", str(out)]) == 0
    assert (out / "in.png").is_file() and (out / "in_overlay.png").is_file()
    assert "wrote 1 predicted mask(s)" in capsys.readouterr().out


def test_summary_and_the_separable_demo(capsys):
    assert main(["summary"]) == 0
    assert "total" in capsys.readouterr().out
    assert main(["summary", "--demo", "separable"]) == 0
    text = capsys.readouterr().out
    assert "432" in text and "75" in text and "27,648" in text and "4,800" in text


def test_receptive_field_command(tmp_path, capsys):
    assert main(["receptive-field", "--plot", str(tmp_path / "rf.png")]) == 0
    assert "RF size" in capsys.readouterr().out
    assert (tmp_path / "rf.png").is_file() and (tmp_path / "rf_erf.png").is_file()


def test_receptive_field_figures_of_a_checkpoint(trained_run, tmp_path, capsys):
    folder = tmp_path / "figures"
    assert main(["receptive-field", "--model", str(trained_run / "model.npz"), "--size", "32",
                 "--figures", str(folder)]) == 0
    written = sorted(p.name for p in folder.iterdir())
    assert written == ["aspp_fields.png", "atrous_sampling.png", "erf_untrained_vs_trained.png",
                       "gridding.png", "rf_growth.png", "valid_tap_fraction.png"]
    assert "wrote" in capsys.readouterr().out


def test_bad_input_is_one_clear_line(tmp_path, capsys):
    (tmp_path / "broken.npz").write_bytes(b"not a zip file")
    assert main(["evaluate", str(tmp_path / "broken.npz")]) == 2
    assert "truncated or not an .npz file" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "missing.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", "--steps", "0", "--out", str(tmp_path / "x")]) == 2
    assert "steps must be a positive int" in capsys.readouterr().err


def test_ablation_runs_every_variant(tmp_path, capsys):
    assert main(["ablate", "--out", str(tmp_path / "ablation"), "--steps", "2",
                 "--eval-every", "2", *SMALL]) == 0
    text = capsys.readouterr().out
    for variant in ("V3+ (decoder)", "V3 (no decoder)", "standard convs", "OS 8"):
        assert variant in text
    assert (tmp_path / "ablation" / "ablation.txt").is_file()


def test_input_errors_are_one_line_and_exit_2(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "missing.npz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "missing.npz" in err and "Traceback" not in err


def test_a_bug_keeps_its_traceback(monkeypatch):
    # a ValueError that is not an input error (here: raised inside a command, as a
    # broken backward pass would) must not be swallowed into "error: ..."
    from minideeplab.cli import inspect

    def broken(args):
        raise ValueError("operands could not be broadcast together")

    monkeypatch.setattr(inspect, "_cmd_summary", broken)
    with pytest.raises(ValueError, match="broadcast"):
        main(["summary"])


def test_training_options_default_to_train_config():
    # the options default to "not given" (so --resume can tell); a new run fills TrainConfig's
    from minideeplab.cli import build_parser
    from minideeplab.cli.train import train_config
    from minideeplab.train import TrainConfig

    for command in ("train", "ablate"):
        assert train_config(build_parser().parse_args([command])) == TrainConfig(), command
    args = build_parser().parse_args(["train", "--optimizer", "adam"])
    assert train_config(args).lr == TrainConfig(optimizer="adam").lr      # adam's own default
