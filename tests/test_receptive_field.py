"""Receptive fields: known values, modules vs layer lists, the ERF's exact variance, gridding."""

import math

import matplotlib

matplotlib.use("Agg")           # no window, ever: figures are only drawn to files

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import minideeplab as mdl  # noqa: E402
from minideeplab import nn, viz  # noqa: E402
from minideeplab import receptive_field as rf  # noqa: E402
from minideeplab.nn import blocks  # noqa: E402


@pytest.fixture(autouse=True)
def numpy_backend():
    """The reference backend: these tests are about receptive fields, not Numba compile time."""
    with mdl.use_backend("numpy"):
        yield


def vgg16_layers():
    """VGG-16 up to pool5: 13 3x3 convs with padding 1, a 2x2 max-pool (stride 2) per block."""
    layers = []
    for block, n_convs in enumerate((2, 2, 3, 3, 3), start=1):
        layers += [(3, 1, 1, 1, f"conv{block}_{i}") for i in range(1, n_convs + 1)]
        layers.append((2, 2, 0, 1, f"pool{block}"))
    return layers


class MaxPoolGeometry(nn.Module):
    """Stands for any pooling layer: the walker only reads its geometry attributes."""

    def __init__(self, kernel_size, stride):
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, 0, 1


# ------------------------------------------------------------------ theoretical field

def test_vgg16_pool5_has_rf_212_jump_32_padding_90():
    # Araujo et al. (Distill 2019), Table 1
    last = rf.receptive_field(vgg16_layers())[-1]
    assert (last.name, last.size, last.stride, last.padding) == ("pool5", 212, 32, 90)
    assert last.jump == 32


def test_vgg16_as_modules_gives_the_same_rows():
    modules = []
    for spec in vgg16_layers():
        k, s, p, d, name = spec
        if name.startswith("pool"):
            modules.append(MaxPoolGeometry(k, s))
        else:
            modules += [nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d), nn.ReLU()]
    from_modules = rf.receptive_field(nn.Sequential(modules))
    from_tuples = rf.receptive_field(vgg16_layers())
    assert len(from_modules) == 18                  # ReLUs have no geometry: no rows
    for a, b in zip(from_modules, from_tuples, strict=True):
        assert (a.size, a.stride, a.padding, a.start) == (b.size, b.stride, b.padding, b.start)


@pytest.mark.parametrize("rate", [1, 2, 3, 6, 12])
def test_a_3x3_at_rate_d_covers_2d_plus_1(rate):
    row = rf.receptive_field([(3, 1, rate, rate)])[0]
    assert row.size == 2 * rate + 1
    assert row.effective_kernel == 2 * rate + 1
    assert (row.stride, row.padding, row.start) == (1, rate, 0)   # 'same' padding stays centred


@pytest.mark.parametrize("n", [1, 2, 5, 10])
def test_n_stacked_3x3_convs_cover_2n_plus_1(n):
    assert rf.receptive_field([(3, 1, 1, 1)] * n)[-1].size == 2 * n + 1


def test_sequential_of_conv2d_matches_the_tuple_list():
    specs = [(3, 2, 1, 1), (3, 1, 2, 2), ((1, 3), 1, (0, 4), (1, 4)), (3, 2, 1, 1), (1, 1, 0, 1)]
    modules, channels = [], 2
    for k, s, p, d in specs:
        modules += [nn.Conv2d(channels, 3, k, stride=s, padding=p, dilation=d),
                    nn.BatchNorm2d(3), nn.ReLU()]
        channels = 3
    from_modules = rf.receptive_field(nn.Sequential(modules))
    from_tuples = rf.receptive_field(specs)
    fields = ("layer_kernel", "layer_stride", "layer_padding", "layer_dilation",
              "size", "stride", "padding", "start")
    assert [[getattr(r, f) for f in fields] for r in from_modules] == \
           [[getattr(r, f) for f in fields] for r in from_tuples]
    assert from_modules[0].name == "0 (Conv2d)"      # dotted path in the model and class


