"""keras_sb's fused BatchNormalization matches keras.layers.BatchNormalization."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_sb.models.batch_norm import BatchNormalization


def twin_layers(channels: int, **kwargs):
    """A Keras layer and a fused one with the same (non-trivial) weights."""
    keras_layer = keras.layers.BatchNormalization(momentum=0.9, **kwargs)
    fused = BatchNormalization(momentum=0.9, **kwargs)
    rng = np.random.default_rng(0)
    for layer in (keras_layer, fused):
        layer.build((None, 5, 6, channels))
    weights = [rng.uniform(0.5, 2, w.shape).astype("float32") for w in keras_layer.weights]
    for layer in (keras_layer, fused):
        layer.set_weights(weights)
    return keras_layer, fused


def train_step(layer, x: tf.Tensor):
    """Training-mode output and the gradients of a weighted sum of it."""
    weights = tf.random.stateless_normal(x.shape, [1, 2])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * weights)
    return y, tape.gradient(loss, [x, *layer.trainable_weights])


@pytest.mark.parametrize(("channels", "center_scale"), [(12, True), (16, True), (12, False)])
def test_training_step_matches_keras(channels, center_scale):
    x = tf.random.stateless_normal([4, 5, 6, channels], [0, 1]) * 3 + 1
    keras_layer, fused = twin_layers(channels, center=center_scale, scale=center_scale)
    expected, expected_grads = train_step(keras_layer, x)
    got, grads = train_step(fused, x)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    for g, e in zip(grads, expected_grads, strict=True):
        np.testing.assert_allclose(g, e, atol=1e-4)
    for g, e in zip(fused.non_trainable_weights, keras_layer.non_trainable_weights, strict=True):
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-5)  # moving mean, variance
    np.testing.assert_allclose(fused(x, training=False), keras_layer(x, training=False),
                               atol=1e-5)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_mixed_precision_keeps_the_compute_dtype(dtype):
    x = tf.cast(tf.random.stateless_normal([4, 5, 6, 8], [0, 1]), dtype)
    keras_layer, fused = twin_layers(8, dtype=f"mixed_{dtype}")
    got = fused(x, training=True)
    assert got.dtype == dtype
    expected = keras_layer(x, training=True)
    np.testing.assert_allclose(tf.cast(got, tf.float32), tf.cast(expected, tf.float32),
                               atol=0.05)
    for g, e in zip(fused.non_trainable_weights, keras_layer.non_trainable_weights, strict=True):
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-2, atol=1e-3)


def test_config_round_trip_and_bad_axis():
    layer = BatchNormalization(momentum=0.9, synchronized=True, name="bn")
    clone = BatchNormalization.from_config(layer.get_config())
    assert type(clone) is BatchNormalization
    assert clone.synchronized and clone.momentum == 0.9
    with pytest.raises(ValueError, match="last axis"):
        BatchNormalization(axis=1)
