"""Checkpoints of keras-sb 0.1, whose encoders held their pretext head, converted to today's
models (head-less backbones, ``NAME_head`` layers): ``load_checkpoint`` does it on the fly.

``python -m keras_sb.models.legacy OLD.keras NEW.keras`` writes the converted file.
Deprecated: 0.1 checkpoints are read until keras-sb 0.5 and not after (docs/run_folders.md).

A 0.1 ``.keras`` file stores each layer's weights under a path made of class names numbered
in layer order (``layers/simple_encoder/layers/conv2d_3/vars/0``). Every 0.1 encoder is a chain
of conv+BatchNorm pairs followed by its 1x1 (or 5x5) head, and today's backbones build the
same pairs in the same order, so the k-th conv and BatchNorm of an old network are the k-th
of the new backbone and a conv left over is the head.
"""

from __future__ import annotations

import io
import json
import re
import sys
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np

from keras_sb.models.classifier import SplitBrainClassifier
from keras_sb.models.objectives import COLOR, LIGHTNESS
from keras_sb.models.split_brain import LOGITS, SplitBrain

OLD_HALVES = (COLOR, LIGHTNESS)  # 0.1 had only the split-brain pair, colour net first


def is_legacy(config: dict) -> bool:
    """True for the ``config.json`` of a 0.1 SplitBrain or SplitBrainClassifier file."""
    inner = config.get("config", {})
    if config.get("class_name") == "SplitBrainClassifier":
        inner = (inner.get("pretext_model") or inner.get("backbone", {})).get("config", {})
    elif config.get("class_name") != "SplitBrain":
        return False
    return "objective" not in inner


def convert(path: str | Path) -> SplitBrain | SplitBrainClassifier:
    """The model in the 0.1 ``.keras`` file ``path``, with its weights, in today's classes."""
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
        weights = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
    with weights:
        if config["class_name"] == "SplitBrain":
            pair = _pair(config["config"])
            _copy_halves(pair, weights["layers"])
            return pair
        args = config["config"]
        pair = _pair(args["backbone"]["config"])
        feature = _new_stage(pair, args["feature_layer"])
        _copy_halves(pair, weights["layers"])
        classifier = SplitBrainClassifier(pair, args["num_classes"], args["class_names"],
                                          args["head"], feature, args["feature_dims"],
                                          args["freeze_backbone"], name=args.get("name"))
        top = weights["layers"]
        dense = ["class_logits"] if args["head"] == "shallow" else ["mlp_dense", "class_logits"]
        pairs = [("feature_norm", "batch_normalization")]
        pairs += list(zip(dense, _numbered(top, "dense"), strict=True))
        if args["head"] == "mlp":
            pairs.append(("mlp_bn", "batch_normalization_1"))
        for new, old in pairs:
            classifier.get_layer(new).set_weights(_vars(top[old]))
        return classifier


def _pair(args: dict) -> SplitBrain:
    settings = {k: v for k, v in args.items() if k not in ("name", "trainable", "dtype")}
    return SplitBrain(**settings, objective="split_brain")


def _new_stage(pair: SplitBrain, old_feature: str = LOGITS) -> str:
    """The stage name of a 0.1 ``feature_layer`` (``conv3_relu`` -> ``conv3``)."""
    stages = pair.backbone(COLOR).stage_names
    stage = old_feature.removesuffix("_relu")
    if old_feature != LOGITS and stage not in stages:
        raise ValueError(f"the 0.1 feature layer {old_feature!r} is not a stage of today's "
                         f"backbones ({', '.join(stages)}): retrain this classifier")
    return old_feature if old_feature == LOGITS else stage


def _copy_halves(pair: SplitBrain, top: h5py.Group) -> None:
    """Copy each old half (the nested model groups, in order) into the pair's backbones and,
    when the old half held it, the head."""
    halves = sorted((name for name in top if "layers" in top[name]), key=_number)
    for direction, old_name in zip(OLD_HALVES, halves, strict=True):
        old = top[old_name]["layers"]
        backbone = pair.backbone(direction)
        convs = [layer for layer in backbone.layers if isinstance(layer, keras.layers.Conv2D)]
        norms = [layer for layer in backbone.layers
                 if isinstance(layer, keras.layers.BatchNormalization)]
        old_convs, old_norms = _numbered(old, "conv2d"), _numbered(old, "batch_normalization")
        # an old classifier kept only the layers up to its feature: a prefix of the backbone
        for new, name in [*zip(convs, old_convs, strict=False),
                          *zip(norms, old_norms, strict=False)]:
            new.set_weights(_vars(old[name]))
        if len(old_convs) > len(convs):
            pair.get_layer(f"{direction.name}_head").set_weights(_vars(old[old_convs[-1]]))


def _number(name: str) -> int:
    match = re.search(r"_(\d+)$", name)
    return int(match.group(1)) if match else 0


def _numbered(group: h5py.Group, prefix: str) -> list[str]:
    """``prefix``, ``prefix_1``, ... present in ``group``, in layer order."""
    pattern = re.compile(rf"{prefix}(_\d+)?$")
    return sorted((name for name in group if pattern.match(name)), key=_number)


def _vars(group: h5py.Group) -> list[np.ndarray]:
    return [group["vars"][str(i)][()] for i in range(len(group["vars"]))]


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m keras_sb.models.legacy OLD.keras NEW.keras")
    convert(sys.argv[1]).save(sys.argv[2])
    print(f"wrote {sys.argv[2]}")
