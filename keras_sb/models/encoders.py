"""Fully convolutional encoders mapping [96, 96, C] images to [12, 12, K] per-pixel logits.

Each encoder is a Keras functional model whose constructor arguments are its config, in the
manner of keras-hub backbones. Layers are named explicitly so that checkpoints reload by name.
"""

from __future__ import annotations

import keras
from keras import layers

from keras_sb.models.base import ConfigurableModel
from keras_sb.models.batch_norm import BatchNormalization


def scaled(channels: int, width: float) -> int:
    """Channel count ``channels`` scaled by the width multiplier (at least 1)."""
    return max(1, round(channels * width))


def conv_bn(x, filters: int, kernel: int, name: str, strides: int = 1, padding: str = "same",
            dilation: int = 1):
    """Conv (no bias) -> fused BatchNorm (synchronised across replicas; momentum 0.9 as
    PyTorch's default 0.1, so the inference statistics keep up with fast-changing weights)."""
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False,
                      dilation_rate=dilation, name=f"{name}_conv")(x)
    return BatchNormalization(momentum=0.9, synchronized=True, name=f"{name}_bn")(x)


def conv_bn_relu(x, filters: int, kernel: int, name: str, strides: int = 1, padding: str = "same",
                 dilation: int = 1):
    """Conv (no bias) -> BatchNorm (synchronised across replicas) -> ReLU."""
    x = conv_bn(x, filters, kernel, name, strides=strides, padding=padding, dilation=dilation)
    return layers.ReLU(name=f"{name}_relu")(x)


def max_pool(x, name: str, pool: int = 3, strides: int = 2):
    """Max pooling with 'same' padding (halves the side at stride 2)."""
    return layers.MaxPooling2D(pool, strides=strides, padding="same", name=name)(x)


class Encoder(ConfigurableModel):
    """Base class: builds ``trunk`` then a logits layer; subclasses define ``trunk``.

    Args:
        in_channels: channels of the input image (1 for L, 2 for ab).
        num_classes: classes per output pixel (K).
        width: channel multiplier (1.0 = the seed system's widths, 0.5 = the paper's halves).
        image_size: input side S, a multiple of 8; the output side is S / 8 (simple: S/4 - 12).
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

    def init_args(self) -> dict:
        return {
            "in_channels": self.in_channels,
            "num_classes": self.num_classes,
            "width": self.width,
            "image_size": self.image_size,
        }


@keras.saving.register_keras_serializable(package="keras_sb")
class SimpleEncoder(Encoder):
    """The seed system's small net: two stride-2 4x4 convs, three valid 5x5 convs.

    96 -> 48 -> 24 -> 20 -> 16 -> 12 (S/4 - 12 in general); 0.39M parameters with K=100.
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


@keras.saving.register_keras_serializable(package="keras_sb")
class AlexEncoder(Encoder):
    """AlexNet as in the seed system: full width (no groups), BN throughout, no pool5.

    96 -(conv1/2)-> 48 -(pool1)-> 24 -(pool2)-> 12; conv3-5 and fc6 (a 7x7 conv dilated by 2),
    fc7 (1x1) at 12. 72,328,004 parameters with in_channels=1, K=100 at width 1.
    """

    architecture = "alex"

    @staticmethod
    def trunk(x, width: float):
        x = conv_bn_relu(x, scaled(96, width), 11, "conv1", strides=2)
        x = max_pool(x, "pool1")
        x = conv_bn_relu(x, scaled(256, width), 5, "conv2")
        x = max_pool(x, "pool2")
        x = conv_bn_relu(x, scaled(384, width), 3, "conv3")
        x = conv_bn_relu(x, scaled(384, width), 3, "conv4")
        x = conv_bn_relu(x, scaled(256, width), 3, "conv5")
        x = conv_bn_relu(x, scaled(4096, width), 7, "fc6", dilation=2)
        return conv_bn_relu(x, scaled(4096, width), 1, "fc7")


def basic_block(x, filters: int, name: str):
    """ResNet BasicBlock at stride 1; a conv1x1+BN projection shortcut if channels change."""
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = conv_bn(x, filters, 1, f"{name}_proj")
    x = conv_bn_relu(x, filters, 3, f"{name}_a")
    x = conv_bn(x, filters, 3, f"{name}_b")
    x = layers.Add(name=f"{name}_add")([x, shortcut])
    return layers.ReLU(name=f"{name}_relu")(x)


