"""Image classifiers on the features of a (pretrained or random) pretext model's backbones."""

from __future__ import annotations

import math

import keras
from keras import layers

from keras_sb.color import encode_channels
from keras_sb.constants import DEFAULT_FEATURE_DIMS, DEFAULT_FEATURE_LAYER, HEADS
from keras_sb.models.base import ConfigurableModel
from keras_sb.models.objectives import CHANNELS
from keras_sb.models.split_brain import LOGITS, SplitBrain


@keras.saving.register_keras_serializable(package="keras_sb")
class ColorChannels(layers.Layer):
    """RGB in [0, 1] -> the split-brain input channels of ``color_space``, in the graph."""

    def __init__(self, color_space: str = "lab", **kwargs):
        super().__init__(**kwargs)
        self.color_space = color_space

    def call(self, rgb):
        return encode_channels(rgb, self.color_space)

    def get_config(self) -> dict:
        return {**super().get_config(), "color_space": self.color_space}


def _pool_to(features, max_dims: int, name: str):
    """Average-pool [H, W, C] features so that H' * W' * C <= max_dims (H' = W')."""
    side, channels = features.shape[1], features.shape[-1]
    target = max(1, math.isqrt(max(1, max_dims // channels)))
    if target < side:
        pool = math.ceil(side / target)
        features = layers.AveragePooling2D(pool, strides=pool, padding="same", name=name)(features)
    return features


@keras.saving.register_keras_serializable(package="keras_sb")
class SplitBrainClassifier(ConfigurableModel):
    """RGB [S, S, 3] in [0, 1] -> class logits, from the features of a pretext model's
    backbones (two for ``split_brain``, one for ``colorization``).

    Features are each backbone's ``feature_layer`` (a stage such as ``conv3``, several joined
    by ``+`` such as ``conv2+conv3+conv4``, or ``logits``: the heads' 12x12 outputs, the
    original system's protocol), each average-pooled to an equal share of at most
    ``feature_dims`` values in all, flattened and concatenated, then
    normalised by a BatchNorm without scale or shift (as in MAE's linear probe) and fed to the
    head: ``shallow`` (one linear layer) or ``mlp`` (linear 1000, BatchNorm, ReLU, linear).

    Args:
        pretext_model: a ``SplitBrain`` (or its serialised config; older saved configs name
            it ``backbone``).
        num_classes: classes to predict; class_names: their names (kept in the config).
        head: ``shallow`` or ``mlp``.
        feature_layer: backbone stage or ``logits``.
        feature_dims: cap on the concatenated feature size.
        freeze_backbone: keep the backbones fixed (BatchNorm in inference mode).
        temperature: the calibration temperature T > 0 (Guo et al., ICML 2017). The model's
            outputs stay raw logits; calibrated probabilities are softmax(logits / T), from
            :meth:`probabilities`. Training leaves T = 1; the training stage then sets it,
            fitted on the validation split (``keras_sb.calibration.fit_temperature``).
    """

    def __init__(self, pretext_model: SplitBrain | dict, num_classes: int, class_names=None,
                 head: str = "shallow", feature_layer: str = DEFAULT_FEATURE_LAYER,
                 feature_dims: int = DEFAULT_FEATURE_DIMS, freeze_backbone: bool = False,
                 temperature: float = 1.0, **kwargs):
        if isinstance(pretext_model, dict):
            pretext_model = keras.saving.deserialize_keras_object(pretext_model)
        if head not in HEADS:
            raise ValueError(f"--head must be one of {HEADS}, got {head!r}")
        size = pretext_model.image_size
        image = keras.Input((size, size, 3), name="image")
        channels = ColorChannels(pretext_model.codec.color_space, name="color_channels",
                                 dtype="float32")(image)  # colour maths in float32
        extractors = pretext_model.feature_models(feature_layer)
        stages = feature_layer.split("+")
        features = []
        for name, (part, extractor) in extractors.items():
            outputs = extractor(channels[..., part], training=False if freeze_backbone else None)
            for stage, x in zip(stages, outputs if len(stages) > 1 else [outputs], strict=True):
                prefix = name if len(stages) == 1 else f"{name}_{stage}"
                x = _pool_to(x, feature_dims // (len(extractors) * len(stages)), f"{prefix}_pool")
                features.append(layers.Flatten(name=f"{prefix}_flatten")(x))
        x = layers.Concatenate(name="features")(features) if len(features) > 1 else features[0]
        # momentum 0.9: with few labels an epoch is a handful of steps, and the default 0.99
        # leaves the inference statistics far from the features (measured: val loss 61).
        x = layers.BatchNormalization(momentum=0.9, center=False, scale=False,
                                      name="feature_norm")(x)
        if head == "mlp":
            x = layers.Dense(1000, name="mlp_dense")(x)
            x = layers.BatchNormalization(momentum=0.9, name="mlp_bn")(x)
            x = layers.ReLU(name="mlp_relu")(x)
        logits = layers.Dense(num_classes, dtype="float32", name="class_logits")(x)
        super().__init__(inputs=image, outputs=logits, **kwargs)
        for _, extractor in extractors.values():  # after Model.__init__, which resets them
            extractor.trainable = not freeze_backbone
        # Only the layers up to feature_layer belong to this model; the config keeps the rest.
        self.pretext_model_config = keras.saving.serialize_keras_object(pretext_model)
        self.task = pretext_model.task
        self.codec = pretext_model.codec
        self.num_classes = num_classes
        self.class_names = list(class_names or [str(i) for i in range(num_classes)])
        self.head = head
        self.feature_layer = feature_layer
        self.feature_dims = feature_dims
        self.freeze_backbone = freeze_backbone
        self.temperature = temperature

    @property
    def temperature(self) -> float:
        """The calibration temperature T of :meth:`probabilities` (a Python float > 0)."""
        return self._temperature

    @temperature.setter
    def temperature(self, value: float) -> None:
        value = float(value)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"temperature must be a finite number > 0, got {value}")
        self._temperature = value

    def probabilities(self, logits):
        """Calibrated class probabilities softmax(``logits`` / temperature) of [..., C] logits."""
        return keras.ops.softmax(logits / self.temperature)

    @property
    def has_pretext_heads(self) -> bool:
        """True when the classifier holds the whole pretext model (``logits`` features)."""
        return self.feature_layer == LOGITS

    def pretext_outputs(self, channels) -> dict:
        """The pretext model's outputs for [N, S, S, 3] channels (``logits`` features only:
        other classifiers keep the backbones only up to their feature stage)."""
        if not self.has_pretext_heads:
            raise ValueError(f"this classifier keeps the backbones only up to "
                             f"{self.feature_layer!r}, so it cannot predict colours; use a "
                             f"finetune (logits) model or a pretraining checkpoint")
        return {d.name: self.get_layer(f"{d.name}_{LOGITS}")(channels[..., CHANNELS[d.source]],
                                                              training=False)
                for d in self.task.directions}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        # "backbone": files of keras-sb 0.2, read until 0.5, removed after (docs/run_folders.md)
        if "backbone" in config:
            config["pretext_model"] = config.pop("backbone")
        return super().from_config(config)

    def init_args(self) -> dict:
        return {
            "pretext_model": self.pretext_model_config,
            "num_classes": self.num_classes,
            "class_names": self.class_names,
            "head": self.head,
            "feature_layer": self.feature_layer,
            "feature_dims": self.feature_dims,
            "freeze_backbone": self.freeze_backbone,
            "temperature": self.temperature,
        }


def split_at_features(model: SplitBrainClassifier) -> tuple[keras.Model, keras.Model]:
    """(extractor, head) sharing ``model``'s layers: images -> pooled features (the input of
    ``feature_norm``), and features -> logits."""
    features = model.get_layer("feature_norm").input
    x = inputs = keras.Input(features.shape[1:], name="features")
    for layer in model.layers[model.layers.index(model.get_layer("feature_norm")):]:
        x = layer(x)
    return keras.Model(model.input, features), keras.Model(inputs, x)
