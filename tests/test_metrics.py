"""Tests of minideeplab.metrics on examples small enough to check by hand."""

import numpy as np
import pytest

from minideeplab import metrics


def test_confusion_matrix_by_hand():
    target = np.array([[0, 0, 1],
                       [1, 2, 2]])
    pred = np.array([[0, 1, 1],
                     [1, 2, 0]])
    # truth 0: predicted 0 once, 1 once; truth 1: predicted 1 twice; truth 2: 2 once, 0 once.
    expected = np.array([[1, 1, 0],
                         [0, 2, 0],
                         [1, 0, 1]])
    cm = metrics.confusion_matrix(pred, target, num_classes=3)
    np.testing.assert_array_equal(cm, expected)
    assert cm.dtype == np.int64
    assert metrics.pixel_accuracy(cm) == pytest.approx(4 / 6)
    # IoU_0 = 1 / (1 + 1 FP + 1 FN) = 1/3; IoU_1 = 2 / (2 + 1 FP + 0 FN) = 2/3;
    # IoU_2 = 1 / (1 + 0 FP + 1 FN) = 1/2.
    np.testing.assert_allclose(metrics.iou_per_class(cm), [1 / 3, 2 / 3, 1 / 2])
    assert metrics.mean_iou(cm) == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)


def test_perfect_prediction_gives_miou_one():
    target = np.random.default_rng(0).integers(0, 4, size=(2, 5, 5))
    cm = metrics.confusion_matrix(target.copy(), target, num_classes=4)
    assert metrics.mean_iou(cm) == 1.0 and metrics.pixel_accuracy(cm) == 1.0


def test_ignore_index_pixels_are_not_counted():
    target = np.array([0, 1, 255, 255])
    pred = np.array([0, 1, 1, 0])        # whatever is predicted where the truth is 255
    cm = metrics.confusion_matrix(pred, target, num_classes=2)
    np.testing.assert_array_equal(cm, [[1, 0], [0, 1]])


def test_absent_class_is_nan_and_left_out_of_the_mean():
    target = np.array([0, 0, 1, 1])
    pred = np.array([0, 0, 1, 0])
    cm = metrics.confusion_matrix(pred, target, num_classes=3)
    iou = metrics.iou_per_class(cm)
    assert np.isnan(iou[2])                          # class 2: in neither truth nor prediction
    assert metrics.mean_iou(cm) == pytest.approx((2 / 3 + 1 / 2) / 2)
    empty = np.zeros((3, 3), dtype=np.int64)
    assert np.isnan(metrics.mean_iou(empty)) and np.isnan(metrics.pixel_accuracy(empty))


def test_iou_summary_by_hand():
    # The matrix of test_confusion_matrix_by_hand, plus a class 3 that never occurs.
    cm = np.array([[1, 1, 0, 0],
                   [0, 2, 0, 0],
                   [1, 0, 1, 0],
                   [0, 0, 0, 0]])
    summary = metrics.iou_summary(cm)
    assert list(summary) == ["pixel_accuracy", "miou", "iou_per_class"]
    assert summary["pixel_accuracy"] == pytest.approx(4 / 6)
    assert summary["miou"] == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)   # class 3 left out
    np.testing.assert_allclose(summary["iou_per_class"][:3], [1 / 3, 2 / 3, 1 / 2])
    assert np.isnan(summary["iou_per_class"][3])
    assert all(type(v) is float for v in summary["iou_per_class"])       # plain numbers (JSON)
    empty = metrics.iou_summary(np.zeros((2, 2), dtype=np.int64))
    assert np.isnan(empty["miou"]) and np.isnan(empty["pixel_accuracy"])


def test_ignore_index_is_the_loss_ignore_index():
    from minideeplab.functional import loss

    assert metrics.IGNORE_INDEX == loss.IGNORE_INDEX == 255


def test_boundary_band_checked_by_eye():
    target = np.zeros((7, 7), dtype=np.int64)
    target[2:5, 2:5] = 1
    band = metrics.boundary_mask(target, width=1)
    expected = np.array([[0, 0, 0, 0, 0, 0, 0],
                         [0, 1, 1, 1, 1, 1, 0],
                         [0, 1, 1, 1, 1, 1, 0],
                         [0, 1, 1, 0, 1, 1, 0],     # the object's centre is 1 px from no edge
                         [0, 1, 1, 1, 1, 1, 0],
                         [0, 1, 1, 1, 1, 1, 0],
                         [0, 0, 0, 0, 0, 0, 0]], dtype=bool)
    np.testing.assert_array_equal(band, expected)
    # Wider band: everything within 2 px of the edge, i.e. the whole 7x7 image.
    assert metrics.boundary_mask(target, width=2).all()


def test_boundary_band_image_border_and_ignore_make_no_edge():
    target = np.zeros((5, 5), dtype=np.int64)
    assert not metrics.boundary_mask(target, width=1).any()    # the image border is no edge
    target[:, 3:] = 255                                         # an ignored strip
    assert not metrics.boundary_mask(target, width=1).any()    # and ignore is no edge either


def test_boundary_band_batched_equals_one_by_one():
    target = np.random.default_rng(1).integers(0, 3, size=(3, 9, 8))
    batched = metrics.boundary_mask(target, width=2)
    for i in range(3):
        np.testing.assert_array_equal(batched[i], metrics.boundary_mask(target[i], width=2))


