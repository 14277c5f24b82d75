"""Every receptive-field and atrous figure draws, with a title, from the library's numbers."""

import matplotlib

matplotlib.use("Agg")           # no window, ever: figures are only drawn to files

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import minideeplab as mdl  # noqa: E402
from minideeplab import receptive_field as rf  # noqa: E402
from minideeplab import viz  # noqa: E402

from .test_receptive_field_effective import uniform_stack  # noqa: E402
from .test_receptive_field_theoretical import vgg16_layers  # noqa: E402


@pytest.fixture(autouse=True)
def numpy_backend():
    """The reference backend: these tests are about receptive fields, not Numba compile time."""
    with mdl.use_backend("numpy"):
        yield


def has_title(fig):
    return bool(fig.get_suptitle()) or any(ax.get_title() for ax in fig.axes)


def test_every_figure_draws_with_a_title(tmp_path):
    rows = rf.receptive_field(vgg16_layers())
    erf = rf.effective_receptive_field(uniform_stack(3, 3), (1, 15, 15), n_samples=1)
    image = np.random.default_rng(0).random((3, 64, 64))      # CHW, as the library's images
    figures = {
        "atrous": viz.plot_atrous_sampling(),
        "gridding": viz.plot_gridding(),
        "valid_taps": viz.plot_valid_tap_fraction(range(1, 20), map_sizes=(8, 16)),
        "growth": viz.plot_rf_growth(rows),
        "erf": viz.plot_erf(erf, rf.receptive_field(uniform_stack(3, 3)), title="ERF",
                            output_index=(7, 7)),
        "comparison": viz.plot_erf_comparison(erf, erf, rf_size=7),
        "aspp": viz.plot_aspp_fields(image, output_stride=16, rates=(1, 2, 3)),
    }
    for name, fig in figures.items():
        assert isinstance(fig, Figure), name
        assert has_title(fig), name
    viz.plot_gridding(path=tmp_path / "gridding.png")
    assert (tmp_path / "gridding.png").stat().st_size > 0
