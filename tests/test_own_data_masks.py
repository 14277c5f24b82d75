"""Reading masks (index, palette, RGB with a colour table) and class tables (datasets.masks)."""

import json

import numpy as np
import pytest

from minideeplab import datasets

from .own_data import CLASS_COLOURS, CLASS_NAMES, save, voc_palette

LABELS = np.array([[0, 1, 2],
                   [2, 255, 0]], dtype=np.uint8)


def test_index_and_palette_masks_give_the_same_classes(tmp_path):
    save(tmp_path / "index.png", LABELS)
    save(tmp_path / "palette.png", LABELS, mode="P", palette=voc_palette())
    for name in ("index.png", "palette.png"):
        mask = datasets.read_mask(tmp_path / name)
        assert mask.dtype == np.int64
        np.testing.assert_array_equal(mask, LABELS)      # palette: the index, not the colour


def test_rgb_masks_through_a_colour_table(tmp_path):
    colours = np.zeros((256, 3), np.uint8)
    colours[:3] = CLASS_COLOURS
    colours[255] = (255, 255, 255)
    save(tmp_path / "rgb.png", colours[LABELS])
    table_file = tmp_path / "classes.json"
    table_file.write_text(json.dumps({**{n: list(c) for n, c in zip(CLASS_NAMES, CLASS_COLOURS,
                                                                        strict=True)},
                                      "ignore": [255, 255, 255]}))
    table = datasets.read_class_table(tmp_path)
    assert table.names == tuple(CLASS_NAMES) and table.source == str(table_file)
    np.testing.assert_array_equal(datasets.read_mask(tmp_path / "rgb.png", table), LABELS)


def test_an_rgb_colour_not_in_the_table_is_named(tmp_path):
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 0] = (9, 8, 7)
    save(tmp_path / "m.png", rgb)
    table = datasets.ClassTable(("background",), {(0, 0, 0): 0}, "classes.json")
    with pytest.raises(ValueError, match=r"m\.png has colours that are not in the class table "
                                         r"\(classes\.json\): \[9, 8, 7\]"):
        datasets.read_mask(tmp_path / "m.png", table)


def test_an_rgb_mask_without_a_table_says_how_to_give_one(tmp_path):
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 0] = (200, 0, 0)
    save(tmp_path / "m.png", rgb)
    with pytest.raises(ValueError, match=r"m\.png is an RGB colour mask.*--palette FILE"):
        datasets.read_mask(tmp_path / "m.png")
    # an index mask saved as grey RGB (the three channels equal) is read as its values
    save(tmp_path / "grey.png", np.repeat(LABELS[:, :, None], 3, axis=2))
    np.testing.assert_array_equal(datasets.read_mask(tmp_path / "grey.png"), LABELS)


def test_mask_255_class1_reads_binary_masks(tmp_path):
    save(tmp_path / "b.png", np.array([[0, 255]], np.uint8))
    np.testing.assert_array_equal(datasets.read_mask(tmp_path / "b.png", mask_255="class1"),
                                  [[0, 1]])
    np.testing.assert_array_equal(datasets.read_mask(tmp_path / "b.png"), [[0, 255]])


def test_jpeg_and_corrupt_masks_are_named(tmp_path):
    save(tmp_path / "m.jpg", LABELS)
    with pytest.raises(ValueError, match=r"m\.jpg is a JPG file: masks must be lossless"):
        datasets.read_mask(tmp_path / "m.jpg")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match=r"mask .*broken\.png is not a readable image"):
        datasets.read_mask(tmp_path / "broken.png")


@pytest.mark.parametrize("content", [
    '["background", "apple", "sky"]',
    '[{"name": "background", "colour": [20, 20, 20]}, {"name": "apple", "color": [220, 40, 40]},'
    ' {"name": "sky", "colour": [40, 60, 220]}]',
    '{"background": [20, 20, 20], "apple": [220, 40, 40], "sky": [40, 60, 220]}',
])
def test_every_classes_json_format(tmp_path, content):
    (tmp_path / "classes.json").write_text(content)
    table = datasets.read_class_table(tmp_path)
    assert table.names == ("background", "apple", "sky")
    if table.colours is not None:
        assert table.colours[(220, 40, 40)] == 1


def test_cvat_labelmap_and_the_palette_option_wins(tmp_path):
    (tmp_path / "labelmap.txt").write_text("# label:color_rgb:parts:actions\n"
                                           "background:0,0,0::\nroad:128,64,128::\n"
                                           "ignore:255,255,255::\n")
    table = datasets.read_class_table(tmp_path)
    assert table.names == ("background", "road")
    assert table.colours == {(0, 0, 0): 0, (128, 64, 128): 1, (255, 255, 255): 255}
    palette = tmp_path / "mine.json"
    palette.write_text('["a", "b", "c"]')
    assert datasets.read_class_table(tmp_path, palette).names == ("a", "b", "c")
    assert datasets.read_class_table(tmp_path / "none_here") is None


@pytest.mark.parametrize("content, message", [
    ('{"a": [1, 2]}', r"a colour must be three integers"),
    ('{"a": [1, 2, 3], "b": [1, 2, 3]}', r"\[1, 2, 3\] is given to two classes"),
    ('[{"name": "a", "colour": [1, 2, 3]}, {"name": "b"}]', r"no colour for \['b'\]"),
    ('not json', r"is not a readable JSON file"),
    ('42', r"expected a list of class names"),
])
def test_bad_class_tables_are_named(tmp_path, content, message):
    (tmp_path / "classes.json").write_text(content)
    with pytest.raises(ValueError, match=r"classes\.json.*" + message):
        datasets.read_class_table(tmp_path)
    with pytest.raises(ValueError, match=r"--palette file .*nope\.json does not exist"):
        datasets.read_class_table(tmp_path, tmp_path / "nope.json")
