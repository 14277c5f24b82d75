"""Tests of minideeplab.datasets: the generators are deterministic, the data is not trivial,
the class cues are really there, and bad input gets a clear error."""

import itertools
import os

import numpy as np
import pytest

from minideeplab import datasets

SHAPES = datasets.SHAPES_CLASSES
DISK, SQUARE, RING, BAR = (SHAPES.index(name) for name in ("disk", "square", "ring", "bar"))


# --------------------------------------------------------------------------------------------
# shapes: determinism, shapes and dtypes
# --------------------------------------------------------------------------------------------

def test_same_seed_same_arrays_different_seed_different_arrays():
    images_a, masks_a = datasets.make_shapes(4, size=32, seed=7)
    images_b, masks_b = datasets.make_shapes(4, size=32, seed=7)
    images_c, _ = datasets.make_shapes(4, size=32, seed=8)
    np.testing.assert_array_equal(images_a, images_b)
    np.testing.assert_array_equal(masks_a, masks_b)
    assert not np.array_equal(images_a, images_c)


def test_image_i_does_not_depend_on_n():
    few_images, few_masks = datasets.make_shapes(3, size=32, seed=5)
    many_images, many_masks = datasets.make_shapes(12, size=32, seed=5)
    np.testing.assert_array_equal(few_images, many_images[:3])
    np.testing.assert_array_equal(few_masks, many_masks[:3])


@pytest.mark.parametrize("size", [16, 33, 64, 97])
def test_shapes_and_dtypes_for_several_sizes(size):
    images, masks = datasets.make_shapes(3, size=size, seed=1)
    assert images.shape == (3, 3, size, size) and images.dtype == np.float32
    assert masks.shape == (3, size, size) and masks.dtype == np.int64
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert set(np.unique(masks)) <= set(range(len(SHAPES)))


def test_zero_images_is_an_empty_batch():
    images, masks = datasets.make_shapes(0, size=32)
    assert images.shape == (0, 3, 32, 32) and masks.shape == (0, 32, 32)


def test_every_class_appears_in_a_modest_sample():
    _, masks = datasets.make_shapes(40, size=64, seed=0)
    assert set(np.unique(masks)) == set(range(len(SHAPES)))


# --------------------------------------------------------------------------------------------
# shapes: the design promises of data/README.md, measured on the pixels
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shapes_with_instances():
    return datasets.make_shapes(120, size=64, seed=3, return_instances=True)


def _visible_objects(images, masks, instances, min_pixels=30):
    """(image index, class, region) for every object with enough visible pixels."""
    for i in range(images.shape[0]):
        for k in range(1, instances[i].max() + 1):
            region = instances[i] == k
            if region.sum() >= min_pixels:
                yield i, int(masks[i][region][0]), region


def test_contrast_floor_between_objects_and_background(shapes_with_instances):
    # The generator keeps base colours >= 0.4 apart; measured means include stripes and noise,
    # so the check allows some slack.
    images, masks, instances = shapes_with_instances
    for i, _, region in _visible_objects(images, masks, instances):
        object_colour = images[i][:, region].mean(axis=1)
        background_colour = images[i][:, instances[i] == 0].mean(axis=1)
        assert np.linalg.norm(object_colour - background_colour) > 0.3


def test_contrast_floor_between_objects(shapes_with_instances):
    images, masks, instances = shapes_with_instances
    objects = list(_visible_objects(images, masks, instances))
    pairs = 0
    for (i, _, region_a), (j, _, region_b) in itertools.combinations(objects, 2):
        if i == j:
            colour_a = images[i][:, region_a].mean(axis=1)
            colour_b = images[i][:, region_b].mean(axis=1)
            assert np.linalg.norm(colour_a - colour_b) > 0.3
            pairs += 1
    assert pairs > 20


def test_stripe_direction_names_the_class(shapes_with_instances):
    """Horizontal stripes change brightness from row to row, not along a row: for disks the mean
    |vertical difference| is several times the |horizontal difference|; squares the opposite;
    rings (diagonal) and bars (flat) about equal."""
    images, masks, instances = shapes_with_instances
    ratios = {DISK: [], SQUARE: [], RING: [], BAR: []}
    for i, cls, region in _visible_objects(images, masks, instances):
        brightness = images[i].mean(axis=0)
        inside_vertical = region[1:, :] & region[:-1, :]
        inside_horizontal = region[:, 1:] & region[:, :-1]
        vertical = np.abs(np.diff(brightness, axis=0))[inside_vertical].mean()
        horizontal = np.abs(np.diff(brightness, axis=1))[inside_horizontal].mean()
        ratios[cls].append(vertical / horizontal)
    assert all(len(r) > 5 for r in ratios.values())
    assert np.min(ratios[DISK]) > 2.0
    assert np.max(ratios[SQUARE]) < 0.5
    assert 0.5 < np.median(ratios[RING]) < 2.0
    assert 0.5 < np.median(ratios[BAR]) < 2.0


