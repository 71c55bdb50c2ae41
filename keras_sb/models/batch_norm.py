"""Batch normalisation that trains with TensorFlow's fused kernel."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="keras_sb")
class BatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` on [N, H, W, C] whose training step is one
    ``FusedBatchNormV3`` op (and one gradient op) instead of about 15 element-wise ops and
    reductions each way; TensorFlow runs it with oneDNN on CPUs, cuDNN on GPUs, and Grappler
    fuses a following ReLU into it. Keras 3 has no fused path.

    Same weights, outputs and moving statistics as the Keras layer (tested). Inference, and
    training with ``synchronized=True`` across several replicas (statistics over the global
    batch), use the Keras layer's own code. Keras files key weights by class name, so the
    name is the Keras one: checkpoints written with either layer load into the other.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.axis not in (-1, 3) or self.renorm:
            raise ValueError("BatchNormalization (fused) normalises the last axis of 4-D "
                             "inputs, without renorm.")

    def call(self, inputs, training=None, mask=None):
        if (not training or not self.trainable or mask is not None
                or (self.synchronized and tf.distribute.get_strategy().num_replicas_in_sync > 1)):
            return super().call(inputs, training=training, mask=mask)
        # In float32 as Keras does: with bfloat16 inputs oneDNN's kernels made the mixed
        # precision step 1.2x slower on a CPU (A/B in development); no GPU was at hand to try.
        x = tf.cast(inputs, tf.float32)
        ones = tf.ones(x.shape[-1:], tf.float32)
        y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            x, self.gamma.value if self.scale else ones,
            self.beta.value if self.center else tf.zeros_like(ones),
            epsilon=self.epsilon, is_training=True)
        if x.shape[-1] % 8:
            # Grappler would fuse a following ReLU into the op, and oneDNN runs that fusion in
            # a generic kernel, 6x slower, unless C is a multiple of 8 (ONEDNN_VERBOSE=1 shows
            # nspc_bnorm:any): EnsureShape between them keeps them apart.
            y = tf.ensure_shape(y, x.shape)
        # The kernel returns the unbiased variance; Keras keeps the biased one.
        count = tf.cast(tf.size(x) // tf.shape(x)[-1], tf.float32)
        variance = variance * (count - 1) / count
        for average, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
            average.assign(average * self.momentum + batch * (1 - self.momentum))
        return tf.cast(y, self.compute_dtype)
