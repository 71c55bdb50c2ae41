"""The pretext model: the backbones of an objective, their per-pixel heads, targets and loss."""

from __future__ import annotations

import keras
from keras import layers

from keras_sb.color import channel_scaling
from keras_sb.models.backbones import Backbone, build_backbone
from keras_sb.models.base import ConfigurableModel
from keras_sb.models.objectives import CHANNELS, Direction, PretextTask
from keras_sb.targets import TargetCodec

LOGITS = "logits"  # the feature name of the heads' outputs (the original system's protocol)


@keras.saving.register_keras_serializable(package="keras_sb")
class SplitBrain(ConfigurableModel):
    """[S, S, 3] channel image (see ``encode_channels``) -> {direction name: T x T output}.

    For each direction of ``objective`` (see ``keras_sb.models.objectives``): a backbone
    ``NAME_net`` on the direction's source channels and a head ``NAME_head`` on its deepest
    stage, predicting the target channels on the T x T grid (12 at 96 px): logits over their
    bins, or their values. The default objective, ``split_brain``, is the paper's pair: L->ab
    (``color``) and ab->L (``lightness``), both per-pixel classifiers.
    The target settings are part of the config, so a checkpoint alone says how to build its
    inputs and decode its outputs (``self.codec``).

    Args:
        encoder: architecture of every backbone (see ``keras_sb.models.BACKBONES``).
        width: channel multiplier of the backbones.
        color_space: ``lab``, ``rgb`` or ``lab_distort``.
        l_bins: L classes; ab_bins: ``grid:N`` or ``gamut``.
        image_size: input side, a multiple of 8 (96 by default).
        objective: a name in ``keras_sb.models.OBJECTIVES``.
        depth: convolutions per stage of backbones with a depth option (``compact``).
        center_inputs: shift and scale each network's input channels to about zero mean and
            unit spread (``keras_sb.color.channel_scaling``) before its first conv, so that
            the zero padding at the image's border is not a large step.
    """

    def __init__(self, encoder: str = "simple", width: float = 1.0, color_space: str = "lab",
                 l_bins: int = 100, ab_bins: str = "grid:10", image_size: int = 96,
                 objective: str = "split_brain", depth: int = 1, center_inputs: bool = False,
                 **kwargs):
        task = PretextTask(objective, TargetCodec(color_space, l_bins, ab_bins))
        channels = keras.Input((image_size, image_size, 3), name="channels")
        centre, spread = channel_scaling(color_space)
        outputs = {}
        for direction in task.directions:
            part = CHANNELS[direction.source]
            scaling = ({"input_center": centre[part], "input_scale": spread[part]}
                       if center_inputs else {})
            backbone = build_backbone(encoder, in_channels=direction.in_channels, width=width,
                                      image_size=image_size, depth=depth,
                                      name=f"{direction.name}_net", **scaling)
            features = backbone(channels[..., CHANNELS[direction.source]])[backbone.deepest]
            head = layers.Conv2D(task.head_units(direction), backbone.head_kernel,
                                 dtype="float32", name=f"{direction.name}_head")
            outputs[direction.name] = head(features)  # float32 even under mixed precision
        super().__init__(inputs=channels, outputs=outputs, **kwargs)
        task.codec.target_size = next(iter(outputs.values())).shape[1]  # 12 at 96 px
        self.task = task
        self.codec = task.codec
        self.encoder = encoder
        self.width = width
        self.image_size = image_size
        self.objective = objective
        self.depth = depth
        self.center_inputs = center_inputs

    def backbone(self, direction: Direction) -> Backbone:
        return self.get_layer(f"{direction.name}_net")

    def compile_for_pretraining(self, learning_rate: float, soft_targets: float = 0.0
                                ) -> SplitBrain:
        """Adam at ``learning_rate`` with the task's losses (``soft_targets``: see
        ``PretextTask.compile_args``) and metrics."""
        self.compile(optimizer=keras.optimizers.Adam(learning_rate),
                     **self.task.compile_args(soft_targets))
        return self

    def pretext_outputs(self, channels) -> dict:
        """Every direction's T x T output for [N, S, S, 3] channels (inference mode)."""
        return self(channels, training=False)

    def feature_models(self, feature: str) -> dict[str, tuple[slice, keras.Model]]:
        """{direction name: (its input channels, a model of them -> its ``feature``)}:
        ``feature`` is a stage of the backbones (e.g. ``conv3``) or ``logits``, the heads'
        outputs. The models share this model's layers."""
        models = {}
        for d in self.task.directions:
            backbone = self.backbone(d)
            if feature == LOGITS:
                head = self.get_layer(f"{d.name}_head")
                model = keras.Model(backbone.input, head(backbone.output[backbone.deepest]),
                                    name=f"{d.name}_{LOGITS}")
            else:
                model = backbone.stage_model(feature)
            models[d.name] = (CHANNELS[d.source], model)
        return models

    def init_args(self) -> dict:
        return {
            "encoder": self.encoder,
            "width": self.width,
            "color_space": self.codec.color_space,
            "l_bins": self.codec.l_bins,
            "ab_bins": self.codec.ab_bins,
            "image_size": self.image_size,
            "objective": self.objective,
            "depth": self.depth,
            "center_inputs": self.center_inputs,
        }