def test_bars_are_flat_and_the_others_striped(shapes_with_instances):
    images, masks, instances = shapes_with_instances
    for i, cls, region in _visible_objects(images, masks, instances):
        spread = images[i].mean(axis=0)[region].std()
        if cls == BAR:
            assert spread < 0.04          # only the pixel noise
        else:
            assert spread > 0.08          # +-0.15 stripes


def test_colour_alone_does_not_give_the_class_away():
    train_images, train_masks = datasets.make_shapes(200, size=64, seed=10)
    test_images, test_masks = datasets.make_shapes(100, size=64, seed=11)
    result = datasets.colour_only_baseline(train_images, train_masks, test_images, test_masks,
                                           num_classes=len(SHAPES))
    for method in ("nearest_mean", "gaussian"):
        assert set(result[method]) == {"miou", "iou_per_class", "pixel_accuracy"}
        assert len(result[method]["iou_per_class"]) == len(SHAPES)
        assert result[method]["miou"] < 0.5


def test_colour_baseline_is_perfect_when_colour_names_the_class():
    # The control experiment: if each class had its own colour, the same classifier would win.
    rng = np.random.default_rng(0)
    masks = rng.integers(0, 3, size=(6, 8, 8))
    palette = np.array([[0.1, 0.1, 0.1], [0.9, 0.2, 0.2], [0.2, 0.2, 0.9]])
    images = palette[masks].transpose(0, 3, 1, 2).astype(np.float32)
    result = datasets.colour_only_baseline(images[:3], masks[:3], images[3:], masks[3:], 3)
    assert result["nearest_mean"]["miou"] == 1.0
    assert result["gaussian"]["miou"] == 1.0


# --------------------------------------------------------------------------------------------
# splits and the cache
# --------------------------------------------------------------------------------------------

def test_splits_differ():
    train_images, _ = datasets.load_dataset("shapes", "train", n=4, size=32, cache=False)
    val_images, _ = datasets.load_dataset("shapes", "val", n=4, size=32, cache=False)
    test_images, _ = datasets.load_dataset("shapes", "test", n=4, size=32, cache=False)
    assert not np.array_equal(train_images, val_images)
    assert not np.array_equal(val_images, test_images)
    assert not np.array_equal(train_images, test_images)


def test_cache_round_trip_without_pickle(tmp_path):
    images, masks = datasets.load_dataset("shapes", "val", n=5, size=32, cache_dir=tmp_path)
    files = sorted(os.listdir(tmp_path))
    assert len(files) == 1 and files[0].endswith(".npz")   # no temporary file left behind
    assert f"v{datasets.SHAPES_VERSION}" in files[0]      # a new generator version = new file
    with np.load(tmp_path / files[0], allow_pickle=False) as archive:
        np.testing.assert_array_equal(archive["images"], images)
        np.testing.assert_array_equal(archive["masks"], masks)
    # The second call reads the file: prove it by planting different (valid) arrays there.
    np.savez(tmp_path / files[0], images=np.zeros_like(images), masks=masks)
    again_images, _ = datasets.load_dataset("shapes", "val", n=5, size=32, cache_dir=tmp_path)
    assert not again_images.any()


def test_a_broken_cache_file_is_regenerated(tmp_path):
    images, _ = datasets.load_dataset("shapes", "test", n=3, size=32, cache_dir=tmp_path)
    (path,) = tmp_path.iterdir()
    path.write_bytes(b"not an npz file")
    with pytest.warns(UserWarning, match="cache"):
        again, _ = datasets.load_dataset("shapes", "test", n=3, size=32, cache_dir=tmp_path)
    np.testing.assert_array_equal(images, again)


def test_dataset_info():
    info = datasets.dataset_info("shapes")
    assert info["num_classes"] == 5 and info["class_names"] == SHAPES
    assert info["in_channels"] == 3
    assert datasets.dataset_info("digits")["num_classes"] == 11
    with pytest.raises(ValueError, match="name must be one of"):
        datasets.dataset_info("cityscapes")


# --------------------------------------------------------------------------------------------
# digits
# --------------------------------------------------------------------------------------------

def test_digit_source_pools_are_disjoint_and_cover_the_source():
    train, test = datasets.digit_source_indices("train"), datasets.digit_source_indices("test")
    assert np.intersect1d(train, test).size == 0
    assert np.union1d(train, test).size == 1797
    np.testing.assert_array_equal(datasets.digit_source_indices("val"), train)


def test_digit_scenes_shapes_classes_and_sources():
    images, masks, sources = datasets.make_digits(30, size=48, seed=2, split="test",
                                                  return_sources=True)
    assert images.shape == (30, 3, 48, 48) and images.dtype == np.float32
    assert masks.shape == (30, 48, 48) and masks.dtype == np.int64
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert set(np.unique(masks)) <= set(range(11)) and masks.max() > 0
    used = sources[sources >= 0]
    assert np.isin(used, datasets.digit_source_indices("test")).all()
    _, _, train_sources = datasets.make_digits(30, size=48, seed=2, split="train",
                                               return_sources=True)
    assert np.isin(train_sources[train_sources >= 0],
                   datasets.digit_source_indices("train")).all()