def test_dicts_layers_and_named_tuples_are_the_same_layer():
    a = rf.receptive_field([(3, 2, 1, 1, "c1")])[0]
    b = rf.receptive_field([{"kernel_size": 3, "stride": 2, "padding": 1, "name": "c1"}])[0]
    c = rf.receptive_field([rf.Layer(3, 2, 1, 1, "c1")])[0]
    assert a == b == c


def test_height_and_width_are_separate_and_reported_as_a_pair_when_they_differ():
    rows = rf.receptive_field([((1, 7), 1, (0, 3), 1), ((7, 1), (2, 1), (3, 0), (2, 1))])
    assert rows[0].size == (1, 7)
    assert rows[1].size == (13, 7)        # 1 + 6*2 rows, 7 columns
    assert rows[1].stride == (2, 1)
    assert rows[1].padding == 3           # equal on both axes: one number


def test_start_is_the_centre_of_the_first_unit_and_the_box_follows_it():
    # a 2x2 pool with stride 2: unit 0 sees pixels 0 and 1, so it is centred at 0.5
    row = rf.receptive_field([(2, 2, 0, 1)])[0]
    assert row.start == 0.5
    assert rf.receptive_field_box(row, (0, 3)) == (0.0, 6.0, 1.0, 7.0)
    # the identity start = (r - 1)/2 - P holds on every row
    for row in rf.receptive_field(vgg16_layers()):
        assert row.start == (row.size - 1) / 2 - row.padding


def test_parallel_branches_report_each_branch_then_the_union():
    rows = rf.receptive_field([
        (3, 2, 1, 1, "stem"),
        rf.Parallel("aspp", [[(1, 1, 0, 1)], [(3, 1, 6, 6)], [(3, 1, 12, 12)]],
                    branch_names=["1x1", "r6", "r12"]),
    ])
    names = [row.name for row in rows]
    assert names == ["stem", "aspp[1x1] layer 1", "aspp[r6] layer 1", "aspp[r12] layer 1",
                     "aspp: union of 3 branches"]
    sizes = [row.size for row in rows]
    assert sizes == [3, 3, 3 + 12 * 2, 3 + 24 * 2, 3 + 24 * 2]   # union = the largest branch
    assert rows[-1].kind == "union" and rows[-1].stride == 2


def test_image_pooling_is_a_global_field_that_stays_global():
    rows = rf.receptive_field([
        rf.Parallel("aspp", [[(3, 1, 2, 2)], [rf.GlobalPool("image pooling"), (1, 1, 0, 1)]]),
        (1, 1, 0, 1, "projection"),
    ])
    by_name = {row.name: row for row in rows}
    assert by_name["aspp[1] image pooling"].size == math.inf
    assert by_name["aspp[1] image pooling"].stride == 1   # broadcast back: same grid
    assert by_name["projection"].size == math.inf
    assert "global" in rf.format_table(rows)


def test_branches_on_different_grids_cannot_be_concatenated():
    with pytest.raises(ValueError, match="different grids"):
        rf.receptive_field([rf.Parallel("bad", [[(3, 2, 1, 1)], [(3, 1, 1, 1)]])])


def test_a_skip_connection_and_upsampling_rejoin_the_grid():
    rows = rf.receptive_field([
        (3, 2, 1, 1),
        rf.Parallel("decoder", [[], [(3, 2, 1, 1), (3, 2, 1, 1), rf.Upsample(4)]]),
    ])
    upsample = rows[-2]
    assert upsample.kind == "upsample" and upsample.layer_stride == 0.25
    assert upsample.stride == 2                        # jump 8 divided by 4
    assert upsample.size == 15 + 8                     # two bilinear taps one step (8 px) apart
    assert rows[-1].size == 23 and rows[-1].stride == 2


def test_the_library_aspp_block_is_walked_as_parallel_branches():
    aspp = blocks.ASPP(4, 4, rates=(1, 2, 3), rng=np.random.default_rng(0))
    rows = rf.receptive_field(aspp)
    depthwise = [row.size for row in rows if "depthwise" in row.name]
    assert depthwise == [3, 5, 7]
    assert any(row.kind == "global" for row in rows)
    assert rows[-1].size == math.inf


