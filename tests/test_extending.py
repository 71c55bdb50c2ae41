"""The worked examples of docs/architecture.md: a new backbone and a new objective, registered
from outside the library, trained through the CLI and used by a classifier."""

import json

import pytest

from keras_sb.cli import main
from keras_sb.models import (
    BACKBONES,
    OBJECTIVES,
    Backbone,
    Direction,
    SplitBrain,
    register_backbone,
    register_objective,
)
from keras_sb.models.backbones import conv_bn_relu, scaled


@pytest.fixture(scope="module")
def tiny_backbone():
    @register_backbone
    class TinyBackbone(Backbone):
        """Three stride-2 3x3 convs: 96 -> 48 -> 24 -> 12."""

        architecture = "tiny"

        @staticmethod
        def stages(x, width: float) -> dict:
            out = {}
            out["conv1"] = x = conv_bn_relu(x, scaled(16, width), 3, "conv1", strides=2)
            out["conv2"] = x = conv_bn_relu(x, scaled(32, width), 3, "conv2", strides=2)
            out["conv3"] = conv_bn_relu(x, scaled(64, width), 3, "conv3", strides=2)
            return out

    yield "tiny"
    del BACKBONES["tiny"]


@pytest.fixture(scope="module")
def ab_autoencoder():
    register_objective("ab_autoencoder", Direction("color", "ab", "ab", "regression"))
    yield "ab_autoencoder"
    del OBJECTIVES["ab_autoencoder"]


@pytest.mark.slow
def test_new_backbone_and_objective_train_and_classify(tiny_backbone, ab_autoencoder,
                                                       tiny_unlabelled, tmp_path):
    pre = tmp_path / "pre"
    assert main(["--encoder", tiny_backbone, "--objective", ab_autoencoder, "--data",
                 str(tiny_unlabelled), "--out", str(pre), "--epochs", "2", "--batch-size", "8",
                 "--val-fraction", "0.2", "--no-progress"]) == 0
    summary = json.loads((pre / "summary.json").read_text())
    assert summary["loss"][-1] < summary["loss"][0]
    assert (pre / "previews" / "epoch_002.png").exists()
    probe = tmp_path / "probe"
    assert main(["--stage", "linprobe", "--init", str(pre), "--out", str(probe),
                 "--feature-layer", "conv2", "--epochs", "1", "--batch-size", "16",
                 "--no-progress"]) == 0
    config = json.loads((probe / "config.json").read_text())
    assert (config["encoder"], config["objective"]) == (tiny_backbone, ab_autoencoder)


def test_new_backbone_outputs_the_target_grid(tiny_backbone):
    model = SplitBrain(tiny_backbone, width=0.5)
    assert model.output["color"].shape == (None, 12, 12, 100)
    assert model.backbone(model.task.directions[0]).stage_names == ["conv1", "conv2", "conv3"]
