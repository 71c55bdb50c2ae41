"""keras_sb's fused BatchNormalization computes what keras.layers.BatchNormalization computes."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_sb  # noqa: F401
from keras_sb.models.batch_norm import BatchNormalization

SHAPE = (4, 6, 5, 3)


def _pair(**kwargs):
    """A Keras layer and a fused one with the same (non-trivial) weights."""
    layers = [keras.layers.BatchNormalization(momentum=0.9, **kwargs),
              BatchNormalization(momentum=0.9, **kwargs)]
    weights = [np.array([0.5, 2.0, 1.5], np.float32), np.array([0.1, -0.2, 0.3], np.float32),
               np.array([1.0, -1.0, 0.5], np.float32), np.array([2.0, 0.5, 1.0], np.float32)]
    for layer in layers:
        layer.build(SHAPE)
        layer.set_weights(weights)
    return layers


@pytest.mark.parametrize("training", [False, True])
def test_outputs_and_gradients_match_keras(training):
    x = tf.Variable(np.random.default_rng(0).normal(3.0, 2.0, SHAPE).astype(np.float32))
    results = []
    for layer in _pair():
        with tf.GradientTape() as tape:
            y = layer(x, training=training)
            loss = tf.reduce_sum(y * tf.range(1.0, 4.0))
        gradients = tape.gradient(loss, [x, *layer.trainable_weights])
        results.append([y.numpy(), *(np.asarray(g) for g in gradients)])
    for keras_value, fused_value in zip(*results, strict=True):
        np.testing.assert_allclose(fused_value, keras_value, rtol=1e-4, atol=1e-4)


def test_moving_statistics_follow_the_batch():
    x = np.random.default_rng(1).normal(3.0, 2.0, SHAPE).astype(np.float32)
    keras_layer, fused = _pair()
    for layer in (keras_layer, fused):
        layer(x, training=True)
    n = np.prod(SHAPE[:-1])
    np.testing.assert_allclose(fused.moving_mean.numpy(), keras_layer.moving_mean.numpy(),
                               rtol=1e-5)
    batch_variance = x.reshape(-1, 3).var(axis=0)
    expected = 0.9 * np.array([2.0, 0.5, 1.0]) + 0.1 * batch_variance * n / (n - 1)  # unbiased
    np.testing.assert_allclose(fused.moving_variance.numpy(), expected, rtol=1e-5)


def test_frozen_layer_uses_moving_statistics():
    keras_layer, fused = _pair()
    fused.trainable = keras_layer.trainable = False
    x = np.random.default_rng(2).normal(size=SHAPE).astype(np.float32)
    np.testing.assert_allclose(fused(x, training=True), keras_layer(x, training=True), atol=1e-5)
    np.testing.assert_allclose(fused.moving_mean.numpy(), [1.0, -1.0, 0.5])


def test_config_round_trip():
    layer = BatchNormalization(momentum=0.9, synchronized=True, name="bn")
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(again, BatchNormalization)
    assert (again.momentum, again.synchronized, again.name) == (0.9, True, "bn")
