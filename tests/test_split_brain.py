"""The split-brain model, its per-pixel loss and its save/reload."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_sb  # noqa: F401
from keras_sb.models.split_brain import (
    PixelAccuracy,
    PixelCrossEntropy,
    SplitBrain,
    compile_for_pretraining,
)


def numpy_pixel_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_probs, labels[..., None], axis=-1)
    return float(-picked.mean())


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_pixel_cross_entropy_matches_numpy(batch):
    rng = np.random.default_rng(batch)
    logits = rng.normal(size=(batch, 12, 12, 25)).astype(np.float32) * 3
    labels = rng.integers(0, 25, size=(batch, 12, 12))
    loss = float(PixelCrossEntropy()(labels, logits))
    assert loss == pytest.approx(numpy_pixel_cross_entropy(logits, labels), rel=1e-5)


def test_pixel_cross_entropy_gradient_matches_keras():
    rng = np.random.default_rng(0)
    logits = tf.Variable(rng.normal(size=(2, 12, 12, 25)).astype(np.float32) * 3)
    labels = rng.integers(0, 25, size=(2, 12, 12))
    gradients = []
    for loss in (PixelCrossEntropy(), keras.losses.SparseCategoricalCrossentropy(True)):
        with tf.GradientTape() as tape:
            value = loss(labels, logits)
        gradients.append(tape.gradient(value, logits).numpy())
    np.testing.assert_allclose(*gradients, atol=1e-7)
    assert np.abs(gradients[0]).max() > 1e-4


def test_pixel_accuracy_matches_keras_and_counts_ties_as_hits():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 12, 12, 25)).astype(np.float32)
    labels = rng.integers(0, 25, size=(3, 12, 12))
    labels[0, 0, :5] = logits[0, 0, :5].argmax(-1)  # some hits for sure
    expected = keras.metrics.SparseCategoricalAccuracy()(labels, logits)
    assert float(PixelAccuracy()(labels, logits)) == pytest.approx(float(expected), abs=1e-7)
    tied = np.zeros((1, 2, 2, 4), np.float32)
    assert float(PixelAccuracy()(np.array([[[0, 3], [1, 2]]]), tied)) == 1.0


def test_outputs_are_named_and_shaped():
    model = SplitBrain("simple", width=0.25, l_bins=50, ab_bins="grid:8")
    outputs = model(np.random.rand(2, 96, 96, 3).astype(np.float32))
    assert set(outputs) == {"color", "lightness"}
    assert outputs["color"].shape == (2, 12, 12, 64)
    assert outputs["lightness"].shape == (2, 12, 12, 50)
    assert model.get_layer("color_net").input_shape[-1] == 1  # L -> ab
    assert model.get_layer("lightness_net").input_shape[-1] == 2  # ab -> L


def test_fit_with_partial_last_batch():
    model = compile_for_pretraining(SplitBrain("simple", width=0.25, ab_bins="grid:4"), 1e-3)
    images = np.random.rand(5, 96, 96, 3).astype(np.float32)
    targets = {"color": np.random.randint(0, 16, (5, 12, 12)),
               "lightness": np.random.randint(0, 100, (5, 12, 12))}
    history = model.fit(images, targets, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert 0 <= history.history["color_acc"][0] <= 1


def test_keras_save_and_reload_is_identical(tmp_path):
    model = SplitBrain("simple", width=0.25, color_space="lab", l_bins=50, ab_bins="gamut")
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded, SplitBrain)
    assert reloaded.get_config() == model.get_config()
    assert reloaded.codec.get_config() == model.codec.get_config()
    images = np.random.rand(3, 96, 96, 3).astype(np.float32)
    expected, actual = model.predict(images, verbose=0), reloaded.predict(images, verbose=0)
    for name in ("color", "lightness"):
        np.testing.assert_allclose(actual[name], expected[name], atol=1e-6)
