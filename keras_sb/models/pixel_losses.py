"""Per-pixel classification loss and accuracy for [B, H, W, K] logits and [B, H, W] labels."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_sb.targets import gaussian_kernel


def label_logits(y_true, y_pred):
    """The logit of each pixel's label: [B, H, W] from [B, H, W] labels, [B, H, W, K] logits."""
    labels = tf.cast(y_true, tf.int32)[..., None]
    return tf.gather(y_pred, labels, batch_dims=len(y_pred.shape) - 1)[..., 0]


def soft_label_table(centers, sigma: float) -> np.ndarray:
    """[K, K] rows: the target distribution of each class, a Gaussian of ``sigma`` over the
    distance between class ``centers`` ([K, D]), normalised to sum to 1."""
    table = gaussian_kernel(centers, sigma)
    return (table / table.sum(-1, keepdims=True)).astype(np.float32)


@keras.saving.register_keras_serializable(package="keras_sb")
class PixelCrossEntropy(keras.losses.Loss):
    """Cross-entropy of [B, H, W, K] logits against [B, H, W] int labels, averaged over all
    B*H*W pixels (any batch size, including a partial last batch).

    Computed as logsumexp(logits) - logits[label]: the same value and gradient as
    ``SparseCategoricalCrossentropy(from_logits=True)``, about twice as fast on CPUs
    (``python benchmarks/ops.py``). With ``sigma`` > 0 the target of a label is not one-hot
    but spread over the classes near it (soft encoding, Zhang et al. 2016): a Gaussian of
    ``sigma`` over the distance between the class ``centers`` ([K, D]).
    """

    def __init__(self, centers=None, sigma: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.centers = None if centers is None else np.asarray(centers, np.float32).tolist()
        self.sigma = float(sigma)
        self.table = (tf.constant(soft_label_table(self.centers, self.sigma))
                      if self.sigma > 0 else None)

    def call(self, y_true, y_pred):
        if self.table is None:
            return tf.reduce_logsumexp(y_pred, axis=-1) - label_logits(y_true, y_pred)
        targets = tf.gather(tf.cast(self.table, y_pred.dtype), tf.cast(y_true, tf.int32))
        return tf.reduce_logsumexp(y_pred, axis=-1) - tf.reduce_sum(targets * y_pred, axis=-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "centers": self.centers, "sigma": self.sigma}


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
