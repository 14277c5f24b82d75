"""Your own data from the command line, end to end: data check, train, evaluate, predict, on
small datasets of every layout written into a temporary folder."""

import json

import numpy as np
import pytest

from minideeplab.cli import main

from .own_data import save, scene, write_index_dataset, write_split_folders, write_voc

TINY = ["--steps", "2", "--eval-every", "2", "--batch-size", "2", "--image-size", "32",
        "--no-progress"]

LAYOUTS = {
    "index": lambda root: write_index_dataset(root),
    "palette": lambda root: write_index_dataset(root, mask_kind="palette"),
    "rgb": lambda root: write_index_dataset(root, mask_kind="rgb"),
    "voc": write_voc,
    "split-folders": write_split_folders,
}


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDEEPLAB_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny run on an images/ + masks/ folder (index masks, mixed sizes, a JPEG, 255s)."""
    root = tmp_path_factory.mktemp("own")
    data = write_index_dataset(root / "data", mask_kind="rgb")
    assert main(["train", "--data", str(data), "--out", str(root / "run"),
                 "--class-weights", "median", *TINY]) == 0
    return data, root / "run"


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_train_on_every_layout(layout, tmp_path, capsys):
    data = LAYOUTS[layout](tmp_path / "data")
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "run"), *TINY]) == 0
    out = capsys.readouterr().out
    assert "data: " in out and "train pixels" in out                 # the data check, first
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["config"]["data"] == str(data)
    described = metrics["data"]
    assert described["kind"] == "folder" and described["stems"]["train"]
    if layout in ("index", "palette", "rgb"):
        assert "seeded 80/10/10 split (seed 0)" in described["split"]
        assert len(described["stems"]["val"]) == 1 and len(described["stems"]["test"]) == 1
    if layout == "rgb":
        assert metrics["class_names"] == ["background", "apple", "sky"]
    if layout == "voc":
        assert metrics["test"] is None                                 # no test.txt
    assert (tmp_path / "run" / "predictions.png").is_file()


def test_class_weights_are_written_into_the_metrics(trained, capsys):
    _, run = trained
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["config"]["class_weights"] == "median"
    weights = metrics["class_weights"]
    assert len(weights) == 3 and all(w > 0 for w in weights)


def test_data_check_command(tmp_path, capsys):
    data = write_voc(tmp_path / "voc")
    assert main(["data", "check", str(data)]) == 0
    out = capsys.readouterr().out
    assert "Pascal VOC" in out and "7 train, 3 val, 0 test" in out and "ok:" in out


def _break(data, how):
    """Make one file of an index dataset bad; return the file's name."""
    if how == "size":
        save(data / "masks" / "scene04.png", np.zeros((10, 10), np.uint8))
        return "scene04.png"
    if how == "label":
        _, mask = scene(5, (36, 44))
        mask[0, 0] = 9
        save(data / "masks" / "scene05.png", mask)
        return "scene05.png"
    if how == "no-mask":
        (data / "masks" / "scene06.png").unlink()
        return "scene06.png"
    if how == "unreadable":
        (data / "images" / "scene07.png").write_bytes(b"not an image at all")
        return "scene07.png"
    if how == "jpeg-mask":
        (data / "masks" / "scene08.png").rename(data / "masks" / "scene08.jpg")
        return "scene08.jpg"
    raise ValueError(how)


@pytest.mark.parametrize("how", ["size", "label", "no-mask", "unreadable", "jpeg-mask"])
@pytest.mark.parametrize("command", ["train", "check"])
def test_bad_data_is_one_line_naming_the_file(how, command, tmp_path, capsys):
    data = write_index_dataset(tmp_path / "data")
    if how == "label":
        (data / "classes.json").write_text('["background", "apple", "sky"]')
    name = _break(data, how)
    argv = (["train", "--data", str(data), "--out", str(tmp_path / "run"), *TINY]
            if command == "train" else ["data", "check", str(data)])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and name in err and "Traceback" not in err
    assert not (tmp_path / "run" / "model.npz").exists()          # refused before training


def test_a_colour_not_in_the_table_and_an_empty_folder(tmp_path, capsys):
    data = write_index_dataset(tmp_path / "data", mask_kind="rgb")
    rgb = np.zeros((36, 44, 3), np.uint8)
    rgb[3, 3] = (1, 2, 3)
    save(data / "masks" / "scene05.png", rgb)
    assert main(["data", "check", str(data)]) == 2
    err = capsys.readouterr().err
    assert "scene05.png has colours that are not in the class table" in err and "[1, 2, 3]" in err
    (tmp_path / "empty").mkdir()
    out = tmp_path / "runs" / "first"
    assert main(["train", "--data", str(tmp_path / "empty"), "--out", str(out), *TINY]) == 2
    assert "empty" in capsys.readouterr().err
    assert not out.parent.exists()         # refused data leaves no empty run folder behind


