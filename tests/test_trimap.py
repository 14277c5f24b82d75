"""The trimap curve (the paper's Fig. 5): mIoU in a band around boundaries, checked by hand."""

import numpy as np
import pytest

from minideeplab import metrics
from minideeplab.evaluation import trimap_miou


def square_scene():
    """A 2x2 object (class 1) in a 6x6 image, and a prediction that grows it to 3x3."""
    target = np.zeros((6, 6), dtype=np.int64)
    target[2:4, 2:4] = 1
    prediction = np.zeros_like(target)
    prediction[2:5, 2:5] = 1
    return prediction, target


def test_hand_computed_bands():
    prediction, target = square_scene()
    # width 1: the band is the 4x4 block rows/cols 1..4 (16 px; see boundary_mask's docstring).
    # class 1: 4 true pixels, all predicted, plus 5 false ones -> 4/9.
    # class 0: 12 true pixels, 7 of them predicted 0, none wrongly -> 7/12.
    # width 2: the band is the whole 6x6 image: class 1 still 4/9; class 0: 27 / (27 + 5).
    curve = trimap_miou(prediction, target, num_classes=2, widths=[1, 2])
    np.testing.assert_allclose(curve, [(4 / 9 + 7 / 12) / 2, (4 / 9 + 27 / 32) / 2], rtol=1e-12)


def test_a_wide_band_is_the_whole_image_and_a_perfect_prediction_scores_one():
    prediction, target = square_scene()
    whole = metrics.mean_iou(metrics.confusion_matrix(prediction, target, 2))
    assert trimap_miou(prediction, target, 2, [40])[0] == pytest.approx(whole)
    np.testing.assert_array_equal(trimap_miou(target, target, 2, range(1, 5)), np.ones(4))


def test_one_confusion_matrix_over_the_batch():
    # two images: the band's score is the dataset's IoU, not the mean of two per-image scores
    prediction, target = square_scene()
    other_prediction = np.zeros_like(target)                     # misses the object entirely
    predictions, targets = np.stack([prediction, other_prediction]), np.stack([target, target])
    band = metrics.boundary_mask(targets, 1)
    cm = metrics.confusion_matrix(predictions[band], targets[band], 2)
    assert trimap_miou(predictions, targets, 2, 1)[0] == pytest.approx(metrics.mean_iou(cm))
    per_image = np.mean([trimap_miou(p, t, 2, 1)[0] for p, t in
                         zip(predictions, targets, strict=True)])
    assert trimap_miou(predictions, targets, 2, 1)[0] != pytest.approx(per_image)


def test_ignored_pixels_are_never_counted():
    prediction, target = square_scene()
    ignored = target.copy()
    ignored[0, :] = 255                 # a row of 'ignore': no boundary there, never counted
    prediction[0, :] = 1                # wrong there, but it does not matter
    expected = trimap_miou(np.where(ignored == 255, 0, prediction), ignored, 2, [2])
    assert trimap_miou(prediction, ignored, 2, [2])[0] == pytest.approx(expected[0])


def test_an_image_without_boundaries_gives_nan():
    flat = np.zeros((5, 5), dtype=np.int64)
    assert np.isnan(trimap_miou(flat, flat, 2, [1])[0])


@pytest.mark.parametrize("kwargs, message", [
    (dict(widths=[0]), "widths"), (dict(widths=[]), "widths"), (dict(widths=[1.5]), "widths"),
    (dict(widths="ab"), "widths"),
])
def test_bad_widths_are_named(kwargs, message):
    prediction, target = square_scene()
    with pytest.raises(ValueError, match=message):
        trimap_miou(prediction, target, 2, **kwargs)


def test_bad_shapes_are_named():
    prediction, target = square_scene()
    with pytest.raises(ValueError, match="predictions must have the shape"):
        trimap_miou(prediction[:5], target, 2, [1])
    with pytest.raises(TypeError, match="widths"):
        trimap_miou(prediction, target, 2, None)
