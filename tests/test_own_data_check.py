"""The data check, class weights, the data sources, and load_folder's refusals."""

import numpy as np
import pytest

from minideeplab import datasets

from .own_data import SIZES, save, scene, write_index_dataset, write_voc


def test_the_check_reports_splits_sizes_classes_and_pixel_shares(tmp_path):
    write_index_dataset(tmp_path, count=10, mask_kind="rgb")
    check = datasets.check_data(tmp_path)
    assert check.class_names == ("background", "apple", "sky")
    # the pixel counts are those of the masks, split by split
    totals = np.zeros(3, np.int64)
    for i in range(10):
        _, mask = scene(i, SIZES[i % len(SIZES)])
        totals += np.bincount(mask[mask != 255].ravel(), minlength=3)
    assert (sum(check.pixel_counts.values()) == totals).all()
    text = check.text()
    for expected in ("images/ + masks/", "8 train, 1 val, 1 test", "1 of them JPEG",
                     "names from", "background", "apple", "255  ignore"):
        assert expected in text, expected


def _size_of(i):
    return SIZES[i % len(SIZES)]


def test_a_mask_of_the_wrong_size_is_named(tmp_path):
    write_index_dataset(tmp_path, count=5)
    save(tmp_path / "masks" / "scene02.png", np.zeros((5, 5), np.uint8))
    with pytest.raises(ValueError, match=r"mask .*scene02\.png is 5x5 \(HxW\) but its image "
                                         r".*scene02\.png is 56x56"):
        datasets.check_data(tmp_path)


def test_labels_outside_the_classes_are_named_with_their_values(tmp_path):
    write_index_dataset(tmp_path, count=5)
    _, mask = scene(4, _size_of(4))
    mask[0, :3] = (7, 9, 7)
    save(tmp_path / "masks" / "scene04.png", mask)
    (tmp_path / "classes.json").write_text('["background", "apple", "sky"]')
    with pytest.raises(ValueError, match=r"scene04\.png has labels \[7, 9\] outside \[0, 3\) "
                                         r"that are not 255.*classes\.json"):
        datasets.check_data(tmp_path)


def test_a_checkpoint_class_count_is_checked_too(tmp_path):
    write_index_dataset(tmp_path, count=5)                      # labels 0, 1, 2
    with pytest.raises(ValueError, match=r"has labels \[2\] outside \[0, 2\)"):
        datasets.check_data(tmp_path, num_classes=2)