def test_binary_masks_need_mask_255(tmp_path, capsys):
    data = write_index_dataset(tmp_path / "data")
    for file in (data / "masks").iterdir():
        from PIL import Image

        mask = np.asarray(Image.open(file))
        save(file, np.where(mask == 0, 0, 255).astype(np.uint8))
    argv = ["train", "--data", str(data), "--out", str(tmp_path / "run"), *TINY]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "only the values 0 and 255" in err and "--mask-255 class1" in err
    assert main([*argv, "--mask-255", "class1"]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["class_names"] == ["class 0", "class 1"]


def test_fewer_images_than_the_batch_and_options_without_data(tmp_path, capsys):
    data = write_index_dataset(tmp_path / "data")
    assert main(["train", "--data", str(data), *TINY[:4], "--batch-size", "16",
                 "--out", str(tmp_path / "run")]) == 2
    assert "8 training images, fewer than batch_size 16" in capsys.readouterr().err
    assert main(["train", "--palette", "x.json", "--out", str(tmp_path / "run"), *TINY]) == 2
    assert "palette applies to your own data" in capsys.readouterr().err


def test_evaluate_and_predict_on_the_own_data(trained, tmp_path, capsys):
    data, run = trained
    assert main(["evaluate", str(run / "model.npz"), "--split", "val", "--output-stride", "8",
                 "--scales", "0.75,1", "--flip", "--report", str(tmp_path / "report"),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"on {data} val (1 image, whole" in out and "OS 8, scales 0.75/1, flip" in out
    assert "mean class accuracy" in out and "M mult-adds per image" in out
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["settings"] == {"output_stride": 8, "scales": [0.75, 1.0], "flip": True,
                                  "tile": 512}
    assert report["class_names"] == ["background", "apple", "sky"]
    assert len(report["trimap"]["miou"]) == 40
    for figure in ("confusion_matrix.png", "trimap.png", "lowest_miou.png"):
        assert (tmp_path / "report" / figure).is_file()
    assert main(["predict", str(run / "model.npz"), str(data / "images"),
                 "--out", str(tmp_path / "predicted")]) == 0
    written = sorted(p.name for p in (tmp_path / "predicted").iterdir())
    assert len(written) == 20 and "scene01.png" in written and "scene01_overlay.png" in written


def test_predict_the_test_split_of_a_dataset_folder(trained, tmp_path, capsys):
    data, run = trained
    assert main(["predict", str(run / "model.npz"), "--data", str(data), "--out",
                 str(tmp_path / "p"), "--no-overlay"]) == 0
    test_stems = json.loads((run / "metrics.json").read_text())["data"]["stems"]["test"]
    assert sorted(p.stem for p in (tmp_path / "p").iterdir()) == sorted(test_stems)
    assert main(["predict", str(run / "model.npz"), "--out", str(tmp_path / "q")]) == 2
    assert "give images or folders to predict, or --data DIR" in capsys.readouterr().err


def test_evaluate_warns_when_the_folder_changed_since_training(tmp_path, capsys):
    data = write_index_dataset(tmp_path / "data", count=10)
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "run"), *TINY]) == 0
    capsys.readouterr()
    write_index_dataset(data, count=10, start=10)       # ten more images: a new seeded split
    assert main(["evaluate", str(tmp_path / "run" / "model.npz"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "were training images of this checkpoint" in out


# ------------------------------------------------------------------ data export

def test_data_export_writes_a_folder_that_reads_back_as_the_generated_set(tmp_path, capsys):
    from PIL import Image

    from minideeplab.datasets import load_dataset

    out = tmp_path / "shapes_png"
    assert main(["data", "export", "shapes", str(out), "--n", "6", "--size", "32"]) == 0
    assert "next: minideeplab data check" in capsys.readouterr().out
    assert json.loads((out / "classes.json").read_text()) == [
        "background", "disk", "square", "ring", "bar"]
    for split in ("train", "val", "test"):
        images, masks = load_dataset("shapes", split, n=6, size=32, cache=False)
        files = sorted((out / split / "images").iterdir())
        assert [f.name for f in files] == [f"shapes_{split}_{k:04d}.png" for k in range(6)]
        for k, file in enumerate(files):
            pixels = np.asarray(Image.open(file)).astype(np.float64) / 255
            assert np.abs(pixels - np.moveaxis(images[k], 0, -1)).max() <= 0.5 / 255 + 1e-6
            mask = np.asarray(Image.open(out / split / "masks" / file.name))
            np.testing.assert_array_equal(mask, masks[k])        # class indices, read back
    assert main(["data", "check", str(out)]) == 0
    assert "ok: every image has a readable mask" in capsys.readouterr().out
    assert main(["train", "--data", str(out), "--out", str(tmp_path / "run"), *TINY]) == 0


def test_data_export_refuses_what_it_cannot_do_and_leaves_nothing_half(tmp_path, capsys,
                                                                       monkeypatch):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "mine.txt").write_text("keep")
    for argv, message in [(["shapes", str(taken)], "already exists and is not an empty folder"),
                          (["cats", str(tmp_path / "a")], "NAME must be one of shapes, digits"),
                          (["shapes", str(tmp_path / "a"), "--n", "0"], "--n must be >= 1"),
                          (["shapes", str(tmp_path / "a"), "--size", "8"], "--size must be >= 16")]:
        assert main(["data", "export", *argv]) == 2
        assert message in capsys.readouterr().err
    assert [p.name for p in taken.iterdir()] == ["mine.txt"]
    import minideeplab.cli.predict as predict_cli

    written = []

    def fail_on_the_fifth(path, labels, num_classes):
        written.append(path)
        if len(written) == 5:
            raise OSError(28, "No space left on device")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")

    monkeypatch.setattr(predict_cli, "save_index_png", fail_on_the_fifth)
    with pytest.raises(OSError, match="No space left"):
        main(["data", "export", "shapes", str(tmp_path / "b"), "--n", "3"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]   # no DIR, no staging folder
