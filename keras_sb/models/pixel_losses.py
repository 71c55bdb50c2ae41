"""Per-pixel classification loss and accuracy for [B, H, W, K] logits and [B, H, W] labels."""

from __future__ import annotations

import keras
import tensorflow as tf


def label_logits(y_true, y_pred):
    """The logit of each pixel's label: [B, H, W] from [B, H, W] labels, [B, H, W, K] logits."""
    labels = tf.cast(y_true, tf.int32)[..., None]
    return tf.gather(y_pred, labels, batch_dims=len(y_pred.shape) - 1)[..., 0]


@keras.saving.register_keras_serializable(package="keras_sb")
class PixelCrossEntropy(keras.losses.Loss):
    """Cross-entropy of [B, H, W, K] logits against [B, H, W] int labels, averaged over all
    B*H*W pixels (any batch size, including a partial last batch).

    Computed as logsumexp(logits) - logits[label]: the same value and gradient as
    ``SparseCategoricalCrossentropy(from_logits=True)``, about twice as fast on CPUs
    (``python benchmarks/ops.py``).
    """

    def call(self, y_true, y_pred):
        return tf.reduce_logsumexp(y_pred, axis=-1) - label_logits(y_true, y_pred)


def pixel_hits(y_true, y_pred):
    """1 where the label's logit is the highest of its pixel (a tie counts as a hit), else 0."""
    return tf.cast(label_logits(y_true, y_pred) >= tf.reduce_max(y_pred, axis=-1), y_pred.dtype)


@keras.saving.register_keras_serializable(package="keras_sb")
class PixelAccuracy(keras.metrics.MeanMetricWrapper):
    """Share of pixels whose label has the highest logit: ``SparseCategoricalAccuracy`` up to
    ties, at a third of its cost on CPUs (a max instead of an argmax; ``benchmarks/ops.py``)."""

    def __init__(self, name: str = "acc", dtype=None):
        super().__init__(pixel_hits, name=name, dtype=dtype)

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}
