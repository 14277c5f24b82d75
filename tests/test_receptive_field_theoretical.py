"""The theoretical receptive field: known values, modules vs layer lists, models describing
themselves with geometry specs."""

import ast
import math
from pathlib import Path

import numpy as np
import pytest

import minideeplab as mdl
from minideeplab import geometry, nn
from minideeplab import receptive_field as rf
from minideeplab.models import DeepLabV3Plus
from minideeplab.nn import blocks


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


# ------------------------------------------------------- models describe themselves

def test_the_first_names_of_the_specs_are_the_geometry_classes():
    assert rf.Layer is geometry.LayerSpec is rf.LayerSpec
    assert rf.GlobalPool is geometry.GlobalPoolSpec
    assert rf.Upsample is geometry.UpsampleSpec and rf.Upsample is not nn.Upsample
    assert rf.Parallel is geometry.ParallelSpec


class TwoLayerModelNewName(TwoLayerModel):
    """The same model with the protocol's current name, layer_specs(), and geometry specs."""

    def layer_specs(self):
        return [self.conv, geometry.LayerSpec(3, 1, 2, 2, "imagined"), self.head]

    def receptive_field_layers(self):            # the older name is read only without the new
        raise AssertionError("layer_specs() must win over receptive_field_layers()")


def test_layer_specs_is_the_protocol_and_wins_over_the_older_name():
    rows = rf.receptive_field(TwoLayerModelNewName())
    assert [row.size for row in rows] == [3, 7, 7]
    assert [row.name for row in rows] == ["conv (Conv2d)", "imagined", "head (Conv2d)"]


class TwoBranches(nn.Module):
    """Parallel branches named after the module that owns them (ParallelSpec(None, ...))."""

    def __init__(self):
        super().__init__()
        self.narrow = nn.Conv2d(1, 1, 3, padding=1)
        self.wide = nn.Conv2d(1, 1, 3, padding=4, dilation=4)

    def layer_specs(self):
        return [geometry.ParallelSpec(None, [[self.narrow], [self.wide]], ["narrow", "wide"])]


def test_an_unnamed_parallel_spec_takes_its_owners_path_or_class():
    alone = rf.receptive_field(TwoBranches())
    assert [row.name for row in alone] == ["TwoBranches[narrow] narrow (Conv2d)",
                                           "TwoBranches[wide] wide (Conv2d)",
                                           "TwoBranches: union of 2 branches"]
    inside = rf.receptive_field(nn.Sequential([nn.Conv2d(1, 1, 1), TwoBranches()]))
    assert inside[-1].name == "1: union of 2 branches"
    assert [row.size for row in inside] == [1, 3, 9, 9]    # 1 + 2*4 for the rate-4 branch


def test_the_separable_block_describes_itself_as_depthwise_then_pointwise():
    block = blocks.SeparableConv2d(2, 3, 3, stride=2, dilation=2, rng=np.random.default_rng(0))
    rows = rf.receptive_field(block)
    assert [row.name for row in rows] == ["depthwise (Conv2d)", "pointwise (Conv2d)"]
    assert [(row.size, row.stride, row.padding) for row in rows] == [(5, 2, 2), (5, 2, 2)]


def test_default_deeplab_rows_keep_their_numbers():
    # the numbers of the single-file receptive_field module, before models described themselves
    rows = rf.receptive_field(DeepLabV3Plus(5))
    by_name = {row.name: (row.size, row.stride, row.padding, row.start) for row in rows}
    assert len(rows) == 37
    assert by_name["backbone.stages.0.1.pointwise (Conv2d)"] == (15, 4, 7, 0)
    assert by_name["decoder[encoder] aspp[rate 3] aspp.branches.3.0.depthwise (Conv2d)"] == \
        (279, 16, 139, 0)
    assert by_name["decoder[encoder] aspp: union of 5 branches"] == (math.inf, 16, 139, 0)
    assert by_name["decoder[encoder] upsample encoder to stride 4"] == (math.inf, 4, 139, -6)
    assert by_name["decoder: union of 2 branches"] == (math.inf, 4, 7, 0)
    assert rows[-1].name == "upsample to the input"
    assert (rows[-1].size, rows[-1].stride, rows[-1].padding, rows[-1].start) == \
        (math.inf, 1, 15, -1.5)


def test_deeplabv3_without_decoder_upsamples_by_the_output_stride():
    rows = rf.receptive_field(DeepLabV3Plus(5, decoder=False, output_stride=8))
    assert rows[-1].kind == "upsample" and rows[-1].layer_stride == 1 / 8
    assert rows[-1].stride == 1 and rows[-1].size == math.inf


def test_per_axis_undoes_the_collapse_of_equal_axes():
    assert rf.per_axis(7) == (7, 7)
    assert rf.per_axis((13, 7)) == (13, 7)
    assert rf.per_axis(math.inf) == (math.inf, math.inf)


def _imported_modules(path):
    tree = ast.parse(path.read_text())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names += [node.module or ""] + [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


@pytest.mark.parametrize("folder", ["models", "nn"])
def test_models_and_layers_never_import_the_receptive_field_code(folder):
    # data flows down: models describe themselves with geometry specs, receptive_field reads them
    package = Path(mdl.__file__).parent / folder
    for path in sorted(package.glob("*.py")):
        assert not any("receptive_field" in name for name in _imported_modules(path)), path
