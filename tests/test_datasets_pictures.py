"""Pictures of dataset samples: palette, colour-coded masks, overlays and the samples grid.

They live in minideeplab.viz.segmentation (figures draw; data does not); the old names under
minideeplab.datasets still work for old code."""

import subprocess
import sys

import numpy as np
import pytest

from minideeplab import datasets, viz
from minideeplab.images import hwc_to_chw, to_hwc

SHAPES = datasets.SHAPES_CLASSES


# --------------------------------------------------------------------------------------------
# pictures
# --------------------------------------------------------------------------------------------

def test_show_samples_colorize_and_overlay(tmp_path):
    images, masks = datasets.make_shapes(4, size=32, seed=0)
    masks[0, :2] = 255
    figure = viz.show_samples(images, masks, SHAPES, n=3, path=tmp_path / "samples.png")
    assert len(figure.axes) == 6
    assert (tmp_path / "samples.png").stat().st_size > 0

    colours = viz.colorize_mask(masks[0], num_classes=5)
    assert colours.shape == (32, 32, 3)
    np.testing.assert_array_equal(colours[0, 0], [1.0, 1.0, 1.0])            # ignore is white
    np.testing.assert_array_equal(colours[masks[0] == 0][0], [0.0, 0.0, 0.0])  # background black

    blended = viz.overlay(images[1], masks[1], alpha=0.5)
    assert blended.shape == (32, 32, 3)
    background = masks[1] == 0
    np.testing.assert_allclose(blended[background], images[1].transpose(1, 2, 0)[background])

    with pytest.raises(ValueError, match="outside"):
        viz.colorize_mask(np.full((2, 2), 9), num_classes=5)


def test_the_pictures_live_in_viz_not_in_datasets():
    # datasets sits below viz in the house and draws nothing
    for name in ("class_palette", "colorize_mask", "overlay", "show_samples", "IGNORE_COLOUR"):
        assert not hasattr(datasets, name), name
        assert callable(getattr(viz, name)) or name == "IGNORE_COLOUR"


def test_importing_the_library_does_not_load_the_figures():
    # `import minideeplab` stays free of matplotlib.
    code = "import sys, minideeplab; print('minideeplab.viz' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_class_palette_distinct_colours_background_black():
    palette = viz.class_palette(20)                   # beyond the 14 hand-picked colours
    assert palette.shape == (20, 3) and (palette >= 0).all() and (palette <= 1).all()
    np.testing.assert_array_equal(palette[0], [0.0, 0.0, 0.0])
    assert len({tuple(colour) for colour in np.round(palette, 6)}) == 20
    with pytest.raises(ValueError, match="num_classes must be >= 1"):
        viz.class_palette(0)
    with pytest.raises(TypeError, match="num_classes must be an int"):
        viz.class_palette(2.0)


def test_to_hwc_moves_only_the_channel_axis():
    chw = np.arange(24).reshape(3, 2, 4)
    hwc = to_hwc(chw)
    assert hwc.shape == (2, 4, 3) and hwc[1, 2, 0] == chw[0, 1, 2]
    assert to_hwc(hwc) is hwc                          # already channels-last: unchanged
    assert to_hwc(np.zeros((5, 6))).shape == (5, 6)    # a label map or grey image
    np.testing.assert_array_equal(hwc_to_chw(hwc), chw)
    np.testing.assert_array_equal(hwc_to_chw(hwc[None])[0], chw)   # a batch
    with pytest.raises(ValueError, match="picture must be"):
        to_hwc(np.zeros((1, 2, 3, 4)), name="picture")


def test_as_image_uses_the_same_layout_rule():
    from minideeplab.viz.style import as_image

    chw = np.random.default_rng(0).random((3, 4, 5))
    np.testing.assert_array_equal(as_image(chw), to_hwc(chw))
    assert as_image(np.full((1, 4, 5), 0.5)).shape == (4, 5)
    with pytest.raises(ValueError, match=r"image must be \(H, W\), \(H, W, 3\) or \(3, H, W\)"):
        as_image(np.zeros((4, 5, 2)))


@pytest.mark.parametrize("height, width, rows", [(40, 50, 1), (20, 80, 3)])
def test_plot_overlay_counts_the_pictures_pixels_and_stacks_wide_images(height, width, rows):
    """A photo drawn at every 4th pixel keeps its own pixel coordinates on the axes; a wide
    strip gets one panel per row instead of three short panels side by side."""
    rng = np.random.default_rng(0)
    image = rng.random((3, height, width))
    labels = rng.integers(0, len(SHAPES), (height, width))
    fig = viz.plot_overlay(image, labels, SHAPES, pixel_step=4)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 3
    for ax in panels:
        assert ax.images[0].get_extent() == [-0.5, 4 * width - 0.5, 4 * height - 0.5, -0.5]
        assert ax.get_xlabel() == "x (pixels)"
    assert len({round(ax.get_position().y0, 3) for ax in panels}) == rows
    with pytest.raises(ValueError, match="pixel_step"):
        viz.plot_overlay(image, labels, SHAPES, pixel_step=0)
