"""The figures behind the sliders, for several values each, and the sliders themselves."""

import matplotlib

matplotlib.use("Agg")           # no window, ever: figures are only drawn to files

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import minideeplab as mdl  # noqa: E402
from minideeplab import receptive_field as rf  # noqa: E402
from minideeplab import viz  # noqa: E402
from minideeplab.models import DeepLabV3Plus  # noqa: E402
from minideeplab.viz.explorers import RF_LAYERS  # noqa: E402

TINY = dict(stem_channels=4, widths=(4, 6, 6, 8), blocks=(1, 1, 1, 1), aspp_channels=4,
            low_level_channels=2, decoder_channels=4)


@pytest.fixture(autouse=True)
def numpy_backend():
    with mdl.use_backend("numpy"):
        yield


# ------------------------------------------------------------------------- atrous padding

@pytest.mark.parametrize("kernel_size, rate, size, position, on_map, padding", [
    (3, 2, 9, (0, 0), 4, 2),           # a corner: one row and one column of taps fall off
    (3, 1, 5, (2, 2), 9, 1),           # the centre of a plain 3x3: all on the map
    (3, 6, 9, (4, 4), 1, 6),           # rate 6 on a 9x9 map: only the centre tap is left
    (5, 1, 5, (0, 0), 9, 2),           # 5x5 in a corner: 3 x 3 of the 25 taps
    (1, 4, 3, (1, 2), 1, 0),           # a 1x1 never reads padding
])
def test_atrous_padding_counts_the_taps(kernel_size, rate, size, position, on_map, padding):
    fig = viz.plot_atrous_padding(kernel_size, rate, size, position)
    ax_map, ax_count = fig.axes[0], fig.axes[1]
    assert ax_map.get_title() == (f"output {position}: {on_map} of {kernel_size ** 2} taps on "
                                  "the map")
    assert f"'same' padding {padding}" in fig.get_suptitle()
    counts = ax_count.images[0].get_array()
    expected = rf.valid_tap_map(rate, size, kernel_size) * kernel_size ** 2
    np.testing.assert_allclose(counts, expected)
    assert counts[position] == on_map


@pytest.mark.parametrize("kwargs, error", [
    (dict(kernel_size=4), "kernel_size must be odd"),
    (dict(position=(9, 0)), "position"),
    (dict(rate=0), "rate"),
    (dict(input_size=100), "input_size"),
])
def test_atrous_padding_bad_arguments(kwargs, error):
    with pytest.raises(ValueError, match=error):
        viz.plot_atrous_padding(**kwargs)


# ---------------------------------------------------------------------------------- ASPP

@pytest.mark.parametrize("output_stride, rates, map_size", [
    (16, (6, 12, 18), 33), (16, (1, 2, 3), 4), (8, (12, 24, 36), 65), (32, (1,), 2),
])
def test_aspp_explorer_shares_and_fields(output_stride, rates, map_size):
    fig = viz.plot_aspp_explorer(output_stride, rates, map_size)
    ax_share = fig.axes[1]
    widths = [patch.get_width() for patch in ax_share.patches]
    expected = [1.0] + [rf.valid_tap_fraction(r, map_size) for r in rates] + [1.0]
    np.testing.assert_allclose(widths, expected)
    labels = [t.get_text() for t in ax_share.texts]
    for rate in rates:
        assert any(f"field {(2 * rate + 1) * output_stride} px" in t for t in labels), labels
    assert f"{(map_size - 1) * output_stride + 1}x" in fig.get_suptitle()


def test_aspp_explorer_paper_numbers():
    # the paper's setting: rate 18 on a 33x33 map keeps 40% of its taps on average
    ax_share = viz.plot_aspp_explorer(16, (6, 12, 18), 33).axes[1]
    assert ax_share.patches[3].get_width() == pytest.approx(0.405, abs=0.001)


# ------------------------------------------------------------------ receptive field

@pytest.fixture(scope="module")
def tiny():
    return DeepLabV3Plus(5, seed=0, **TINY).eval()