@pytest.mark.parametrize("which", ["image", "mask"])
def test_an_unreadable_file_is_named(tmp_path, which):
    write_index_dataset(tmp_path, count=5)
    folder = "images" if which == "image" else "masks"
    (tmp_path / folder / "scene03.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(ValueError, match=rf"{which} .*scene03\.png is not a readable"):
        datasets.check_data(tmp_path)


def test_binary_masks_of_0_and_255_are_refused_with_what_to_do(tmp_path):
    write_index_dataset(tmp_path, count=5)
    for i in range(5):
        _, mask = scene(i, _size_of(i))
        save(tmp_path / "masks" / f"scene{i:02d}.png", np.where(mask > 0, 255, 0).astype(np.uint8))
    with pytest.raises(ValueError, match=r"hold only the values 0 and 255 \(e\.g\. .*scene0\d\.png"
                                         r"\).*--mask-255 class1.*--mask-255 ignore"):
        datasets.check_data(tmp_path)
    as_class1 = datasets.check_data(tmp_path, mask_255="class1")
    assert as_class1.num_classes == 2 and as_class1.pixel_counts["train"][1] > 0
    as_ignore = datasets.check_data(tmp_path, mask_255="ignore")
    assert as_ignore.num_classes == 1 and as_ignore.ignore_counts["train"] > 0


def test_class_weights_by_hand():
    # inverse: N / (K n_k) = 400 / (2 * 300), 400 / (2 * 100); an absent class gets 0
    np.testing.assert_allclose(datasets.class_weights("inverse", [300, 100, 0]), [2 / 3, 2, 0])
    # median frequency: freq = n_k / pixels of images with k = 300/400, 100/200 -> median 0.625
    np.testing.assert_allclose(datasets.class_weights("median", [300, 100], [400, 200]),
                               [0.625 / 0.75, 0.625 / 0.5])
    assert datasets.class_weights("none", [1, 2]) is None
    with pytest.raises(ValueError, match="class_weights must be one of"):
        datasets.class_weights("sqrt", [1, 2])


def test_the_folder_source_crops_training_batches_and_scores_whole_padded_images(tmp_path):
    write_voc(tmp_path)
    source = datasets.FolderSource(tmp_path, image_size=32, scale_range=(0.75, 1.25))
    images, masks = source.train_batch(np.array([0, 1, 2]), np.random.default_rng(0))
    assert images.shape == (3, 3, 32, 32) and masks.shape == (3, 32, 32)
    again = source.train_batch(np.array([0, 1, 2]), np.random.default_rng(0))
    np.testing.assert_array_equal(again[1], masks)              # seeded: the same crops
    batches = list(source.eval_batches("val", multiple=16))
    assert len(batches) == 3
    for (image, mask), (_, whole, truth) in zip(batches, source.pairs("val"), strict=True):
        height, width = truth.shape
        np.testing.assert_array_equal(image[0, :, :height, :width], whole)
        assert image.shape[2] % 16 == 0 and image.shape[3] % 16 == 0
        np.testing.assert_array_equal(mask[0, :height, :width], truth)
        assert (mask[0, height:] == 255).all() and (mask[0, :, width:] == 255).all()
        assert (image[0, :, height:] == 0).all()
    assert source.training_size == source.check.median_size("train")


def test_the_generated_source_gives_the_batches_the_loop_always_had():
    source = datasets.GeneratedSource("shapes", image_size=32, n={"train": 8, "val": 4,
                                                                  "test": 4})
    images, masks = datasets.load_dataset("shapes", "train", n=8, size=32)
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    mine = source.train_batch(np.array([3, 1]), rng_a)
    expected = datasets.augment(images[[3, 1]], masks[[3, 1]], rng_b, flip=True,
                                scale_range=(1.0, 1.0))
    np.testing.assert_array_equal(mine[0], expected[0])
    np.testing.assert_array_equal(mine[1], expected[1])


# ------------------------------------------------------------------- load_folder (issue 12)

def _same_size_folder(root, count=3):
    for i in range(count):
        image, mask = scene(i, (32, 32))
        save(root / "images" / f"s{i}.png", image)
        save(root / "masks" / f"s{i}.png", mask)


def test_load_folder_names_a_corrupt_image(tmp_path):
    _same_size_folder(tmp_path)
    (tmp_path / "images" / "s1.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(ValueError, match=r"image .*s1\.png is not a readable PNG/JPEG"):
        datasets.load_folder(tmp_path, num_classes=3)


def test_load_folder_says_a_jpeg_mask_must_be_lossless(tmp_path):
    _same_size_folder(tmp_path)
    (tmp_path / "masks" / "s2.png").rename(tmp_path / "masks" / "s2.jpg")
    with pytest.raises(ValueError, match=r"s2\.jpg, a JPEG: masks must be lossless"):
        datasets.load_folder(tmp_path, num_classes=3)


def test_load_folder_refuses_binary_0_255_masks_and_says_how_to_read_them(tmp_path):
    _same_size_folder(tmp_path)
    for i in range(3):
        _, mask = scene(i, (32, 32))
        save(tmp_path / "masks" / f"s{i}.png", np.where(mask == 0, 0, 255).astype(np.uint8))
    with pytest.raises(ValueError, match=r"only the values 0 and 255.*mask_255='class1'"):
        datasets.load_folder(tmp_path, num_classes=2)
    _, masks = datasets.load_folder(tmp_path, num_classes=2, mask_255="class1")
    assert set(np.unique(masks).tolist()) == {0, 1}
    _, masks = datasets.load_folder(tmp_path, num_classes=2, mask_255="ignore")
    assert set(np.unique(masks).tolist()) == {0, 255}