def test_boundary_band_matches_a_plain_loop():
    target = np.random.default_rng(2).integers(0, 2, size=(8, 8)) * 3
    width = 1
    expected = np.zeros_like(target, dtype=bool)
    for y in range(8):
        for x in range(8):
            window = target[max(0, y - width):y + width + 1, max(0, x - width):x + width + 1]
            expected[y, x] = (window != target[y, x]).any()
    np.testing.assert_array_equal(metrics.boundary_mask(target, width=width), expected)


def test_boundary_confusion_matrix_counts_only_the_band():
    target = np.zeros((7, 7), dtype=np.int64)
    target[2:5, 2:5] = 1
    pred = np.zeros_like(target)              # predicts background everywhere
    cm = metrics.boundary_confusion_matrix(pred, target, num_classes=2, width=1)
    # band: 24 pixels, of which 8 are object (the ring of the 3x3 object) and 16 background.
    np.testing.assert_array_equal(cm, [[16, 0], [8, 0]])


def test_segmentation_metrics_accumulates_like_one_big_batch():
    rng = np.random.default_rng(3)
    target = rng.integers(0, 3, size=(4, 10, 10))
    target[0, :2] = 255
    pred = np.where(rng.random(target.shape) < 0.8, target % 255, rng.integers(0, 3, target.shape))
    accumulator = metrics.SegmentationMetrics(num_classes=3)
    accumulator.update(pred[:2], target[:2])
    accumulator.update(pred[2:], target[2:])
    result = accumulator.compute()
    cm = metrics.confusion_matrix(pred, target, 3)
    assert result["miou"] == pytest.approx(metrics.mean_iou(cm))
    assert result["pixel_accuracy"] == pytest.approx(metrics.pixel_accuracy(cm))
    assert len(result["iou_per_class"]) == 3 and len(result["boundary_iou_per_class"]) == 3
    boundary = metrics.boundary_confusion_matrix(pred, target, 3)
    assert result["boundary_miou"] == pytest.approx(metrics.mean_iou(boundary))


def test_segmentation_metrics_takes_scores_too():
    target = np.array([[[0, 1], [2, 1]]])
    scores = np.eye(3, dtype=np.float32)[target].transpose(0, 3, 1, 2)   # one-hot (1, 3, 2, 2)
    accumulator = metrics.SegmentationMetrics(num_classes=3)
    accumulator.update(scores, target)
    assert accumulator.compute()["miou"] == 1.0
    accumulator.reset()
    assert accumulator.cm.sum() == 0


def test_bad_input_errors_name_the_argument():
    target = np.zeros((2, 2), dtype=np.int64)
    with pytest.raises(ValueError, match="same shape"):
        metrics.confusion_matrix(np.zeros((2, 3), dtype=np.int64), target, 2)
    with pytest.raises(ValueError, match=r"target has labels \[5\]"):
        metrics.confusion_matrix(target, np.array([[0, 5], [0, 0]]), 2)
    with pytest.raises(ValueError, match=r"pred has labels \[2\]"):
        metrics.confusion_matrix(np.array([[0, 2], [0, 0]]), target, 2)
    with pytest.raises(TypeError, match="pred must have an integer dtype"):
        metrics.confusion_matrix(target.astype(np.float32), target, 2)
    with pytest.raises(ValueError, match="num_classes must be >= 1"):
        metrics.confusion_matrix(target, target, 0)
    with pytest.raises(ValueError, match="cm must be a square"):
        metrics.mean_iou(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="width must be an int >= 1"):
        metrics.boundary_mask(target, width=0)
    with pytest.raises(ValueError, match=r"pred scores must be \(N, 3, H, W\)"):
        metrics.SegmentationMetrics(3).update(np.zeros((1, 2, 2, 2)), target[None])


# ------------------------------------------- the evaluation report's scores, by hand

def test_class_accuracy_mean_class_accuracy_and_frequency_weighted_iou_by_hand():
    # The matrix of test_confusion_matrix_by_hand (rows = truth) plus an absent class 3.
    cm = np.array([[1, 1, 0, 0],
                   [0, 2, 0, 0],
                   [1, 0, 1, 0],
                   [0, 0, 0, 0]])
    # class accuracy = diagonal / row sum: 1/2, 2/2, 1/2; class 3 has no truth pixels: NaN
    accuracy = metrics.class_accuracy(cm)
    np.testing.assert_allclose(accuracy[:3], [0.5, 1.0, 0.5])
    assert np.isnan(accuracy[3])
    assert metrics.mean_class_accuracy(cm) == pytest.approx(2 / 3)
    # fwIoU = sum (truth share) * IoU = 2/6 * 1/3 + 2/6 * 2/3 + 2/6 * 1/2 = 1/2
    assert metrics.frequency_weighted_iou(cm) == pytest.approx(0.5)
    normalized = metrics.normalized_confusion_matrix(cm)
    np.testing.assert_allclose(normalized[:3], [[0.5, 0.5, 0, 0], [0, 1, 0, 0],
                                                [0.5, 0, 0.5, 0]])
    assert np.isnan(normalized[3]).all()


def test_frequency_weighted_iou_follows_the_big_class_and_miou_does_not():
    # 90 background pixels all right; 10 object pixels all predicted background.
    cm = np.array([[90, 0],
                   [10, 0]])
    assert metrics.frequency_weighted_iou(cm) == pytest.approx(0.9 * 0.9)   # IoU_0 = 90/100
    assert metrics.mean_iou(cm) == pytest.approx((0.9 + 0.0) / 2)
    assert metrics.mean_class_accuracy(cm) == pytest.approx(0.5)
    empty = np.zeros((2, 2), np.int64)
    assert np.isnan(metrics.frequency_weighted_iou(empty))
    assert np.isnan(metrics.mean_class_accuracy(empty))
