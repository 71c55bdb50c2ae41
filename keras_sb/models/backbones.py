"""Head-less convolutional backbones: [S, S, C] images -> named feature maps by stage.

Each backbone is a Keras functional model whose constructor arguments are its config, in the
manner of keras-hub backbones; pretext tasks and classifiers add their own heads. Layers are
named explicitly so that stage outputs and checkpoints stay stable.
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


class Backbone(ConfigurableModel):
    """Base class of the head-less backbones: [S, S, C] image -> {stage name: feature map}.

    Subclasses define ``stages`` (the graph, as named stage outputs, shallow to deep) and
    ``head_kernel``: the kernel of a per-pixel head on the deepest stage whose output side is
    the target side (S/8; 12 at 96 px). Pretext tasks add such heads, classifiers read stages
    by name (:meth:`stage_model`).

    Args:
        in_channels: channels of the input image (1 for L, 2 for ab).
        width: channel multiplier (1.0 = the original system's widths, 0.5 = the paper's).
        image_size: input side S, a multiple of 8.
        depth: convolutions per stage, for backbones whose ``stages`` take it
            (``has_depth``); 1 for the others.
        input_center, input_scale: per-channel constants the input is shifted by and divided
            by before the first conv (none: the channels as they come, in [0, 1]).
    """

    architecture = ""
    head_kernel = 1
    min_image_size = 8  # the smallest input side whose head output is not empty
    has_depth = False  # whether ``stages`` takes a third argument, the depth

    def __init__(self, in_channels: int, width: float = 1.0, image_size: int = 96,
                 depth: int = 1, input_center: list | None = None,
                 input_scale: list | None = None, **kwargs):
        self.check_image_size(image_size, "image_size")
        self.check_depth(depth)
        inputs = keras.Input((image_size, image_size, in_channels), name="image")
        x = inputs
        if input_center is not None:
            x = layers.Normalization(mean=input_center, variance=[s**2 for s in input_scale],
                                     name="input_scaling")(x)
        stages = self.stages(x, width, depth) if self.has_depth else self.stages(x, width)
        super().__init__(inputs=inputs, outputs=stages, **kwargs)
        self.input_center = input_center
        self.input_scale = input_scale
        self.stage_names = list(stages)
        self.in_channels = in_channels
        self.width = width
        self.image_size = image_size
        self.depth = depth

    @classmethod
    def check_depth(cls, depth: int, name: str = "--depth") -> None:
        """Raise ValueError naming ``name`` unless ``depth`` is 1, or at least 1 for a
        backbone with a depth option."""
        if depth < 1 or (depth != 1 and not cls.has_depth):
            with_depth = ", ".join(k for k, v in BACKBONES.items() if v.has_depth)
            raise ValueError(f"{name} must be 1 for the {cls.architecture} backbone (it has a "
                             f"fixed depth; {name} applies to: {with_depth}), got {depth}")

    @classmethod
    def check_image_size(cls, size: int, name: str = "--image-size") -> None:
        """Raise ValueError naming ``name`` unless ``size`` is a multiple of 8 from
        ``min_image_size`` to MAX_IMAGE_SIZE (which bounds the memory of a batch)."""
        if size % 8 or not cls.min_image_size <= size <= MAX_IMAGE_SIZE:
            raise ValueError(f"{name} must be a multiple of 8 from {cls.min_image_size} to "
                             f"{MAX_IMAGE_SIZE} for the {cls.architecture or 'this'} backbone, "
                             f"got {size}")

    @staticmethod
    def stages(x, width: float) -> dict:
        """[S, S, C] input -> {stage name: output}, in order; the last one is the deepest."""
        raise NotImplementedError

    @property
    def deepest(self) -> str:
        return self.stage_names[-1]

    def stage_model(self, stage: str) -> keras.Model:
        """A model sharing this backbone's layers up to ``stage`` that outputs it alone, or,
        for several stages joined by ``+`` (``conv2+conv3``), a list of them."""
        stages = stage.split("+")
        for name in stages:
            if name not in self.stage_names:
                raise ValueError(f"{name!r} is not a stage of the {self.architecture} backbone; "
                                 f"choose one of: {', '.join(self.stage_names)} (or several "
                                 "joined by +)")
        outputs = [self.output[name] for name in stages]
        return keras.Model(self.input, outputs if len(outputs) > 1 else outputs[0],
                           name=f"{self.name}_{'_'.join(stages)}")

    def init_args(self) -> dict:
        return {"in_channels": self.in_channels, "width": self.width,
                "image_size": self.image_size, "depth": self.depth,
                "input_center": self.input_center, "input_scale": self.input_scale}


BACKBONES: dict[str, type[Backbone]] = {}
MAX_IMAGE_SIZE = 512


def register_backbone(cls: type[Backbone]) -> type[Backbone]:
    """Class decorator: make ``cls`` buildable by its ``architecture`` name (``--encoder``)
    and loadable from .keras files."""
    BACKBONES[cls.architecture] = keras.saving.register_keras_serializable("keras_sb")(cls)
    return cls


@register_backbone
class SimpleBackbone(Backbone):
    """The original system's small net: two stride-2 4x4 convs, two valid 5x5 convs; its
    5x5 valid head is the fifth conv.

    96 -> 48 -> 24 -> 20 -> 16 (-> 12 after the head; S/4 - 12 in general).
    """

    architecture = "simple"
    head_kernel = 5
    min_image_size = 56  # its 5x5 valid head needs a side S/4 - 12 >= 1

    @staticmethod
    def stages(x, width: float) -> dict:
        out = {}
        out["conv1"] = x = conv_bn_relu(x, scaled(12, width), 4, "conv1", strides=2)
        out["conv2"] = x = conv_bn_relu(x, scaled(24, width), 4, "conv2", strides=2)
        out["conv3"] = x = conv_bn_relu(x, scaled(48, width), 5, "conv3", padding="valid")
        out["conv4"] = conv_bn_relu(x, scaled(96, width), 5, "conv4", padding="valid")
        return out


@register_backbone
class AlexBackbone(Backbone):
    """AlexNet as in the original system: full width (no groups), BN throughout, no pool5.

    96 -(conv1/2)-> 48 -(pool1)-> 24 -(pool2)-> 12; conv3-5 and fc6 (a 7x7 conv dilated by 2),
    fc7 (1x1) at 12. 71,918,304 parameters with in_channels=1 at width 1 (72,328,004 with a
    100-class 1x1 head).
    """

    architecture = "alex"

    @staticmethod
    def stages(x, width: float) -> dict:
        out = {}
        out["conv1"] = x = conv_bn_relu(x, scaled(96, width), 11, "conv1", strides=2)
        x = max_pool(x, "pool1")
        out["conv2"] = x = conv_bn_relu(x, scaled(256, width), 5, "conv2")
        x = max_pool(x, "pool2")
        for name, filters in (("conv3", 384), ("conv4", 384), ("conv5", 256)):
            out[name] = x = conv_bn_relu(x, scaled(filters, width), 3, name)
        out["fc6"] = x = conv_bn_relu(x, scaled(4096, width), 7, "fc6", dilation=2)
        out["fc7"] = conv_bn_relu(x, scaled(4096, width), 1, "fc7")
        return out


@register_backbone
class CompactBackbone(Backbone):
    """A plain conv net made for 96-pixel photos: stride 8 with 'same' padding and 4x4
    stride-2 convs, so each cell of the 12x12 output is centred on the 8x8 pixels of the
    target cell it predicts (the valid convs of ``simple`` centre its output on the middle 48
    pixels of the image), then dilated 3x3 convs at 12x12 that widen the receptive field to
    the whole image (118 px at depth 1).

    96 -(conv1 /2)-> 48 -(conv2 /2)-> 24 -(conv3 /2)-> 12 -(conv4, dilation 2; conv5,
    dilation 4)-> 12, at 32/64/128/256/256 channels x width; each stage from conv2 on has
    ``depth`` convs. 1,052,032 parameters with in_channels=1 at width 1 and depth 1.
    """

    architecture = "compact"
    has_depth = True

    @staticmethod
    def stages(x, width: float, depth: int = 1) -> dict:
        out = {"conv1": conv_bn_relu(x, scaled(32, width), 4, "conv1", strides=2)}
        x = out["conv1"]
        plan = (("conv2", 64, 2, 1), ("conv3", 128, 2, 1), ("conv4", 256, 1, 2),
                ("conv5", 256, 1, 4))
        for name, filters, stride, dilation in plan:
            for i in range(depth):
                x = conv_bn_relu(x, scaled(filters, width), 4 if i == 0 and stride == 2 else 3,
                                 f"{name}_{i + 1}" if i else name,
                                 strides=stride if i == 0 else 1, dilation=dilation)
            out[name] = x
        return out


def basic_block(x, filters: int, name: str):
    """ResNet BasicBlock at stride 1; a conv1x1+BN projection shortcut if channels change."""
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = conv_bn(x, filters, 1, f"{name}_proj")
    x = conv_bn_relu(x, filters, 3, f"{name}_a")
    x = conv_bn(x, filters, 3, f"{name}_b")
    x = layers.Add(name=f"{name}_add")([x, shortcut])
    return layers.ReLU(name=f"{name}_relu")(x)


@register_backbone
class ResNetBackbone(Backbone):
    """ResNet-18 (BasicBlocks 2-2-2-2 at 64/128/256/512), every stage at stride 1.

    96 -(stem 7x7/2)-> 48 -(pool)-> 24 -(stages)-> 24 -(2x2 avg pool)-> 12.
    11,179,840 parameters with in_channels=1 at width 1 (11,231,140 with a 100-class head).
    """

    architecture = "resnet"

    @staticmethod
    def stages(x, width: float) -> dict:
        x = conv_bn_relu(x, scaled(64, width), 7, "stem", strides=2)
        out = {"stem": x}
        x = max_pool(x, "stem_pool")
        for stage, filters in enumerate((64, 128, 256, 512), start=1):
            for block in (1, 2):
                x = basic_block(x, scaled(filters, width), f"stage{stage}_block{block}")
            out[f"stage{stage}"] = x
        out["pool"] = layers.AveragePooling2D(2, name="avg_pool")(x)
        return out


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


@register_backbone
class GoogLeNetBackbone(Backbone):
    """CIFAR-style Inception v1 (pytorch-cifar), but with a stride-2 stem to fit 96 px.

    96 -(stem 3x3/2, 192)-> 48 (a3, b3) -(pool)-> 24 (a4-e4) -(pool)-> 12 (a5, b5); stages
    ``stem``, ``inception3``, ``inception4``, ``inception5`` (the last module of each size).
    6,160,448 parameters with in_channels=1 at width 1 (6,262,948 with a 100-class head).
    """

    architecture = "googl"

    @staticmethod
    def stages(x, width: float) -> dict:
        x = conv_bn_relu(x, scaled(192, width), 3, "stem", strides=2)
        out, pools = {"stem": x}, 0
        for module in GOOGLENET_MODULES:
            if module is None:
                out[f"inception{pools + 3}"] = x
                pools += 1
                x = max_pool(x, f"pool{pools}")
            else:
                x = inception(x, width, *module)
        out[f"inception{pools + 3}"] = x
        return out


def build_backbone(architecture: str, **kwargs) -> Backbone:
    """Backbone by name: one of ``BACKBONES``."""
    if architecture not in BACKBONES:
        raise ValueError(f"Unknown encoder {architecture!r}; choose one of {sorted(BACKBONES)}.")
    return BACKBONES[architecture](**kwargs)
