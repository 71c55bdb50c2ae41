"""Every objective with every backbone: pretraining, classifiers, previews, the demo, export;
and the settings a stage takes from --init."""

import functools
import json

import numpy as np
import pytest
import tensorflow as tf

from keras_sb.cli import main
from keras_sb.demo import analyse
from keras_sb.export import export_saved_model
from keras_sb.models import BACKBONES, OBJECTIVES, SplitBrain, SplitBrainClassifier
from keras_sb.training.config import resume_keys
from keras_sb.training.pretrain import PretrainConfig
from keras_sb.training.supervised import FinetuneConfig, LinprobeConfig
from keras_sb.visualize import reconstructions

TINY = 0.0625
RGB = np.random.default_rng(0).random((4, 96, 96, 3)).astype(np.float32)
EXPECTED_PANELS = {
    "split_brain": {"predicted_color", "predicted_lightness", "recombined"},
    "split_brain_regression": {"predicted_color", "predicted_lightness", "recombined"},
    "colorization": {"predicted_color", "target_color"},
    "lightness": {"predicted_lightness", "target_lightness"},
}


def pretrained(objective: str, encoder: str = "simple") -> SplitBrain:
    model = SplitBrain(encoder, TINY, objective=objective).compile_for_pretraining(1e-3)
    channels, targets = model.task.encode(RGB)
    history = model.fit(channels, targets, batch_size=2, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    return model


@pytest.fixture(scope="module")
def trained():
    """``pretrained(objective, encoder)``, trained once per pair for this module's tests
    (each pair's pretraining is still checked): they only read the models, to preview,
    classify on their backbones and export."""
    return functools.cache(pretrained)


def test_objectives_are_the_papers_rows():
    assert {name: [(d.source, d.target, d.kind) for d in directions]
            for name, directions in OBJECTIVES.items()} == {
        "split_brain": [("L", "ab", "classification"), ("ab", "L", "classification")],
        "split_brain_regression": [("L", "ab", "regression"), ("ab", "L", "regression")],
        "colorization": [("L", "ab", "classification")],
        "lightness": [("ab", "L", "classification")],
    }


@pytest.mark.parametrize("objective", sorted(OBJECTIVES))
def test_objective_pretrains_previews_classifies_and_exports(objective, tmp_path, trained):
    model = trained(objective, "simple")
    panels = reconstructions(model, RGB[:2])
    assert EXPECTED_PANELS[objective] <= set(panels)
    if objective in ("colorization", "lightness"):
        assert "recombined" not in panels
    classifier = SplitBrainClassifier(model, 3, ["a", "b", "c"], feature_layer="logits")
    assert classifier(RGB).shape == (4, 3)
    shown = analyse(classifier, tf.keras.utils.array_to_img(RGB[0]))
    assert len(shown.gallery) >= 3 and sum(shown.label.values()) == pytest.approx(1, abs=1e-5)
    out = export_saved_model(classifier, tmp_path / "saved")
    signatures = set(tf.saved_model.load(str(out)).signatures)
    assert ("colorize" in signatures) == model.task.predicts("ab")


def test_regression_heads_predict_channel_values(trained):
    model = trained("split_brain_regression", "simple")
    outputs = model.pretext_outputs(model.task.encode(RGB)[0])
    assert outputs["color"].shape == (4, 12, 12, 2) and outputs["lightness"].shape == (4, 12, 12, 1)


# Every objective on simple, every backbone with the pair of classifiers, and each other
# kind of head (regression, one network) on a second backbone: the googl pairs alone took
# 85 s more.
OBJECTIVE_BACKBONE_PAIRS = sorted(
    {(objective, "simple") for objective in OBJECTIVES}
    | {("split_brain", encoder) for encoder in BACKBONES}
    | {("split_brain_regression", "alex"), ("colorization", "resnet"), ("lightness", "alex")})


@pytest.mark.slow
@pytest.mark.parametrize(("objective", "encoder"), OBJECTIVE_BACKBONE_PAIRS)
def test_objectives_and_backbones(objective, encoder, trained):
    model = trained(objective, encoder)
    for feature in ("logits", model.backbone(model.task.directions[0]).stage_names[1]):
        classifier = SplitBrainClassifier(model, 3, feature_layer=feature, feature_dims=512)
        assert classifier(RGB[:2]).shape == (2, 3)


@pytest.mark.slow
def test_single_network_objective_end_to_end(tiny_unlabelled, tmp_path):
    pre = tmp_path / "pre"
    assert main(["--objective", "colorization", "--data", str(tiny_unlabelled), "--out",
                 str(pre), "--epochs", "1", "--batch-size", "8", "--width", "0.25",
                 "--val-fraction", "0.2", "--no-progress"]) == 0
    assert (pre / "previews" / "epoch_001.png").exists()
    probe = tmp_path / "probe"
    assert main(["--stage", "linprobe", "--init", str(pre), "--out", str(probe), "--epochs",
                 "1", "--batch-size", "16", "--no-progress", "--feature-layer", "conv2",
                 "--feature-dims", "1000"]) == 0
    config = json.loads((probe / "config.json").read_text())
    assert (config["objective"], config["width"]) == ("colorization", 0.25)


# settings taken from --init


@pytest.fixture
def init_file(tmp_path):
    path = tmp_path / "pair.keras"
    SplitBrain("simple", width=0.25, l_bins=50, objective="colorization").save(path)
    return path


def test_init_file_settings_are_recorded(init_file):
    config = FinetuneConfig(init=str(init_file), out="unused")
    assert (config.width, config.l_bins, config.objective) == (0.25, 50, "colorization")


@pytest.mark.parametrize(("flag", "value", "theirs"), [("--width", "0.5", "0.25"),
                                                        ("--l-bins", "20", "50"),
                                                        ("--objective", "lightness",
                                                         "colorization")])
def test_init_with_conflicting_flag_is_refused(init_file, tmp_path, capsys, flag, value,
                                               theirs):
    assert main(["--stage", "finetune", "--init", str(init_file), "--out", str(tmp_path / "r"),
                 flag, value]) == 2
    err = capsys.readouterr().err
    assert flag in err and value in err and theirs in err
    assert not (tmp_path / "r").exists()


def test_resume_keys_come_from_the_config_fields():
    pretrain = resume_keys(PretrainConfig())
    assert {"data", "encoder", "width", "objective", "batch_size", "learning_rate", "seed",
            "val_fraction"} <= set(pretrain)
    assert not {"epochs", "patience", "progress", "out", "previews"} & set(pretrain)
    probe = resume_keys(LinprobeConfig(out="unused"))
    assert {"init", "labels_per_class", "feature_layer", "feature_dims", "stage",
            "freeze_encoders", "head"} <= set(probe)
