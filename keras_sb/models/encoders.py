"""Fully convolutional encoders mapping [S, S, C] images to [S/8, S/8, K] per-pixel logits.

Each encoder is a Keras functional model whose constructor arguments are its config, in the
manner of keras-hub backbones. Layers are named explicitly so that checkpoints reload by name.
"""

from __future__ import annotations

import keras
from keras import layers


def scaled(channels: int, width: float) -> int:
    """Channel count ``channels`` scaled by the width multiplier (at least 1)."""
    return max(1, round(channels * width))


def conv_bn_relu(x, filters: int, kernel: int, name: str, strides: int = 1, padding="same",
                 dilation: int = 1):
    """Conv (no bias) -> BatchNorm (synchronised across replicas) -> ReLU."""
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False,
                      dilation_rate=dilation, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(synchronized=True, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


class Encoder(keras.Model):
    """Base class: builds ``trunk`` then a logits layer; subclasses define ``trunk``.

    Args:
        in_channels: channels of the input image (1 for L, 2 for ab).
        num_classes: classes per output pixel (K).
        width: channel multiplier (1.0 = the seed system's widths, 0.5 = the paper's halves).
        image_size: input side S, a multiple of 8; the output side is S / 8.
    """

    architecture = ""

    def __init__(self, in_channels: int, num_classes: int, width: float = 1.0,
                 image_size: int = 96, **kwargs):
        if image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8, got {image_size}")
        inputs = keras.Input((image_size, image_size, in_channels), name="image")
        features = self.trunk(inputs, width)
        logits = self.head(features, num_classes)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.width = width
        self.image_size = image_size

    @staticmethod
    def trunk(x, width: float):
        """[S, S, C] -> [S/8, S/8, F] features."""
        raise NotImplementedError

    @staticmethod
    def head(features, num_classes: int):
        """Features -> float32 per-pixel logits (float32 even under mixed precision)."""
        return layers.Conv2D(num_classes, 1, dtype="float32", name="logits")(features)

    def get_config(self) -> dict:
        return {
            "in_channels": self.in_channels,
            "num_classes": self.num_classes,
            "width": self.width,
            "image_size": self.image_size,
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_sb")
class SimpleEncoder(Encoder):
    """The seed system's small net: two stride-2 4x4 convs, three valid 5x5 convs.

    96 -> 48 -> 24 -> 20 -> 16 -> 12; about 0.39M parameters with K=100 at width 1.
    """

    architecture = "simple"

    @staticmethod
    def trunk(x, width: float):
        x = conv_bn_relu(x, scaled(12, width), 4, "conv1", strides=2)
        x = conv_bn_relu(x, scaled(24, width), 4, "conv2", strides=2)
        x = conv_bn_relu(x, scaled(48, width), 5, "conv3", padding="valid")
        return conv_bn_relu(x, scaled(96, width), 5, "conv4", padding="valid")

    @staticmethod
    def head(features, num_classes: int):
        return layers.Conv2D(num_classes, 5, dtype="float32", name="logits")(features)


ENCODERS: dict[str, type[Encoder]] = {"simple": SimpleEncoder}


def build_encoder(architecture: str, **kwargs) -> Encoder:
    """Encoder by name: one of ``ENCODERS``."""
    if architecture not in ENCODERS:
        raise ValueError(f"Unknown encoder {architecture!r}; choose one of {sorted(ENCODERS)}.")
    return ENCODERS[architecture](**kwargs)
