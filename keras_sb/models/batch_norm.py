"""Batch normalisation through TensorFlow's fused kernel when one replica trains alone."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="keras_sb")
class BatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` computed by ``FusedBatchNormV3`` (one op forward,
    one backward, oneDNN on CPUs) for 4-D channels-last inputs, where Keras 3 builds the
    statistics and the normalisation from separate element-wise ops.

    It keeps Keras' class name on purpose: Keras stores a layer's weights under its class
    name, so checkpoints written with either class load into models built with the other.

    With several replicas in sync and ``synchronized=True`` it uses Keras' implementation, which
    all-reduces the batch statistics across replicas. The moving variance is updated with the
    unbiased batch variance (as PyTorch does); Keras uses the biased one.
    """

    def call(self, inputs, training=None, mask=None):
        replicas = tf.distribute.get_replica_context()
        synced = self.synchronized and replicas is not None and replicas.num_replicas_in_sync > 1
        if synced or mask is not None or self.renorm or len(inputs.shape) != 4 or self.axis not in (
                -1, 3) or not (self.scale and self.center):
            return super().call(inputs, training=training, mask=mask)
        training = training and self.trainable
        outputs, mean, variance, *_ = tf.compat.v1.nn.fused_batch_norm(
            tf.cast(inputs, tf.float32), self.gamma, self.beta, mean=self.moving_mean,
            variance=self.moving_variance, epsilon=self.epsilon, is_training=bool(training),
            exponential_avg_factor=1.0 - self.momentum if training else 1.0)
        if training:
            self.moving_mean.assign(mean)
            self.moving_variance.assign(variance)
        return tf.cast(outputs, self.compute_dtype)
