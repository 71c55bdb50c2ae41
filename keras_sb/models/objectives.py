"""Pretraining objectives: which channels each network sees, what it predicts, and how.

An objective is a tuple of :class:`Direction`: one network (a backbone and a per-pixel head)
each. The paper's ablation rows (Zhang, Isola, Efros, CVPR 2017, Table 2) are registered
below; ``register_objective`` adds another (see docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf

from keras_sb.models.pixel_losses import PixelAccuracy, PixelCrossEntropy
from keras_sb.targets import TargetCodec, decode_distribution

# The two halves of the channel image ``keras_sb.color.encode_channels`` makes.
CHANNELS = {"L": slice(0, 1), "ab": slice(1, 3)}
KINDS = ("classification", "regression")


@dataclass(frozen=True)
class Direction:
    """One network of an objective.

    Args:
        name: its output key, and the prefix of its backbone (``NAME_net``) and head
            (``NAME_head``).
        source: the channels it sees, ``L`` or ``ab``.
        target: the channels it predicts on the 12x12 grid, ``L`` or ``ab``.
        kind: ``classification`` (per-pixel cross-entropy over the quantised bins) or
            ``regression`` (per-pixel squared error on the channel values).
    """

    name: str
    source: str
    target: str
    kind: str = "classification"

    def __post_init__(self):
        if self.source not in CHANNELS or self.target not in CHANNELS:
            raise ValueError(f"source and target must be in {sorted(CHANNELS)}: {self}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}: {self}")

    @property
    def in_channels(self) -> int:
        part = CHANNELS[self.source]
        return part.stop - part.start


    @property
    def out_channels(self) -> int:
        part = CHANNELS[self.target]
        return part.stop - part.start


OBJECTIVES: dict[str, tuple[Direction, ...]] = {}


def register_objective(name: str, *directions: Direction) -> None:
    """Make ``directions`` trainable as ``--objective NAME``."""
    if len({d.name for d in directions}) != len(directions) or not directions:
        raise ValueError(f"objective {name!r} needs one or more directions with distinct names")
    OBJECTIVES[name] = tuple(directions)


def directions_of(name: str) -> tuple[Direction, ...]:
    """The directions of objective ``name``; an unknown name is an error listing them."""
    if name not in OBJECTIVES:
        raise ValueError(f"--objective must be one of {', '.join(OBJECTIVES)}, got {name!r}")
    return OBJECTIVES[name]


class PretextTask:
    """An objective with its targets: what each network is shown, what it must predict, its
    loss and metrics, and how predictions become channel values. Shared by the pretext model,
    the classifiers built on it, the previews, the demo and export.

    Args:
        objective: a name in ``OBJECTIVES``.
        codec: the target grid and bins.
    """

    def __init__(self, objective: str, codec: TargetCodec):
        self.objective = objective
        self.directions = directions_of(objective)
        self.codec = codec

    def predicts(self, part: str) -> bool:
        """Whether some network of the task predicts ``part`` (``L`` or ``ab``)."""
        return any(d.target == part for d in self.directions)

    def head_units(self, direction: Direction) -> int:
        """Outputs per grid pixel: logits over the target's bins, or its channel values."""
        if direction.kind == "classification":
            return self.codec.num_classes(direction.target)
        return direction.out_channels

    def encode(self, rgb: tf.Tensor, compiled: bool = False) -> tuple[tf.Tensor, dict]:
        """RGB images -> (channel images, {direction name: target}) for ``fit``: int classes
        [..., T, T] or channel values [..., T, T, C]. ``compiled``: see ``TargetCodec``."""
        channels, grid = self.codec.encode(rgb, compiled=compiled)
        targets = {d.name: self.codec.quantize(grid, d.target) if d.kind == "classification"
                   else grid[..., CHANNELS[d.target]] for d in self.directions}
        return channels, targets

    def compile_args(self, soft_targets: float = 0.0) -> dict:
        """``loss`` and ``metrics`` for ``Model.compile``: pixel cross-entropy and accuracy
        (classification), squared and absolute error (regression); the loss is their sum.
        ``soft_targets`` > 0: each class's target spreads over the bins within about that
        many Lab units of it (``PixelCrossEntropy``; the ``lab`` colour space)."""
        classify = {d.name: d.kind == "classification" for d in self.directions}
        return {
            "loss": {d.name: (PixelCrossEntropy(self.codec.lab_centers(d.target), soft_targets)
                              if soft_targets else PixelCrossEntropy())
                     if classify[d.name] else keras.losses.MeanSquaredError()
                     for d in self.directions},
            "metrics": {name: [PixelAccuracy() if cls else
                               keras.metrics.MeanAbsoluteError(name="mae")]
                        for name, cls in classify.items()},
        }

    def predicted_channels(self, outputs: dict, temperature: float = 0.38) -> dict:
        """Outputs -> {"L" and/or "ab": [N, T, T, C] channel values}: the annealed mean of
        the predicted distribution at ``temperature`` (Zhang et al. 2016), or the predicted
        values of a regression (clipped to [0, 1])."""
        return {d.target: decode_distribution(outputs[d.name], self.codec.centers(d.target),
                                              "annealed", temperature)
                if d.kind == "classification" else tf.clip_by_value(outputs[d.name], 0.0, 1.0)
                for d in self.directions}

    def target_channels(self, targets: dict) -> dict:
        """Targets (from :meth:`encode`) -> {"L" and/or "ab": [N, T, T, C] channel values}."""
        return {d.target: tf.gather(self.codec.centers(d.target), targets[d.name])
                if d.kind == "classification" else targets[d.name] for d in self.directions}


COLOR = Direction("color", "L", "ab")
LIGHTNESS = Direction("lightness", "ab", "L")
register_objective("split_brain", COLOR, LIGHTNESS)  # the paper's (cl, cl)
register_objective("split_brain_regression", Direction("color", "L", "ab", "regression"),
                   Direction("lightness", "ab", "L", "regression"))  # (reg, reg)
register_objective("colorization", COLOR)  # L->ab only
register_objective("lightness", LIGHTNESS)  # ab->L only