@pytest.mark.parametrize("layer, position, unit", [
    ("stem", (10, 20), (5, 10)),        # jump 2: unit i is centred on pixel 2 i
    ("stage 1", (20, 12), (2, 2)),      # jump 8: round(20 / 8) = 2, round(12 / 8) = 2
    ("stage 3", (31, 0), (1, 0)),       # OS 16: round(31 / 16) = 2, kept on the 2x2 map
    ("output", (7, 30), (7, 30)),       # the output has the input's size: the pixel itself
])
def test_rf_explorer_unit_and_fields(tiny, layer, position, unit):
    fig = viz.plot_receptive_field_explorer(tiny, layer, position, np.zeros((3, 32, 32)),
                                            n_samples=2)
    ax_image, ax_erf, ax_bars = fig.axes[:3]                # (the 4th: a colour bar)
    assert ax_image.get_title().startswith(f"{layer}: unit {unit} of")
    # the bars are the theoretical fields, layer by layer, of this model
    stages = [tiny.backbone.stem, *tiny.backbone.stages]
    for index in range(len(RF_LAYERS[:5])):
        size = rf.receptive_field(stages[:index + 1])[-1].size
        assert ax_bars.patches[index].get_width() == size
    legend = [t.get_text() for t in ax_image.get_legend().get_texts()]
    assert any("theoretical field" in t for t in legend)
    assert ax_erf.images and np.isfinite(ax_erf.images[0].get_array()).all()


def test_rf_explorer_says_when_pooling_makes_the_field_global(tiny):
    fig = viz.plot_receptive_field_explorer(tiny, "ASPP", (16, 16), n_samples=1)
    assert "global" in fig.get_suptitle()
    no_pooling = DeepLabV3Plus(5, aspp_pooling=False, **TINY).eval()
    fig = viz.plot_receptive_field_explorer(no_pooling, "ASPP", (16, 16), n_samples=1)
    assert "global" not in fig.get_suptitle()


def test_rf_explorer_bad_arguments(tiny):
    with pytest.raises(ValueError, match="layer must be one of"):
        viz.plot_receptive_field_explorer(tiny, "stage 9")
    with pytest.raises(ValueError, match="position"):
        viz.plot_receptive_field_explorer(tiny, "stem", (64, 0))
    with pytest.raises(TypeError, match="model must be a DeepLabV3Plus"):
        viz.plot_receptive_field_explorer(mdl.nn.Conv2d(3, 3, 3))


# --------------------------------------------------------------------------- the sliders

def test_every_explorer_builds_and_redraws(tiny):
    pytest.importorskip("ipywidgets", reason="the sliders need ipywidgets (notebooks extra)")
    from minideeplab.viz import interactive

    boxes = [interactive.explore_atrous(), interactive.explore_aspp(),
             interactive.explore_gridding(),
             interactive.explore_receptive_field(tiny, np.zeros((3, 32, 32)), n_samples=1)]

    def shown(box):
        """What the output widget holds: 'figure' for a drawn figure, else the text."""
        return ["figure" if "data" in item else item["text"] for item in box.children[2].outputs]

    for box in boxes:
        header, controls, output = box.children
        assert header.value and len(controls.children) >= 1
        assert shown(box)[0] == "figure"                   # drawn once when it is made
    rates = boxes[1].children[1].children[1]
    rates.value = "6, x"                                   # typed nonsense: said, not raised
    assert shown(boxes[1]) == ["error: rates must be whole numbers separated by commas, "
                               "got '6, x'\n"]
    rates.value = "1, 2"
    assert shown(boxes[1]) == ["figure"]
    gridding = boxes[2].children[1].children[0]
    gridding.value = "2, 2, 2"
    assert "the rates share the factor 2" in shown(boxes[2])[1]
    stride = boxes[3].children[1].children[0]
    stride.value = 8                                       # the OS 8 copy shares the weights
    assert shown(boxes[3]) == ["figure"]


def test_parse_rates():
    from minideeplab.viz.interactive import parse_rates

    assert parse_rates("1, 2,5") == (1, 2, 5)
    with pytest.raises(ValueError, match="rates"):
        parse_rates("1.5")
