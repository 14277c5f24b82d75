"""The paper's Figure 2 and Figure 3 drawn from the code: the numbers on them are the model's."""

import matplotlib

matplotlib.use("Agg")           # no window, ever: figures are only drawn to files

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402

import minideeplab as mdl  # noqa: E402
from minideeplab import viz  # noqa: E402
from minideeplab.models import DeepLabV3Plus  # noqa: E402


@pytest.fixture(autouse=True)
def numpy_backend():
    with mdl.use_backend("numpy"):
        yield


def texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


@pytest.mark.parametrize("options, size, expected", [
    ({}, 64, ["128 ch\n4x4", "320 ch\n4x4", "24 ch\n16x16", "88 ch\n16x16", "5 ch\n64x64",
              "upsample x4", "stride 2", "atrous,\nrates 1, 2"]),
    (dict(output_stride=8), 64, ["128 ch\n8x8", "upsample x2", "atrous,\nrates 2, 4"]),
    (dict(decoder=False), 64, ["upsample x16", "64 ch\n4x4", "5 ch\n4x4"]),
    (dict(aspp_pooling=False, aspp_rates=(1, 3)), 96, ["192 ch\n6x6", "3x3 sep. conv\nrate 3",
                                                       "5 ch\n96x96"]),
    (dict(separable=False, aspp_rates=()), 64, ["2 conv blocks", "3x3 conv\nrate 1"]),
])
def test_shapes_on_the_arrows_come_from_the_model(options, size, expected):
    model = DeepLabV3Plus(5, **options)
    fig = viz.plot_architecture(model, size)
    drawn = texts(fig)
    for text in expected:
        if text == "3x3 conv\nrate 1":            # aspp_rates=(): no atrous branch at all
            assert not any("3x3" in t and "rate" in t for t in drawn)
            continue
        assert any(text in t for t in drawn), (text, drawn)
    branches = [t for t in drawn if t in ("1x1 conv", "image pooling") or "\nrate " in t]
    assert len(branches) == len(model.aspp.branches)
    assert f"{mdl.count_parameters(model):,} parameters" in fig.get_suptitle()
    assert ("DeepLabV3+" in fig.get_suptitle()) == (model.decoder is not None)


def test_an_image_is_drawn_with_the_models_prediction(tmp_path):
    image, _ = mdl.datasets.make_shapes(1, size=32, seed=0)
    fig = viz.plot_architecture(DeepLabV3Plus(5), 32, image=image[0], path=tmp_path / "a.png")
    assert sum(isinstance(a, AxesImage) for ax in fig.axes for a in ax.get_children()) == 2
    assert (tmp_path / "a.png").stat().st_size > 0


def test_the_model_is_left_in_its_mode():
    model = DeepLabV3Plus(5).train()
    viz.plot_architecture(model, 32)
    assert model.training


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="model must be a DeepLabV3Plus"):
        viz.plot_architecture(mdl.nn.Conv2d(3, 3, 3), 64)
    with pytest.raises(ValueError, match="input_size"):
        viz.plot_architecture(DeepLabV3Plus(5), 0)


@pytest.mark.parametrize("channels, rate", [(1, 1), (3, 2), (4, 3), (2, 2)])
def test_separable_figure_counts_the_weights(channels, rate):
    fig = viz.plot_separable_convolution(channels, rate)
    titles = [ax.get_title() for ax in fig.axes]
    assert f"{channels} x 3x3 = {9 * channels} weights" in titles[0]
    assert f"{channels} x N weights" in titles[1]
    assert f"rate {rate}" in titles[2] and f"span {2 * rate + 1}x{2 * rate + 1}" in titles[2]
    # one red tap per weight of each channel in (a) and in (c)
    for ax in (fig.axes[0], fig.axes[2]):
        taps = [line for line in ax.lines if line.get_marker() == "o"]
        assert len(taps) == 9 * channels


@pytest.mark.parametrize("kwargs", [dict(channels=0), dict(channels=5), dict(rate=4),
                                    dict(rate=True)])
def test_separable_figure_bad_arguments(kwargs):
    with pytest.raises(TypeError, match="channels|rate"):
        viz.plot_separable_convolution(**kwargs)


def test_no_figure_module_imports_ipywidgets():
    import subprocess
    import sys

    code = ("import sys, minideeplab.viz, minideeplab.viz.interactive; "
            "print('ipywidgets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"
    assert np.isfinite(1.0)
