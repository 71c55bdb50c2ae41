"""Tests for keras_sb.evaluation: the accuracy report, the confusion PNG and the JSON file."""

import json

import numpy as np
import pytest
from PIL import Image

from keras_sb.confusion_plot import save_confusion_png
from keras_sb.evaluation import classification_report, save_report_json, wilson_interval

NAMES = ["a", "b", "c"]
# Worked by hand, with Keras' rules: top-1 is the argmax (ties: the lower class index, as in
# SparseCategoricalAccuracy); top-k counts a hit when fewer than k classes score strictly
# higher (ties at the boundary are in, as in SparseTopKCategoricalAccuracy / in_top_k).
LABELS = np.array([0, 1, 1, 2, 2, 2])
PROBABILITIES = np.array([
    [0.7, 0.2, 0.1],  # true a: top-1 a (hit), top-2 {a, b} (hit)
    [0.1, 0.6, 0.3],  # true b: top-1 b (hit), top-2 {b, c} (hit)
    [0.4, 0.4, 0.2],  # true b: tie a = b -> top-1 a (miss), top-2 (hit: none higher)
    [0.45, 0.45, 0.1],  # true c: tie -> top-1 a (miss), top-2 (miss: two higher)
    [0.2, 0.35, 0.45],  # true c: top-1 c (hit), top-2 {c, b} (hit)
    [0.3, 0.4, 0.3],  # true c: top-1 b (miss), top-2 (hit: only b higher, tie a = c)
])
LONG_NAMES = ["airplane", "bird", "car", "cat", "deer", "english_springer", "french_horn",
              "golf_ball", "horse", "tench"]


def _random_report(classes, names=None, per_class=20, seed=0):
    """A report on noisy predictions that favour the true class."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), per_class)
    scores = rng.random((len(labels), classes))
    scores[np.arange(len(labels)), labels] += 0.5
    names = names or [f"class_{i}" for i in range(classes)]
    return classification_report(labels, scores / scores.sum(1, keepdims=True), names)


def test_hand_worked_report():
    report = classification_report(LABELS, PROBABILITIES, NAMES, top_k=2)
    assert report["images"] == 6
    assert report["top1"] == 3 / 6 and report["top2"] == 5 / 6
    assert report["per_class"] == {
        "a": {"images": 1, "accuracy": 1.0},
        "b": {"images": 2, "accuracy": 0.5},
        "c": {"images": 3, "accuracy": 1 / 3},
    }
    assert report["confusion"] == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    assert report["class_names"] == NAMES


def test_ranking_scores_avoid_underflow_ties():
    """Probabilities that underflow to 0 tie; the logits they came from do not."""
    logits = np.array([[0.0, -800.0, -900.0, -1000.0]])
    probabilities = np.exp(logits - logits.max())  # [1, 0, 0, 0]
    names = ["a", "b", "c", "d"]
    tied = classification_report(np.array([3]), probabilities, names, top_k=2)
    ranked = classification_report(np.array([3]), probabilities, names, top_k=2, scores=logits)
    assert tied["top2"] == 1.0 and ranked["top2"] == 0.0


def test_top_k_clipped_to_class_count():
    report = classification_report(LABELS, PROBABILITIES, NAMES)
    assert report["top3"] == 1.0 and "top5" not in report


def test_class_without_images():
    keep = LABELS != 1
    report = classification_report(LABELS[keep], PROBABILITIES[keep], NAMES, top_k=2)
    assert report["per_class"]["b"] == {"images": 0, "accuracy": None}
    assert report["confusion"][1] == [0, 0, 0]
    assert report["images"] == 4 and report["top1"] == 2 / 4


def test_no_images():
    report = classification_report(np.zeros(0, int), np.zeros((0, 3)), NAMES)
    assert report["images"] == 0 and report["top1"] is None and report["top3"] is None
    assert report["ece"] is None


def test_ece_uses_15_bins():
    # 0.9 (right) and 0.85 (wrong) fall in different bins of 1/15:
    # 1/2 * |1 - 0.9| + 1/2 * |0 - 0.85| (one bin would give |0.5 - 0.875| = 0.375)
    probabilities = np.array([[0.9, 0.05, 0.05], [0.05, 0.85, 0.1]])
    report = classification_report(np.array([0, 2]), probabilities, NAMES)
    assert report["ece"] == pytest.approx(0.475)


@pytest.mark.parametrize(
    ("labels", "probabilities", "top_k", "message"),
    [
        (LABELS, PROBABILITIES[:, :2], 5, "must be \\[images, classes\\]"),
        (LABELS + 1, PROBABILITIES, 5, "labels must be in"),
        (LABELS, PROBABILITIES, 0, "top_k"),
    ],
)
def test_bad_inputs(labels, probabilities, top_k, message):
    with pytest.raises(ValueError, match=message):
        classification_report(labels, probabilities, NAMES, top_k)


@pytest.mark.parametrize(("classes", "names"), [(2, None), (10, LONG_NAMES), (100, None)])
def test_confusion_png(tmp_path, classes, names):
    path = save_confusion_png(_random_report(classes, names), tmp_path / "out" / "confusion.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.mode == "RGB"
        assert min(image.size) >= 200 and max(image.size) <= 2000


def test_confusion_png_with_empty_class(tmp_path):
    report = classification_report(LABELS[LABELS != 1], PROBABILITIES[LABELS != 1], NAMES)
    with Image.open(save_confusion_png(report, tmp_path / "confusion.png")) as image:
        assert image.size[0] > 200


def test_report_json_round_trip(tmp_path):
    report = _random_report(10, LONG_NAMES)
    path = save_report_json(report, tmp_path / "out" / "report.json")
    assert json.loads(path.read_text()) == report


@pytest.mark.parametrize(
    ("hits", "images", "expected"),
    [(81, 263, (0.2553, 0.3662)),  # Wikipedia's worked example ("Binomial proportion
     (5, 20, (0.1119, 0.4687)),    # confidence interval"); 5 of 20: classifier's noisy case
     (0, 10, (0.0, 0.2775)), (10, 10, (0.7225, 1.0))],
)
def test_wilson_interval(hits, images, expected):
    assert wilson_interval(hits, images) == pytest.approx(expected, abs=1e-4)
