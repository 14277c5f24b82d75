"""Whole-image inference at the paper's test-time settings (minideeplab.evaluation.inference)."""

import numpy as np
import pytest

import minideeplab as mdl
from minideeplab.evaluation import (
    Settings,
    at_output_stride,
    class_probabilities,
    count_mult_adds,
    parse_scales,
    predict_labels,
    single_pass_cost,
)

SMALL = dict(widths=(8, 8, 8, 8), stem_channels=8, aspp_channels=8, low_level_channels=8,
             decoder_channels=8)


def _model(num_classes=3, **options):
    return mdl.models.DeepLabV3Plus(num_classes, **{**SMALL, **options}).eval()


def _softmax(logits):
    e = np.exp(logits - logits.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def test_output_stride_8_at_test_time_is_the_model_built_at_8_with_the_same_weights():
    # Same seed, same weights (no weight depends on the output stride): the model built at
    # output stride 8 is what at_output_stride must give from the one built at 16.
    trained_at_16 = _model(seed=3)
    built_at_8 = _model(seed=3, output_stride=8)
    switched = at_output_stride(trained_at_16, 8)
    assert switched.output_stride == 8 and switched.rates == (2, 4, 6)   # rates doubled
    assert trained_at_16.output_stride == 16                            # the original is kept
    x = np.random.default_rng(0).random((1, 3, 48, 32)).astype(np.float32)
    np.testing.assert_array_equal(switched(x), built_at_8(x))
    assert at_output_stride(trained_at_16, 16) is trained_at_16


def test_single_scale_probabilities_are_the_softmax_of_the_logits():
    model = _model()
    image = np.random.default_rng(1).random((3, 32, 48)).astype(np.float32)
    expected = _softmax(model(image[None])[0])
    np.testing.assert_allclose(class_probabilities(model, image), expected, rtol=1e-5,
                               atol=1e-7)


def test_flip_averages_the_image_and_its_mirror_flipped_back():
    model = _model()
    image = np.random.default_rng(2).random((3, 32, 32)).astype(np.float32)
    plain = _softmax(model(image[None])[0])
    mirrored = _softmax(model(np.ascontiguousarray(image[:, :, ::-1])[None])[0])[:, :, ::-1]
    np.testing.assert_allclose(class_probabilities(model, image, flip=True),
                               (plain + mirrored) / 2, rtol=1e-5, atol=1e-7)


def test_multi_scale_averages_probabilities_resized_back():
    from minideeplab.datasets.resize import resize_bilinear

    model = _model()
    image = np.random.default_rng(3).random((3, 32, 32)).astype(np.float32)
    half = resize_bilinear(image, 16, 16)
    small = resize_bilinear(np.ascontiguousarray(_softmax(model(half[None])[0])), 32, 32)
    plain = _softmax(model(image[None])[0])
    np.testing.assert_allclose(class_probabilities(model, image, scales=(0.5, 1.0)),
                               (small + plain) / 2, rtol=1e-5, atol=1e-7)


def test_an_odd_sized_image_is_padded_to_the_output_stride_and_cropped_back():
    model = _model()
    image = np.random.default_rng(4).random((3, 37, 21)).astype(np.float32)
    padded = np.zeros((1, 3, 48, 32), np.float32)
    padded[0, :, :37, :21] = image
    expected = model(padded)[0, :, :37, :21].argmax(axis=0)
    labels = predict_labels(model, image)
    assert labels.shape == (37, 21) and labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, expected)
    assert predict_labels(model, np.ones((3, 1, 1), np.float32)).shape == (1, 1)


class PerPixelModel:
    """A 'model' whose logits at a pixel depend on that pixel only: tiles must stitch exactly."""

    output_stride, in_channels, num_classes, dtype, training = 16, 3, 4, np.float32, False

    def __init__(self):
        self.weights = np.random.default_rng(5).standard_normal((4, 3)).astype(np.float32)

    def __call__(self, x):
        return np.einsum("kc,nchw->nkhw", self.weights, x)

    def eval(self):
        return self

    def train(self, mode=True):
        return self


def test_tiles_with_margins_stitch_to_the_whole_image():
    model = PerPixelModel()
    image = np.random.default_rng(6).random((3, 150, 130)).astype(np.float32)
    whole = predict_labels(model, image, Settings(tile=None))
    tiled = predict_labels(model, image, Settings(tile=64))      # core 32 px, 16 px margins
    np.testing.assert_array_equal(tiled, whole)


def test_a_tiled_prediction_of_the_real_model_is_close_to_the_whole_one():
    # The ASPP image pooling sees a tile, not the image, so tiles may differ a little.
    model = _model()
    image = np.random.default_rng(7).random((3, 96, 96)).astype(np.float32)
    whole = predict_labels(model, image, Settings(tile=None))
    tiled = predict_labels(model, image, Settings(tile=64))
    assert tiled.shape == whole.shape and (tiled == whole).mean() > 0.5


def test_mult_adds_are_counted_per_forward_pass_like_summary():
    model = _model()
    image = np.zeros((3, 32, 48), np.float32)
    with count_mult_adds() as counter:
        predict_labels(model, image)
    assert counter.total == mdl.summary(model, (3, 32, 48)).total_mult_adds
    with count_mult_adds() as counter:
        predict_labels(model, image, Settings(scales=(1.0, 2.0), flip=True))
    one = mdl.summary(model, (3, 32, 48)).total_mult_adds
    two = mdl.summary(model, (3, 64, 96)).total_mult_adds
    assert counter.total == 2 * (one + two)                    # each scale, twice (flip)


@pytest.mark.parametrize("output_stride", [8, 16])
def test_the_single_pass_cost_formula_matches_a_forward_pass(output_stride):
    model = at_output_stride(_model(), output_stride)
    cost = single_pass_cost(model)
    for height, width in [(37, 21), (64, 64), (5, 100)]:
        padded = (-(-height // output_stride) * output_stride,
                  -(-width // output_stride) * output_stride)
        assert cost(height, width) == mdl.summary(model, (3, *padded)).total_mult_adds


def test_bad_settings_name_the_option():
    assert parse_scales("0.75, 1,1.25") == (0.75, 1.0, 1.25)
    with pytest.raises(ValueError, match="scales must be numbers separated by commas"):
        parse_scales("0.75;1")
    with pytest.raises(ValueError, match=r"scales must be one or more numbers in \[0.1, 4\]"):
        parse_scales([0.0])
    with pytest.raises(ValueError, match="output_stride must be one of"):
        Settings(output_stride=12)
    with pytest.raises(ValueError, match="tile must be an int >= 32"):
        Settings(tile=8)
    assert Settings(8, (0.75, 1, 1.25), True).label(16) == "OS 8, scales 0.75/1/1.25, flip"
    assert Settings().label(16) == "OS 16, single scale"
