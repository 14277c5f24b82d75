"""The evaluation report: trimap bands and curve, scores of a whole evaluation, the gallery,
report.json, and the report's figures."""

import json

import numpy as np
import pytest

import minideeplab as mdl
from minideeplab import metrics, viz
from minideeplab.evaluation import (
    Settings,
    TrimapCurve,
    evaluate_images,
    format_inference_table,
    inference_table,
    predict_labels,
    trimap_bands,
)

SMALL = dict(widths=(8, 8, 8, 8), stem_channels=8, aspp_channels=8, low_level_channels=8,
             decoder_channels=8)


def test_trimap_bands_equal_the_boundary_mask_of_every_width():
    rng = np.random.default_rng(0)
    target = rng.integers(0, 3, (23, 31))
    target[rng.random(target.shape) < 0.1] = 255
    target[:5, :7] = 1                                  # a flat region far from some edges
    widths = [1, 2, 3, 5, 8, 13]
    for width, band in trimap_bands(target, widths):
        np.testing.assert_array_equal(band, metrics.boundary_mask(target, width))


def test_trimap_curve_by_hand():
    # A 2-pixel-wide object in a 1 x 8 strip: truth 0 0 0 1 1 0 0 0, prediction all 0.
    target = np.array([[0, 0, 0, 1, 1, 0, 0, 0]])
    pred = np.zeros_like(target)
    curve = TrimapCurve(num_classes=2, widths=(1, 3))
    curve.update(pred, target)
    # w = 1: band = pixels 2..5 (two background right, two object missed): IoU_0 = 2/4, IoU_1 = 0
    # w = 3: band = every pixel: IoU_0 = 6/8, IoU_1 = 0
    np.testing.assert_allclose(curve.curve(), [(0.5 + 0) / 2, (0.75 + 0) / 2])


def test_the_trimap_curve_reaches_the_overall_miou_once_the_band_covers_everything():
    rng = np.random.default_rng(1)
    target = np.zeros((20, 20), np.int64)
    target[5:15, 5:15] = 1
    pred = np.where(rng.random(target.shape) < 0.2, 1 - target, target)
    curve = TrimapCurve(2, widths=(1, 40))
    curve.update(pred, target)
    overall = metrics.mean_iou(metrics.confusion_matrix(pred, target, 2))
    assert curve.curve()[1] == pytest.approx(overall)
    assert curve.curve()[0] != pytest.approx(overall)


def _pairs(count=4, size=(32, 40)):
    rng = np.random.default_rng(2)
    for i in range(count):
        image = rng.random((3, *size)).astype(np.float32)
        mask = rng.integers(0, 3, size)
        mask[0, :] = 255
        yield f"image{i}", image, mask


def test_evaluate_images_scores_equal_the_metrics_of_the_predictions():
    model = mdl.models.DeepLabV3Plus(3, **SMALL).eval()
    result = evaluate_images(model, _pairs(), ("a", "b", "c"), trimap=True, gallery=2)
    cm = np.zeros((3, 3), np.int64)
    per_image = []
    for name, image, mask in _pairs():
        labels = predict_labels(model, image)
        image_cm = metrics.confusion_matrix(labels, mask, 3)
        cm += image_cm
        per_image.append((name, metrics.mean_iou(image_cm)))
    np.testing.assert_array_equal(result.cm, cm)
    scores = result.scores()
    assert scores["miou"] == pytest.approx(metrics.mean_iou(cm))
    assert scores["frequency_weighted_iou"] == pytest.approx(metrics.frequency_weighted_iou(cm))
    assert scores["mean_class_accuracy"] == pytest.approx(metrics.mean_class_accuracy(cm))
    assert result.per_image == per_image and result.images == 4
    worst = sorted(per_image, key=lambda item: item[1])[:2]
    assert [(item.name, item.miou) for item in result.gallery] == worst
    assert result.mult_adds_per_image == mdl.summary(model, (3, 32, 48)).total_mult_adds
    report = result.to_json()
    json.dumps(report, allow_nan=False)                  # NaN became null: valid JSON
    assert report["lowest_miou_images"] == [name for name, _ in worst]
    assert len(report["trimap"]["miou"]) == 40 and report["images"] == 4


def test_the_inference_table_has_the_papers_six_rows_and_their_costs():
    model = mdl.models.DeepLabV3Plus(3, **SMALL).eval()
    rows = inference_table(model, lambda: _pairs(2, size=(32, 48)), ("a", "b", "c"),
                           scales=(0.5, 1.0))
    assert [(r["output_stride"], r["multi_scale"], r["flip"]) for r in rows] == [
        (16, False, False), (16, True, False), (16, True, True),
        (8, False, False), (8, True, False), (8, True, True)]
    cost = [r["mult_adds_per_image"] for r in rows]
    assert cost[2] == 2 * cost[1] and cost[5] == 2 * cost[4]          # flip: twice the work
    # OS 8: the last stage and ASPP run on 4x the positions (the same padded 32x48 input)
    assert cost[3] > cost[0]
    text = format_inference_table(rows)
    assert len(text.splitlines()) == 7 and "0.5/1" in text and "1.0x" in text


@pytest.fixture(scope="module")
def evaluation():
    model = mdl.models.DeepLabV3Plus(3, **SMALL).eval()
    return evaluate_images(model, _pairs(), ("background", "apple", "sky"),
                           Settings(scales=(1.0,)), trimap=True, gallery=3)


def test_the_report_figures_are_written(evaluation, tmp_path):
    names = evaluation.class_names
    viz.plot_confusion_matrix(evaluation.cm, names, path=tmp_path / "cm.png")
    viz.plot_trimap_curve(evaluation.trimap.widths, {"OS 16": evaluation.trimap.curve()},
                          overall={"OS 16": evaluation.scores()["miou"]},
                          path=tmp_path / "trimap.png")
    viz.plot_gallery(evaluation.gallery, names, path=tmp_path / "gallery.png")
    for name in ("cm.png", "trimap.png", "gallery.png"):
        assert (tmp_path / name).stat().st_size > 10_000


def test_the_report_figures_refuse_bad_input(evaluation):
    with pytest.raises(ValueError, match=r"cm must be \(2, 2\) for 2 class names"):
        viz.plot_confusion_matrix(evaluation.cm, ["a", "b"])
    with pytest.raises(ValueError, match="has 3 values for 40 widths"):
        viz.plot_trimap_curve(range(1, 41), [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="items is empty"):
        viz.plot_gallery([], ["a"])
