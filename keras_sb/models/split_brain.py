"""The split-brain pair: an L->ab colour net and an ab->L lightness net on one input."""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_sb.models.base import ConfigurableModel
from keras_sb.models.encoders import build_encoder
from keras_sb.targets import TargetCodec

OUTPUTS = ("color", "lightness")


@keras.saving.register_keras_serializable(package="keras_sb")
class SplitBrain(ConfigurableModel):
    """Two encoders on the halves of a [S, S, 3] channel image (see ``encode_channels``).

    Outputs a dict: ``color`` [T, T, Q] logits over ab classes, predicted from channel 0,
    and ``lightness`` [T, T, l_bins] logits over L bins, predicted from channels 1:3; T is
    the encoders' output side (12 at 96 px) and the side of the targets.
    The target settings are part of the config, so a checkpoint alone says how to build its
    inputs and decode its outputs (``self.codec``).

    Args:
        encoder: architecture of both halves (see ``keras_sb.models.ENCODERS``).
        width: channel multiplier of both halves.
        color_space: ``lab``, ``rgb`` or ``lab_distort``.
        l_bins: L classes; ab_bins: ``grid:N`` or ``gamut``.
        image_size: input side, a multiple of 8 (96 by default).
    """

    def __init__(self, encoder: str = "simple", width: float = 1.0, color_space: str = "lab",
                 l_bins: int = 100, ab_bins: str = "grid:10", image_size: int = 96, **kwargs):
        codec = TargetCodec(color_space, l_bins, ab_bins)
        channels = keras.Input((image_size, image_size, 3), name="channels")
        color_net = build_encoder(encoder, in_channels=1, num_classes=codec.num_ab_classes,
                                  width=width, image_size=image_size, name="color_net")
        lightness_net = build_encoder(encoder, in_channels=2, num_classes=l_bins, width=width,
                                      image_size=image_size, name="lightness_net")
        codec.target_size = color_net.output_shape[1]  # 12 at 96 px
        outputs = {
            "color": color_net(channels[..., :1]),
            "lightness": lightness_net(channels[..., 1:]),
        }
        super().__init__(inputs=channels, outputs=outputs, **kwargs)
        self.codec = codec
        self.encoder = encoder
        self.width = width
        self.image_size = image_size

    def pretext_outputs(self, channels) -> dict:
        """Both halves' predictions {"color", "lightness"} for [N, S, S, 3] channels."""
        return self(channels, training=False)

    def init_args(self) -> dict:
        return {
            "encoder": self.encoder,
            "width": self.width,
            "color_space": self.codec.color_space,
            "l_bins": self.codec.l_bins,
            "ab_bins": self.codec.ab_bins,
            "image_size": self.image_size,
        }


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


def compile_for_pretraining(model: SplitBrain, learning_rate: float) -> SplitBrain:
    """Adam, the sum of both halves' pixel cross-entropies, and per-pixel accuracy."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss={name: PixelCrossEntropy() for name in OUTPUTS},
        metrics={name: [PixelAccuracy()] for name in OUTPUTS},
    )
    return model
