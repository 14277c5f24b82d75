"""``minideeplab predict``: masks as palette PNGs, overlays, folders, odd sizes, large images."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minideeplab as mdl
from minideeplab.checkpoint import save_checkpoint
from minideeplab.cli import main

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(widths=(8, 8, 8, 8), stem_channels=8, aspp_channels=8, low_level_channels=8,
             decoder_channels=8)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A small model 'trained' on 32x32 images (the checkpoint's metadata says so)."""
    path = tmp_path_factory.mktemp("ckpt") / "model.npz"
    model = mdl.models.DeepLabV3Plus(3, seed=1, **SMALL)
    save_checkpoint(path, model, metadata={"image_size": 32,
                                           "class_names": ["background", "apple", "sky"]})
    return path


def _image(path, height, width, seed=0):
    from PIL import Image

    pixels = (np.random.default_rng(seed).random((height, width, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_the_mask_is_a_palette_png_of_the_predicted_classes(checkpoint, tmp_path, capsys):
    from PIL import Image

    image = _image(tmp_path / "photo.png", 40, 36)
    out = tmp_path / "out"
    assert main(["predict", str(checkpoint), str(image), "--out", str(out)]) == 0
    mask = Image.open(out / "photo.png")
    assert mask.mode == "P" and mask.size == (36, 40)
    from minideeplab.evaluation import predict_labels

    model = mdl.load_model(checkpoint)
    expected = predict_labels(model, mdl.datasets.read_image(image))
    np.testing.assert_array_equal(np.asarray(mask), expected)   # read back: class indices
    assert mask.getpalette()[3:6] == [227, 26, 28]                # class 1 in viz's red
    assert (out / "photo_overlay.png").stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert f"{out / 'photo.png'}, {out / 'photo_overlay.png'}" in printed


def test_an_output_name_without_extension_is_a_folder_and_says_what_was_written(
        checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _image(tmp_path / "in.png", 32, 32)
    assert main(["predict", str(checkpoint), "in.png", "--out", "noext"]) == 0
    printed = capsys.readouterr().out
    assert "-> noext/in.png, noext/in_overlay.png" in printed
    assert (tmp_path / "noext" / "in.png").is_file()


def test_a_folder_of_images_is_predicted_image_by_image(checkpoint, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, (height, width) in enumerate([(20, 30), (33, 17), (32, 32)]):
        _image(folder / f"p{i}.{'jpg' if i == 1 else 'png'}", height, width, seed=i)
    assert main(["predict", str(checkpoint), str(folder), "--out", str(tmp_path / "o")]) == 0
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "p0.png", "p0_overlay.png", "p1.png", "p1_overlay.png", "p2.png", "p2_overlay.png"]
    assert "wrote 3 predicted mask(s)" in capsys.readouterr().out
    assert main(["predict", str(checkpoint), str(folder), "--out", str(tmp_path / "m"),
                 "--no-overlay"]) == 0
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["p0.png", "p1.png", "p2.png"]


def test_a_one_pixel_image_does_not_crash(checkpoint, tmp_path, capsys):
    image = _image(tmp_path / "dot.png", 1, 1)
    assert main(["predict", str(checkpoint), str(image), "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "dot_overlay.png").is_file()
    assert "dot.png (1x1)" in capsys.readouterr().out


def test_an_image_far_from_the_training_size_gets_a_note_and_resize(checkpoint, tmp_path,
                                                                    capsys):
    from PIL import Image

    image = _image(tmp_path / "big.png", 160, 128)
    assert main(["predict", str(checkpoint), str(image), "--out", str(tmp_path / "a")]) == 0
    printed = capsys.readouterr().out
    assert ("trained on images of 32x32 pixels; this one's longer side is 160 pixels, "
            "5.0x theirs") in printed
    assert "--resize" in printed
    assert main(["predict", str(checkpoint), str(image), "--out", str(tmp_path / "b"),
                 "--resize"]) == 0
    printed = capsys.readouterr().out
    assert "predicted at 32x26, the training scale, and scaled back" in printed
    assert Image.open(tmp_path / "b" / "big.png").size == (128, 160)   # the image's own size


@pytest.mark.parametrize("argv, message", [
    (["--out", "overlay.png"], "--out is the folder for the predictions"),
    (["--tile", "8"], "--tile must be >= 32"),
])
def test_bad_options_name_the_option(checkpoint, tmp_path, argv, message, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    image = _image(tmp_path / "x.png", 8, 8)
    assert main(["predict", str(checkpoint), str(image), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "predictions").exists()     # the default --out, never created


def test_a_failed_command_leaves_no_output_folder(checkpoint, tmp_path, capsys):
    (tmp_path / "notes.md").write_text("not an image")
    out = tmp_path / "out"
    assert main(["predict", str(checkpoint), str(tmp_path / "notes.md"), "--out", str(out)]) == 2
    assert "notes.md is not an image file" in capsys.readouterr().err
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    assert main(["predict", str(checkpoint), str(tmp_path / "corrupt.png"), "--out",
                 str(out)]) == 2
    assert not out.exists()


def test_bad_inputs_are_named(checkpoint, tmp_path, capsys):
    assert main(["predict", str(checkpoint), str(tmp_path / "nope.png")]) == 2
    assert "nope.png does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["predict", str(checkpoint), str(tmp_path / "empty")]) == 2
    assert "empty holds no images" in capsys.readouterr().err
    (tmp_path / "a").mkdir()
    _image(tmp_path / "a" / "same.png", 8, 8)
    _image(tmp_path / "same.jpg", 8, 8)
    assert main(["predict", str(checkpoint), str(tmp_path / "a"), str(tmp_path / "same.jpg"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "two images have the name 'same'" in capsys.readouterr().err
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    assert main(["predict", str(checkpoint), str(tmp_path / "corrupt.png"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "corrupt.png is not a readable PNG/JPEG" in capsys.readouterr().err


@pytest.mark.slow
def test_a_4000_pixel_image_is_predicted_in_under_2_gib(checkpoint, tmp_path):
    """Tiles keep the memory bounded (a whole-image forward pass of even this small model
    peaks above 2 GiB). Peak memory of the command, measured in a child process."""
    from PIL import Image

    rows, cols = np.mgrid[0:4000, 0:4000]
    pixels = np.stack([(cols // 16) % 256, (rows // 16) % 256, ((rows + cols) // 32) % 256],
                      axis=-1).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "huge.png")
    del rows, cols, pixels
    script = ("import resource, sys; from minideeplab.cli import main; "
              f"code = main(['predict', {str(checkpoint)!r}, {str(tmp_path / 'huge.png')!r}, "
              f"'--out', {str(tmp_path / 'out')!r}]); "
              "print('peak_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); "
              "sys.exit(code)")
    # one Numba thread: the memory does not depend on it, and on a busy machine it is several
    # times faster for this small model's many small layers
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_NUM_THREADS": "1"}
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                               cwd=ROOT, env=env)
    assert completed.returncode == 0, completed.stderr
    peak_mib = int(completed.stdout.split("peak_kib")[1].split()[0]) / 1024
    assert peak_mib < 2048, f"peak memory {peak_mib:.0f} MiB"
    assert Image.open(tmp_path / "out" / "huge.png").size == (4000, 4000)
    assert "4000x4000" in completed.stdout and "4000 pixels, 125.0x theirs" in completed.stdout
