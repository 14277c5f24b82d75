"""Tests of reading your own data (minideeplab.datasets.folder): images and index masks."""

import os

import numpy as np
import pytest

from minideeplab import datasets

# --------------------------------------------------------------------------------------------
# load_folder
# --------------------------------------------------------------------------------------------

def _save_png(path, array, mode=None):
    from PIL import Image
    Image.fromarray(array, mode=mode).save(path) if mode else Image.fromarray(array).save(path)


def _make_folder(root, count=3, height=6, width=5, num_classes=3):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(count, height, width, 3), dtype=np.uint8)
    labels = rng.integers(0, num_classes, size=(count, height, width), dtype=np.uint8)
    labels[:, 0, 0] = 255   # an ignore pixel is allowed
    for i in range(count):
        _save_png(root / "images" / f"img{i}.png", pixels[i])
        _save_png(root / "masks" / f"img{i}.png", labels[i])
    return pixels, labels


def test_load_folder_reads_images_and_masks(tmp_path):
    pixels, labels = _make_folder(tmp_path)
    images, masks = datasets.load_folder(tmp_path, num_classes=3)
    assert images.shape == (3, 3, 6, 5) and images.dtype == np.float32
    assert masks.shape == (3, 6, 5) and masks.dtype == np.int64
    np.testing.assert_allclose(images, pixels.transpose(0, 3, 1, 2) / 255.0, atol=1e-7)
    np.testing.assert_array_equal(masks, labels)


def test_load_folder_grayscale_becomes_three_channels_and_alpha_is_dropped(tmp_path):
    _make_folder(tmp_path, count=1)
    gray = np.arange(30, dtype=np.uint8).reshape(6, 5) * 8
    _save_png(tmp_path / "images" / "gray.png", gray)
    rgba = np.zeros((6, 5, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 17
    _save_png(tmp_path / "images" / "rgba.png", rgba)
    for stem in ("gray", "rgba"):
        _save_png(tmp_path / "masks" / f"{stem}.png", np.zeros((6, 5), np.uint8))
    images, _ = datasets.load_folder(tmp_path, num_classes=3)   # sorted: gray, img0, rgba
    np.testing.assert_allclose(images[0], np.repeat(gray[None] / 255.0, 3, axis=0), atol=1e-7)
    np.testing.assert_allclose(images[2, 0], 200 / 255.0, atol=1e-7)
    np.testing.assert_allclose(images[2, 1:], 0.0)


def test_load_folder_mask_value_out_of_range(tmp_path):
    _, labels = _make_folder(tmp_path)
    labels[1, 2, 2] = 7
    _save_png(tmp_path / "masks" / "img1.png", labels[1])
    with pytest.raises(ValueError, match=r"img1\.png.*\[7\]"):
        datasets.load_folder(tmp_path, num_classes=3)


def test_load_folder_image_without_mask(tmp_path):
    _make_folder(tmp_path)
    os.remove(tmp_path / "masks" / "img2.png")
    with pytest.raises(ValueError, match=r"img2\.png has no mask"):
        datasets.load_folder(tmp_path, num_classes=3)


def test_load_folder_image_mask_size_mismatch(tmp_path):
    _make_folder(tmp_path)
    _save_png(tmp_path / "masks" / "img0.png", np.zeros((6, 4), np.uint8))
    with pytest.raises(ValueError, match=r"img0\.png"):
        datasets.load_folder(tmp_path, num_classes=3)


def test_load_folder_images_of_different_sizes(tmp_path):
    _make_folder(tmp_path)
    _save_png(tmp_path / "images" / "img1.png", np.zeros((7, 5, 3), np.uint8))
    _save_png(tmp_path / "masks" / "img1.png", np.zeros((7, 5), np.uint8))
    with pytest.raises(ValueError, match=r"img1\.png.*same size"):
        datasets.load_folder(tmp_path, num_classes=3)


def test_load_folder_empty_or_missing(tmp_path):
    with pytest.raises(ValueError, match="images/ subfolder"):
        datasets.load_folder(tmp_path, num_classes=3)
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(ValueError, match="contains no images"):
        datasets.load_folder(tmp_path, num_classes=3)


def test_load_folder_refuses_colour_masks(tmp_path):
    _make_folder(tmp_path)
    _save_png(tmp_path / "masks" / "img0.png", np.zeros((6, 5, 3), np.uint8))
    with pytest.raises(ValueError, match=r"img0\.png has mode RGB"):
        datasets.load_folder(tmp_path, num_classes=3)


# --------------------------------------------------------------------------------------------
# read_image
# --------------------------------------------------------------------------------------------

def test_read_image_is_channels_first_contiguous_float32(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, size=(4, 7, 3), dtype=np.uint8)
    _save_png(tmp_path / "x.png", pixels)
    image = datasets.read_image(tmp_path / "x.png")
    assert image.shape == (3, 4, 7) and image.dtype == np.float32
    assert image.flags.c_contiguous
    np.testing.assert_allclose(image, pixels.transpose(2, 0, 1) / 255.0, atol=1e-7)


def test_read_image_missing_or_unreadable(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        datasets.read_image(tmp_path / "nope.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="not a readable PNG/JPEG"):
        datasets.read_image(tmp_path / "bad.png")


def test_load_folder_images_are_contiguous(tmp_path):
    _make_folder(tmp_path)
    images, _ = datasets.load_folder(tmp_path, num_classes=3)
    assert images.flags.c_contiguous
