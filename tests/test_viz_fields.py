"""The receptive-field figures of the notebooks: the field block by block, and two ERFs on one
colour scale (linear or log), with the theoretical box only where it fits inside the map."""

import math

import matplotlib

matplotlib.use("Agg")           # no window, ever: figures are only drawn to files

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from minideeplab import receptive_field as rf  # noqa: E402
from minideeplab import viz  # noqa: E402
from minideeplab.models import DeepLabV3Plus  # noqa: E402
from minideeplab.viz.model_fields import rf_by_block  # noqa: E402


def test_blocks_of_the_default_model():
    records = {r["name"]: r for r in rf_by_block(DeepLabV3Plus(5))}
    assert records["stem (3x3, stride 2)"]["size"] == 3
    assert records["stage 3, block 1 (rate 2)"]["size"] == 183       # the dilated block
    assert records["ASPP 3x3 rate 3"]["size"] == 279
    assert math.isinf(records["ASPP image pooling"]["size"])
    # from ASPP to the output: +16 and +4 from the two x4 upsamplings, +8 +8 from the 3x3 convs
    assert records["decoder: concat (after x4)"]["size"] == 279 + 16
    assert records["decoder: 3x3 conv 2"]["size"] == 279 + 16 + 8 + 8
    assert records["output (after the last upsampling)"]["size"] == 315
    assert sum(math.isinf(r["size"]) for r in records.values()) == 1   # one global row


@pytest.mark.parametrize("options, rows", [
    ({}, 20), (dict(decoder=False), 16), (dict(aspp_pooling=False), 19),
    (dict(aspp_rates=(), output_stride=8), 17),
])
def test_one_row_per_block(options, rows):
    model = DeepLabV3Plus(5, **options)
    records = rf_by_block(model)
    assert len(records) == rows
    whole = rf.receptive_field(model)[-1].size
    if model.aspp.image_pooling:
        assert whole == math.inf
    else:                                  # without pooling the last row is the model's field
        assert records[-1]["size"] == whole
    fig = viz.plot_rf_by_block(model)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == [r["name"] for r in records]


def test_bad_arguments():
    with pytest.raises(TypeError, match="DeepLabV3Plus"):
        rf_by_block(object())
    with pytest.raises(ValueError, match="image_size"):
        viz.plot_rf_by_block(DeepLabV3Plus(5), image_size=0)


def _bump(side, width):
    rows, cols = np.indices((side, side))
    erf = np.exp(-((rows - side // 2) ** 2 + (cols - side // 2) ** 2) / (2 * width ** 2)) + 1e-9
    return erf / erf.sum()


@pytest.mark.parametrize("log", [False, True])
def test_two_erfs_share_one_colour_scale(log):
    fig = viz.plot_erf_comparison(_bump(41, 3), _bump(41, 8), rf_size=21, log=log)
    limits = [ax.images[0].get_clim() for ax in fig.axes if ax.images]
    assert len(limits) == 2 and limits[0] == limits[1]
    if log:
        assert limits[0][1] == pytest.approx(np.log10(_bump(41, 3).max()))


@pytest.mark.parametrize("rf_size, boxes", [(21, 1), (41, 0), (300, 0)])
def test_the_theoretical_box_is_drawn_only_when_it_fits(rf_size, boxes):
    fig = viz.plot_erf_comparison(_bump(41, 3), _bump(41, 5), rf_size=rf_size)
    for ax in fig.axes[:2]:
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert sum("theoretical RF" in t for t in legend) == boxes
