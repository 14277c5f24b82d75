"""Finding the pairs and the split of a dataset folder, in every layout (datasets.layouts)."""

import numpy as np
import pytest

from minideeplab import datasets

from .own_data import save, scene, write_index_dataset, write_split_folders, write_voc


def _stems(layout, split):
    return [image.stem for image, _ in layout.splits[split]]


def test_images_and_masks_get_the_seeded_80_10_10_split(tmp_path):
    write_index_dataset(tmp_path, count=10)
    layout = datasets.detect_layout(tmp_path)
    assert layout.kind == "images/ + masks/"
    assert [len(layout.splits[s]) for s in ("train", "val", "test")] == [8, 1, 1]
    every = sorted(_stems(layout, "train") + _stems(layout, "val") + _stems(layout, "test"))
    assert every == [f"scene{i:02d}" for i in range(10)]          # each image exactly once
    for image, mask in layout.splits["train"]:
        assert image.stem == mask.stem and mask.parent.name == "masks"
    assert "seeded 80/10/10 split (seed 0)" in layout.line()
    # the same files give the same split, whatever else happens (evaluate --data relies on it)
    again = datasets.detect_layout(tmp_path)
    assert _stems(again, "test") == _stems(layout, "test")


def test_the_seeded_split_does_not_depend_on_the_order_of_the_pairs(tmp_path):
    write_index_dataset(tmp_path, count=20)
    pairs = datasets.detect_layout(tmp_path).splits
    everything = [p for split in pairs.values() for p in split]
    shuffled = [everything[i] for i in np.random.default_rng(3).permutation(len(everything))]
    split = datasets.seeded_split(shuffled)
    assert [len(split[s]) for s in ("train", "val", "test")] == [16, 2, 2]
    assert split == datasets.seeded_split(everything)


def test_pascal_voc_with_split_files(tmp_path):
    write_voc(tmp_path)
    layout = datasets.detect_layout(tmp_path)
    assert layout.kind.startswith("Pascal VOC")
    assert _stems(layout, "train") == [f"2007_{i:06d}" for i in range(7)]
    assert _stems(layout, "val") == [f"2007_{i:06d}" for i in range(7, 10)]
    assert "test" not in layout.splits                          # no test.txt: no test split
    assert "ImageSets/Segmentation/{train,val}.txt" in layout.line()
    # the JPEG without a mask is not listed in a split file, so it is not used
    assert all(image.stem != "2007_999999" for pairs in layout.splits.values()
               for image, _ in pairs)


def test_pascal_voc_without_split_files_uses_the_images_that_have_masks(tmp_path):
    write_voc(tmp_path)
    for name in ("train.txt", "val.txt"):
        (tmp_path / "ImageSets" / "Segmentation" / name).unlink()
    layout = datasets.detect_layout(tmp_path)
    assert sum(len(p) for p in layout.splits.values()) == 10
    assert "1 images of" in layout.notes[0] and "have no mask" in layout.notes[0]


def test_voc_inside_vocdevkit_is_found(tmp_path):
    write_voc(tmp_path / "VOCdevkit" / "VOC2012")
    layout = datasets.detect_layout(tmp_path)
    assert layout.root == tmp_path / "VOCdevkit" / "VOC2012"


def test_split_subfolders(tmp_path):
    write_split_folders(tmp_path)
    layout = datasets.detect_layout(tmp_path)
    assert [len(layout.splits[s]) for s in ("train", "val", "test")] == [6, 2, 2]
    assert "split subfolders train/, val/, test/" in layout.line()


def test_images_and_masks_with_split_subfolders_inside(tmp_path):
    write_index_dataset(tmp_path, count=4, image_dir="images/train", mask_dir="masks/train")
    write_index_dataset(tmp_path, count=2, image_dir="images/val", mask_dir="masks/val",
                        start=4)
    layout = datasets.detect_layout(tmp_path)
    assert [len(layout.splits[s]) for s in ("train", "val")] == [4, 2]
    assert "test" not in layout.splits


# ------------------------------------------------------------------ what is refused, and how

def test_an_image_without_a_mask_is_named(tmp_path):
    write_index_dataset(tmp_path, count=5)
    (tmp_path / "masks" / "scene03.png").unlink()
    with pytest.raises(ValueError, match=r"scene03\.png has no mask: expected .*masks"):
        datasets.detect_layout(tmp_path)


def test_a_jpeg_mask_is_refused_because_masks_must_be_lossless(tmp_path):
    write_index_dataset(tmp_path, count=5)
    image, mask = scene(3, (48, 64))
    (tmp_path / "masks" / "scene03.png").unlink()
    save(tmp_path / "masks" / "scene03.jpg", mask)
    with pytest.raises(ValueError, match=r"scene03\.jpg, a JPEG: masks must be lossless"):
        datasets.detect_layout(tmp_path)


def test_a_mask_without_an_image_is_named(tmp_path):
    write_index_dataset(tmp_path, count=5)
    save(tmp_path / "masks" / "orphan.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match=r"orphan\.png has no image"):
        datasets.detect_layout(tmp_path)


def test_empty_and_unknown_folders(tmp_path):
    with pytest.raises(ValueError, match="is empty"):
        datasets.detect_layout(tmp_path)
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(ValueError, match=r"images contains no images"):
        datasets.detect_layout(tmp_path)
    other = tmp_path / "other"
    (other / "pictures").mkdir(parents=True)
    (other / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=r"no dataset layout.*found notes\.txt, pictures/"):
        datasets.detect_layout(other)
    with pytest.raises(ValueError, match="does not exist"):
        datasets.detect_layout(tmp_path / "missing")


def test_too_few_images_for_a_split_and_a_train_folder_without_val(tmp_path):
    write_index_dataset(tmp_path / "two", count=2)
    with pytest.raises(ValueError, match="2 image.*cannot be split"):
        datasets.detect_layout(tmp_path / "two")
    write_index_dataset(tmp_path / "only" / "train", count=3)
    with pytest.raises(ValueError, match="no val folder"):
        datasets.detect_layout(tmp_path / "only")


def test_a_voc_split_file_naming_a_missing_image(tmp_path):
    write_voc(tmp_path)
    (tmp_path / "ImageSets" / "Segmentation" / "val.txt").write_text("2007_000007\nnope\n")
    with pytest.raises(ValueError, match=r"val\.txt lists 'nope'"):
        datasets.detect_layout(tmp_path)
