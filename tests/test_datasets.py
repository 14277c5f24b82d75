"""Tests of minideeplab.datasets: the generators are deterministic, the data is not trivial,
the class cues are really there, and bad input gets a clear error.

Split by job like the package: the cache in test_datasets_cache.py, your own folders in
test_datasets_folder.py, augmentation in test_datasets_augment.py, pictures (now in viz) in
test_datasets_pictures.py."""

import itertools

import numpy as np
import pytest

from minideeplab import datasets
from minideeplab.datasets import digits as digits_module

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


def test_colour_baseline_skips_ignore_pixels_and_names_bad_labels():
    rng = np.random.default_rng(1)
    masks = rng.integers(0, 3, size=(6, 8, 8))
    palette = np.array([[0.1, 0.1, 0.1], [0.9, 0.2, 0.2], [0.2, 0.2, 0.9]])
    images = palette[masks].transpose(0, 3, 1, 2).astype(np.float32)
    # Ignore pixels painted a misleading grey: left out of fitting and of scoring alike.
    masks[:, 0, :] = 255
    images[:, :, 0, :] = 0.5
    result = datasets.colour_only_baseline(images[:3], masks[:3], images[3:], masks[3:], 3)
    assert result["gaussian"]["miou"] == 1.0
    assert result["nearest_mean"]["pixel_accuracy"] == 1.0
    masks[4, 2, 2] = 7
    with pytest.raises(ValueError, match=r"test_masks has labels \[7\]"):
        datasets.colour_only_baseline(images[:3], masks[:3], images[3:], masks[3:], 3)
    with pytest.raises(ValueError, match=r"train_images must be an \(N, 3, H, W\) array"):
        datasets.colour_only_baseline(images[:3, :2], masks[:3], images[3:], masks[3:], 3)


# --------------------------------------------------------------------------------------------
# the registry: named datasets and their splits
# --------------------------------------------------------------------------------------------

def test_splits_differ():
    train_images, _ = datasets.load_dataset("shapes", "train", n=4, size=32, cache=False)
    val_images, _ = datasets.load_dataset("shapes", "val", n=4, size=32, cache=False)
    test_images, _ = datasets.load_dataset("shapes", "test", n=4, size=32, cache=False)
    assert not np.array_equal(train_images, val_images)
    assert not np.array_equal(val_images, test_images)
    assert not np.array_equal(train_images, test_images)


def test_dataset_info():
    info = datasets.dataset_info("shapes")
    assert info["num_classes"] == 5 and info["class_names"] == SHAPES
    assert info["in_channels"] == 3
    assert datasets.dataset_info("digits")["num_classes"] == 11
    with pytest.raises(ValueError, match="name must be one of"):
        datasets.dataset_info("cityscapes")


def test_every_public_name_of_the_old_module_is_still_there():
    names = ["IGNORE_INDEX", "SHAPES_CLASSES", "BACKGROUND", "DISK", "SQUARE", "RING", "BAR",
             "DIGITS_CLASSES", "SHAPES_VERSION", "DIGITS_VERSION", "DIGITS_SOURCE", "DATASETS",
             "SPLITS", "dataset_info", "make_shapes", "digit_source_indices", "make_digits",
             "default_cache_dir", "load_dataset", "read_image", "load_folder", "augment",
             "colour_only_baseline"]
    for name in names:
        assert hasattr(datasets, name), name
    assert set(names) <= set(datasets.__all__)     # new names may join (own data, issue 13)
    assert datasets.IGNORE_INDEX == 255
    assert datasets.DIGITS_SOURCE.is_file()        # the path still finds data/ from the package


def test_ignore_index_is_defined_once():
    from minideeplab import metrics
    from minideeplab.functional import loss

    assert datasets.IGNORE_INDEX is loss.IGNORE_INDEX is metrics.IGNORE_INDEX


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
    _, source_labels = digits_module._load_digit_source()
    for i in range(20):
        drawn = {int(source_labels[s]) + 1 for s in sources[i] if s >= 0}
        assert set(np.unique(masks[i])) - {0} <= drawn


def test_digits_are_deterministic():
    a, _ = datasets.make_digits(3, size=32, seed=9)
    b, _ = datasets.make_digits(3, size=32, seed=9)
    np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------

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