@keras.saving.register_keras_serializable(package="keras_sb")
class ResNetEncoder(Encoder):
    """ResNet-18 (BasicBlocks 2-2-2-2 at 64/128/256/512), every stage at stride 1.

    96 -(stem 7x7/2)-> 48 -(pool)-> 24 -(stages)-> 24 -(2x2 avg pool)-> 12.
    11,231,140 parameters with in_channels=1, K=100 at width 1.
    """

    architecture = "resnet"

    @staticmethod
    def trunk(x, width: float):
        x = conv_bn_relu(x, scaled(64, width), 7, "stem", strides=2)
        x = max_pool(x, "stem_pool")
        for stage, filters in enumerate((64, 128, 256, 512), start=1):
            for block in (1, 2):
                x = basic_block(x, scaled(filters, width), f"stage{stage}_block{block}")
        return layers.AveragePooling2D(2, name="avg_pool")(x)


def inception(x, width: float, name: str, n1: int, n3red: int, n3: int, n5red: int, n5: int,
              pool_proj: int):
    """Inception v1 module (pytorch-cifar): 1x1 | 1x1-3x3 | 1x1-3x3-3x3 | pool-1x1, concatenated."""
    pooled = max_pool(x, f"{name}_b4_pool", strides=1)
    branches = [
        (x, [(n1, 1)]),
        (x, [(n3red, 1), (n3, 3)]),
        (x, [(n5red, 1), (n5, 3), (n5, 3)]),
        (pooled, [(pool_proj, 1)]),
    ]
    outputs = []
    for b, (y, convs) in enumerate(branches, start=1):
        for c, (filters, kernel) in enumerate(convs, start=1):
            y = conv_bn_relu(y, scaled(filters, width), kernel, f"{name}_b{b}_{c}")
        outputs.append(y)
    return layers.Concatenate(name=f"{name}_concat")(outputs)


# pytorch-cifar GoogLeNet modules: (name, 1x1, 3x3 reduce, 3x3, 5x5 reduce, "5x5", pool proj);
# None marks a 3x3/2 max pool.
GOOGLENET_MODULES = (
    ("a3", 64, 96, 128, 16, 32, 32),
    ("b3", 128, 128, 192, 32, 96, 64),
    None,
    ("a4", 192, 96, 208, 16, 48, 64),
    ("b4", 160, 112, 224, 24, 64, 64),
    ("c4", 128, 128, 256, 24, 64, 64),
    ("d4", 112, 144, 288, 32, 64, 64),
    ("e4", 256, 160, 320, 32, 128, 128),
    None,
    ("a5", 256, 160, 320, 32, 128, 128),
    ("b5", 384, 192, 384, 48, 128, 128),
)


@keras.saving.register_keras_serializable(package="keras_sb")
class GoogLeNetEncoder(Encoder):
    """CIFAR-style Inception v1 (pytorch-cifar), but with a stride-2 stem to fit 96 px.

    96 -(stem 3x3/2, 192)-> 48 (a3, b3) -(pool)-> 24 (a4-e4) -(pool)-> 12 (a5, b5).
    6,262,948 parameters with in_channels=1, K=100 at width 1.
    """

    architecture = "googl"

    @staticmethod
    def trunk(x, width: float):
        x = conv_bn_relu(x, scaled(192, width), 3, "stem", strides=2)
        pools = 0
        for module in GOOGLENET_MODULES:
            if module is None:
                pools += 1
                x = max_pool(x, f"pool{pools}")
            else:
                x = inception(x, width, *module)
        return x


ENCODERS: dict[str, type[Encoder]] = {
    cls.architecture: cls for cls in (SimpleEncoder, AlexEncoder, ResNetEncoder, GoogLeNetEncoder)
}


def build_encoder(architecture: str, **kwargs) -> Encoder:
    """Encoder by name: one of ``ENCODERS``."""
    if architecture not in ENCODERS:
        raise ValueError(f"Unknown encoder {architecture!r}; choose one of {sorted(ENCODERS)}.")
    return ENCODERS[architecture](**kwargs)
