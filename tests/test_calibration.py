"""Temperature scaling and the expected calibration error, and the classifier's temperature."""

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_sb.calibration import (
    MIN_IMAGES,
    TEMPERATURE_BOUNDS,
    expected_calibration_error,
    fit_temperature,
    minimum_images,
    negative_log_likelihood,
    softmax,
)
from keras_sb.checkpoints import load_checkpoint
from keras_sb.demo import classify
from keras_sb.export import export_saved_model, preprocess
from keras_sb.models import SplitBrain, SplitBrainClassifier

CLASSES = ["a", "b", "c"]
PHOTOS = sorted((Path(__file__).resolve().parent.parent / "keras_sb" / "sample_data"
                 / "unsupervised").glob("*.jpg"))[:3]


def sampled(true_temperature: float, n: int = 20000, classes: int = 10, seed: int = 0):
    """Random logits [n, classes] and labels drawn from softmax(logits / true_temperature)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=4.0, size=(n, classes))
    p = softmax(logits, true_temperature)
    labels = (p.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1)
    return logits, np.minimum(labels, classes - 1)


@pytest.mark.parametrize("true_temperature", [2.5, 1.0, 0.5])
def test_fit_recovers_the_true_temperature(true_temperature):
    logits, labels = sampled(true_temperature)
    assert fit_temperature(logits, labels) == pytest.approx(true_temperature, rel=0.05)


def test_fit_is_the_nll_minimum():
    logits, labels = sampled(1.7, n=500, classes=4, seed=1)
    grid = np.exp(np.linspace(np.log(0.5), np.log(5.0), 2001))
    best = grid[np.argmin([negative_log_likelihood(logits, labels, t) for t in grid])]
    assert fit_temperature(logits, labels) == pytest.approx(best, rel=2e-3)


def test_fit_edge_cases():
    labels = np.array([0, 1, 2, 0] * 20)
    assert fit_temperature(np.full((80, 3), 7.0), labels) == 1.0  # no confidence to scale
    separable = np.eye(3)[labels] * 10  # always right: sharpen as far as allowed
    assert fit_temperature(separable, labels) == pytest.approx(TEMPERATURE_BOUNDS[0], rel=1e-3)


def test_too_few_held_out_images_leave_the_temperature_at_1(caplog):
    """5 classes x 2 held-out images, most confidently wrong (a model trained on a few labels):
    the NLL minimum lies at the search bound (T = 20, every class at about 20 %)."""
    labels = np.repeat(np.arange(5), 2)
    logits = np.eye(5)[(labels + np.array([0, 0] + [1] * 8)) % 5] * 4  # 2 right, 8 wrong
    assert fit_temperature(logits, labels, minimum=0) > 19.9
    assert fit_temperature(logits, labels) == 1.0
    assert "Calibration skipped: 10 held-out images are too few" in caplog.text
    assert minimum_images(5) == MIN_IMAGES and minimum_images(100) == 500
    logits, labels = sampled(2.5, n=minimum_images(10))  # enough: fitted
    assert fit_temperature(logits, labels) == pytest.approx(2.5, rel=0.5)


def test_temperature_keeps_the_top_class():
    logits, labels = sampled(2.5, n=2000)
    top1 = logits.argmax(axis=1)
    for temperature in (0.05, 0.3, fit_temperature(logits, labels), 20.0):
        p = softmax(logits, temperature)
        np.testing.assert_array_equal(p.argmax(axis=1), top1)
        np.testing.assert_allclose(p.sum(axis=1), 1.0)


def test_softmax_is_stable():
    p = softmax(np.array([[1000.0, 0.0], [-1000.0, -1000.0]]), 0.5)
    np.testing.assert_allclose(p, [[1.0, 0.0], [0.5, 0.5]])


def test_ece_of_a_perfectly_calibrated_set_is_zero():
    # per confidence c: n predictions of class 0 with p = c, of which exactly c * n are right
    rows, labels = [], []
    for confidence, n in [(0.55, 20), (0.7, 10), (0.9, 10), (1.0, 4)]:
        rows += [[confidence, 1 - confidence]] * n
        right = round(confidence * n)
        labels += [0] * right + [1] * (n - right)
    assert expected_calibration_error(np.array(rows), np.array(labels)) == pytest.approx(
        0.0, abs=1e-12)


def test_ece_of_a_sampled_calibrated_model_is_small():
    logits, labels = sampled(1.0, n=20000)
    assert expected_calibration_error(softmax(logits), labels) < 0.02
    assert expected_calibration_error(softmax(logits, 0.3), labels) > 0.1  # overconfident


def test_ece_hand_worked():
    probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.65, 0.35], [0.25, 0.75]])
    labels = np.array([0, 1, 1, 1])
    # bins of 0.2: (0.8, 1] holds 0.9 (right), 0.9 (wrong): 2/4 * |0.5 - 0.9| = 0.2;
    # (0.6, 0.8] holds 0.65 (wrong), 0.75 (right): 2/4 * |0.5 - 0.7| = 0.1
    ece = expected_calibration_error(probabilities, labels, bins=5)
    assert isinstance(ece, float) and ece == pytest.approx(0.3)


def test_ece_bins_are_closed_on_the_right():
    probabilities = np.array([[0.5, 0.5], [0.75, 0.25]])  # 0.5 is in (0, 0.5], not (0.5, 1]
    # 1/2 * |1 - 0.5| + 1/2 * |0 - 0.75| (one bin would give |0.5 - 0.625| = 0.125)
    assert expected_calibration_error(probabilities, np.array([0, 1]), bins=2) == pytest.approx(
        0.625)


LOGITS = np.array([[1.0, 0.0], [0.0, 2.0]])


@pytest.mark.parametrize(
    ("logits", "labels", "message"),
    [
        (LOGITS[0], np.array([0]), "must be \\[N, C\\]"),
        (np.zeros((0, 2)), np.zeros(0, int), "must be \\[N, C\\]"),
        (LOGITS[:, :1], np.array([0, 0]), "C >= 2"),
        (LOGITS, np.array([0]), "labels must be \\[N\\]"),
        (LOGITS, np.array([0.0, 1.0]), "integers"),
        (LOGITS, np.array([0, 2]), "labels must be in \\[0, 2\\)"),
        (LOGITS, np.array([-1, 0]), "labels must be in"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), np.array([0, 1]), "finite"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), np.array([0, 1]), "finite"),
    ],
)
def test_fit_rejects_bad_inputs(logits, labels, message):
    with pytest.raises(ValueError, match=message):
        fit_temperature(logits, labels)


@pytest.mark.parametrize(
    ("probabilities", "labels", "bins", "message"),
    [
        (np.zeros((0, 2)), np.zeros(0, int), 15, "N >= 1"),
        (np.array([0.5, 0.5]), np.array([0]), 15, "must be \\[N, C\\]"),
        (np.array([[1.5, -0.5]]), np.array([0]), 15, "in \\[0, 1\\]"),
        (np.array([[np.nan, 0.5]]), np.array([0]), 15, "finite"),
        (np.array([[0.5, 0.5]]), np.array([2]), 15, "labels must be in"),
        (np.array([[0.5, 0.5]]), np.array([0, 1]), 15, "labels must be \\[N\\]"),
        (np.array([[0.5, 0.5]]), np.array([0]), 0, "bins"),
        (np.array([[0.5, 0.5]]), np.array([0]), 2.5, "bins"),
    ],
)
def test_ece_rejects_bad_inputs(probabilities, labels, bins, message):
    with pytest.raises(ValueError, match=message):
        expected_calibration_error(probabilities, labels, bins)


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory) -> tuple[SplitBrainClassifier, tf.Tensor]:
    """A small linear probe at temperature 2, saved and loaded back, and three photos' bytes.

    The class head is scaled up so that the logits are far from 0 and the temperature shows.
    """
    keras.utils.set_random_seed(0)
    model = SplitBrainClassifier(SplitBrain("simple", width=0.25), 3, CLASSES,
                                 feature_layer="conv2", feature_dims=1000,
                                 freeze_backbone=True, temperature=2.0)
    head = model.get_layer("class_logits")
    kernel, bias = head.get_weights()
    head.set_weights([kernel * 20, bias])
    path = tmp_path_factory.mktemp("calibrated") / "classifier.keras"
    model.save(path)
    return load_checkpoint(path, SplitBrainClassifier), tf.constant(
        [p.read_bytes() for p in PHOTOS])


def logits_of(model: SplitBrainClassifier, image_bytes: tf.Tensor) -> np.ndarray:
    return model(preprocess(image_bytes, model.input_shape[1]), training=False).numpy()


def test_temperature_round_trips_and_scales_the_probabilities(calibrated):
    model, image_bytes = calibrated
    assert model.temperature == 2.0 and model.get_config()["temperature"] == 2.0
    logits = logits_of(model, image_bytes)
    assert np.abs(softmax(logits, 2.0) - softmax(logits)).max() > 0.05  # T matters here
    np.testing.assert_allclose(model.probabilities(logits), softmax(logits, 2.0), atol=1e-6)
    rgb = preprocess(image_bytes[:1], model.input_shape[1])[0].numpy()
    label = classify(model, rgb)
    np.testing.assert_allclose(list(label.values()), softmax(logits[0], 2.0), atol=1e-5)


def test_config_without_temperature_loads_uncalibrated(calibrated):
    config = calibrated[0].get_config()
    del config["temperature"]
    assert SplitBrainClassifier.from_config(config).temperature == 1.0


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_temperature_is_refused(calibrated, temperature):
    with pytest.raises(ValueError, match="temperature must be"):
        calibrated[0].temperature = temperature


def test_saved_model_serves_calibrated_probabilities(calibrated, tmp_path):
    model, image_bytes = calibrated
    logits = logits_of(model, image_bytes)
    export_saved_model(model, tmp_path / "1")
    model.temperature = 1.0  # the exported graph keeps the temperature it was exported with
    try:
        served = tf.saved_model.load(str(tmp_path / "1")).signatures["serving_default"](
            image_bytes=image_bytes)["probabilities"].numpy()
    finally:
        model.temperature = 2.0
    np.testing.assert_allclose(served, softmax(logits, 2.0), atol=1e-5)