def test_digit_labels_match_the_source_digits():
    _, masks, sources = datasets.make_digits(20, seed=4, return_sources=True)
    _, source_labels = datasets._load_digit_source()
    for i in range(20):
        drawn = {int(source_labels[s]) + 1 for s in sources[i] if s >= 0}
        assert set(np.unique(masks[i])) - {0} <= drawn


def test_digits_are_deterministic():
    a, _ = datasets.make_digits(3, size=32, seed=9)
    b, _ = datasets.make_digits(3, size=32, seed=9)
    np.testing.assert_array_equal(a, b)


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
# augment
# --------------------------------------------------------------------------------------------

def test_augment_pads_labels_with_ignore_never_background():
    images, masks = datasets.make_shapes(6, size=32, seed=0)
    out_images, out_masks = datasets.augment(images, masks, np.random.default_rng(0),
                                             scale_range=(0.5, 0.5))
    assert out_images.shape == images.shape and out_masks.shape == masks.shape
    assert out_images.dtype == images.dtype and out_masks.dtype == masks.dtype
    for i in range(6):
        # The 16x16 scaled image sits somewhere in the 32x32 canvas; the rest is padding.
        padded = out_masks[i] == 255
        assert padded.sum() == 32 * 32 - 16 * 16
        assert not out_images[i][:, padded].any()          # padded image pixels are 0
        assert (out_masks[i] == 0).sum() > 0               # real background is still there


def test_augment_flip_flips_image_and_mask_together():
    images, masks = datasets.make_shapes(20, size=24, seed=1)
    out_images, out_masks = datasets.augment(images, masks, np.random.default_rng(3),
                                             flip=True, scale_range=None)
    flipped = 0
    for i in range(20):
        if np.array_equal(out_images[i], images[i]):
            np.testing.assert_array_equal(out_masks[i], masks[i])
        else:
            np.testing.assert_array_equal(out_images[i], images[i][:, :, ::-1])
            np.testing.assert_array_equal(out_masks[i], masks[i][:, ::-1])
            flipped += 1
    assert 0 < flipped < 20


def test_augment_is_deterministic_and_never_invents_labels():
    images, masks = datasets.make_shapes(5, size=32, seed=2)
    first = datasets.augment(images, masks, np.random.default_rng(11), crop_size=(20, 28))
    second = datasets.augment(images, masks, np.random.default_rng(11), crop_size=(20, 28))
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert first[0].shape == (5, 3, 20, 28) and first[1].shape == (5, 20, 28)
    assert set(np.unique(first[1])) <= set(np.unique(masks)) | {255}


def test_augment_bad_arguments():
    images, masks = datasets.make_shapes(2, size=16)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        datasets.augment(images, masks, rng=0)
    with pytest.raises(ValueError, match="masks must be an"):
        datasets.augment(images, masks[:, :8], np.random.default_rng(0))
    with pytest.raises(ValueError, match="scale_range"):
        datasets.augment(images, masks, np.random.default_rng(0), scale_range=(1.5, 1.0))
    with pytest.raises(TypeError, match="masks must have an integer dtype"):
        datasets.augment(images, masks.astype(np.int8), np.random.default_rng(0))


# --------------------------------------------------------------------------------------------
# pictures and bad input
# --------------------------------------------------------------------------------------------

def test_show_samples_colorize_and_overlay(tmp_path):
    images, masks = datasets.make_shapes(4, size=32, seed=0)
    masks[0, :2] = 255
    figure = datasets.show_samples(images, masks, SHAPES, n=3, path=tmp_path / "samples.png")
    assert len(figure.axes) == 6
    assert (tmp_path / "samples.png").stat().st_size > 0

    colours = datasets.colorize_mask(masks[0], num_classes=5)
    assert colours.shape == (32, 32, 3)
    np.testing.assert_array_equal(colours[0, 0], [1.0, 1.0, 1.0])            # ignore is white
    np.testing.assert_array_equal(colours[masks[0] == 0][0], [0.0, 0.0, 0.0])  # background black

    blended = datasets.overlay(images[1], masks[1], alpha=0.5)
    assert blended.shape == (32, 32, 3)
    background = masks[1] == 0
    np.testing.assert_allclose(blended[background], images[1].transpose(1, 2, 0)[background])

    with pytest.raises(ValueError, match="outside"):
        datasets.colorize_mask(np.full((2, 2), 9), num_classes=5)


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="size must be >= 16"):
        datasets.make_shapes(2, size=8)
    with pytest.raises(TypeError, match="n must be an int"):
        datasets.make_shapes(2.5)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        datasets.make_shapes(2, seed=-1)
    with pytest.raises(ValueError, match="split must be one of"):
        datasets.load_dataset("shapes", "training", n=2, cache=False)
    with pytest.raises(ValueError, match="name must be one of"):
        datasets.load_dataset("pascal", n=2, cache=False)
    with pytest.raises(ValueError, match="num_classes"):
        datasets.load_folder(".", num_classes=0)