class TwoLayerModel(nn.Module):
    """A model that describes itself with the receptive_field_layers() protocol."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.head = nn.Conv2d(1, 1, 1)

    def receptive_field_layers(self):
        return [self.conv, (3, 1, 2, 2, "imagined"), self.head]


def test_a_module_can_describe_itself_with_receptive_field_layers():
    rows = rf.receptive_field(TwoLayerModel())
    assert [row.size for row in rows] == [3, 7, 7]
    assert [row.name for row in rows] == ["conv (Conv2d)", "imagined", "head (Conv2d)"]


def test_a_module_that_is_not_a_chain_must_describe_itself():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.main = nn.Conv2d(1, 1, 3, padding=1)
            self.shortcut = nn.Conv2d(1, 1, 1, stride=2)

    with pytest.raises(TypeError, match="receptive_field_layers"):
        rf.receptive_field(Residual())


@pytest.mark.parametrize("layers, error, match", [
    ([(0, 1, 0, 1)], ValueError, "kernel_size"),
    ([(3, 0, 1, 1)], ValueError, "stride"),
    ([(3, 1, -1, 1)], ValueError, "padding"),
    ([(3, 1, 1, 0)], ValueError, "dilation"),
    ([(3, 1, 1)], TypeError, "kernel_size, stride, padding, dilation"),
    ((3, 1, 1, 1), TypeError, "wrap the single layer"),
    ("vgg", TypeError, "layers"),
    ([{"kernel": 3}], ValueError, "unknown keys"),
    ([rf.Upsample(1)], ValueError, "factor"),
])
def test_bad_layers_get_a_clear_error(layers, error, match):
    with pytest.raises(error, match=match):
        rf.receptive_field(layers)


def test_format_table_lists_every_layer():
    table = rf.format_table(rf.receptive_field(vgg16_layers()))
    lines = table.splitlines()
    assert lines[0].split()[:2] == ["layer", "kernel"] and "RF size" in lines[0]
    assert len(lines) == 2 + 18
    assert lines[-1].split()[:1] == ["pool5"] and "212" in lines[-1].split()


# ----------------------------------------------------------------- effective field

def uniform_stack(n_layers, k):
    """n convs of one channel, every weight 1/k^2, no bias, no nonlinearity: a linear blur."""
    layers = []
    for _ in range(n_layers):
        conv = nn.Conv2d(1, 1, k, padding=k // 2, bias=False, dtype=np.float64)
        conv.weight.data[...] = 1.0 / k ** 2
        layers.append(conv)
    return nn.Sequential(layers)


@pytest.mark.parametrize("n_layers, k", [(1, 3), (3, 3), (4, 3), (2, 5)])
def test_erf_variance_of_a_uniform_stack_is_n_k2_minus_1_over_12(n_layers, k):
    # each layer adds an independent uniform step over k taps, variance (k^2 - 1)/12;
    # 31x31 keeps the centre output's support (n(k-1)+1 wide) away from the border
    erf = rf.effective_receptive_field(uniform_stack(n_layers, k), (1, 31, 31), n_samples=2)
    centre, variance = rf.erf_moments(erf)
    expected = n_layers * (k ** 2 - 1) / 12
    assert centre == pytest.approx((15.0, 15.0), abs=1e-12)
    assert variance == pytest.approx((expected, expected), rel=1e-10)
    assert erf.sum() == pytest.approx(1.0)


def test_erf_support_never_leaves_the_theoretical_field():
    rng = np.random.default_rng(0)
    model = nn.Sequential([
        nn.Conv2d(2, 4, 3, padding=1, rng=rng, dtype=np.float64), nn.ReLU(),
        nn.Conv2d(4, 4, 3, stride=2, padding=1, rng=rng, dtype=np.float64), nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=2, dilation=2, rng=rng, dtype=np.float64), nn.ReLU(),
        nn.Conv2d(4, 3, 3, padding=3, dilation=3, rng=rng, dtype=np.float64),
    ])
    last = rf.receptive_field(model)[-1]
    # 1, +2 (3x3), +2 (3x3 stride 2), then jump 2: +4*2 (rate 2), +6*2 (rate 3)
    assert (last.size, last.stride) == (1 + 2 + 2 + 4 * 2 + 6 * 2, 2)
    output_index = (12, 11)                     # on a 25x25 output of a 49x49 input
    erf = rf.effective_receptive_field(model, (2, 49, 49), output_index=output_index)
    top, left, bottom, right = rf.receptive_field_box(last, output_index)
    rows, cols = np.nonzero(erf)
    assert rows.size > 0
    assert rows.min() >= top and rows.max() <= bottom
    assert cols.min() >= left and cols.max() <= right


def test_erf_runs_in_eval_mode_and_restores_modes_and_gradients():
    model = nn.Sequential([nn.Conv2d(1, 2, 3, padding=1, dtype=np.float64),
                           nn.BatchNorm2d(2), nn.ReLU()])
    model.astype(np.float64)
    model.train()
    rf.effective_receptive_field(model, (1, 9, 9), n_samples=3, channel=1)
    assert all(module.training for module in model.modules())
    assert all(np.all(p.grad == 0) for p in model.parameters())


def test_erf_bad_input_is_named():
    model = uniform_stack(1, 3)
    with pytest.raises(ValueError, match="input_shape"):
        rf.effective_receptive_field(model, (9, 9))
    with pytest.raises(ValueError, match="output_index"):
        rf.effective_receptive_field(model, (1, 9, 9), output_index=(9, 0))
    with pytest.raises(TypeError, match="backward"):
        rf.effective_receptive_field(lambda x: x, (1, 9, 9))


def test_erf_radius_of_a_uniform_square_is_its_half_width():
    erf = np.zeros((11, 11))
    erf[3:8, 3:8] = 1.0                              # a 5x5 square around (5, 5)
    assert rf.erf_radius(erf, share=1.0) == 2.0
    assert rf.erf_radius(erf, share=1 / 25) == 0.0   # the centre pixel alone
    with pytest.raises(ValueError, match="share"):
        rf.erf_radius(erf, share=0.0)


# ------------------------------------------------------------------------ gridding

def test_stacking_equal_rates_leaves_holes_and_hdc_rates_do_not():
    assert rf.count_holes(rf.gridding_pattern((2, 2, 2), ndim=1)) == 6     # every odd offset
    assert rf.count_holes(rf.gridding_pattern((2, 2, 2))) == 13 ** 2 - 7 ** 2
    assert rf.count_holes(rf.gridding_pattern((1, 2, 5))) == 0


def test_gridding_pattern_counts_every_path():
    pattern = rf.gridding_pattern((1, 2, 5))
    assert pattern.shape == (17, 17)                  # 1 + 2*(1 + 2 + 5)
    assert pattern.sum() == 9 ** 3                    # 9 taps per layer, 3 layers
    assert np.array_equal(rf.gridding_pattern((2,), ndim=1), [1, 0, 1, 0, 1])


def test_hdc_rule():
    good = rf.hdc_check((1, 2, 5))
    assert good.passes and good.max_gaps == (1, 2, 5) and good.holes == 0
    same = rf.hdc_check((2, 2, 2))
    assert not same.passes and same.common_factor == 2 and same.holes > 0
    doubling = rf.hdc_check((2, 4, 8))
    assert not doubling.passes and not doubling.gap_rule and doubling.max_gaps[1] == 4
    with pytest.raises(ValueError, match="at least two"):
        rf.hdc_check((2,))


# ----------------------------------------------------------------------- valid taps

def test_rate_1_uses_every_tap_away_from_the_border():
    taps = rf.valid_tap_map(1, 16)
    assert np.all(taps[1:-1, 1:-1] == 1.0)
    assert taps[0, 0] == pytest.approx(4 / 9)        # a corner: 2x2 of the 3x3 taps inside


def test_valid_taps_fall_to_one_ninth_as_the_rate_reaches_the_map_size():
    fractions = [rf.valid_tap_fraction(rate, 65) for rate in range(1, 80)]
    assert np.all(np.diff(fractions) <= 0)                      # never increases with the rate
    assert rf.valid_tap_fraction(65, 65) == pytest.approx(1 / 9)
    assert rf.valid_tap_fraction(100, 16) == pytest.approx(1 / 9)
    assert rf.valid_tap_fraction(60, 65) < 0.15
    with pytest.raises(ValueError, match="rate"):
        rf.valid_tap_fraction(0, 65)


# --------------------------------------------------------------------------- figures

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
