"""Stages finetune, linprobe and evaluate, end to end on the shipped sample photos."""

import json

import keras
import numpy as np
import pytest

from keras_sb.cli import main
from keras_sb.data import SAMPLE_DATA
from keras_sb.models import SplitBrain, SplitBrainClassifier

FAST = ["--epochs", "2", "--batch-size", "32", "--no-progress"]


@pytest.fixture(scope="module")
def pretrained(tiny_unlabelled, tmp_path_factory):
    """A one-epoch pretraining run with non-default settings."""
    run = tmp_path_factory.mktemp("pretrain") / "run"
    assert main(["--data", str(tiny_unlabelled), "--out", str(run), "--width", "0.25",
                 "--l-bins", "20", "--ab-bins", "grid:5", "--epochs", "1", "--batch-size", "16",
                 "--no-progress", "--no-previews"]) == 0
    return run


def conv1_kernel(model, backbone: str = "color_net") -> np.ndarray:
    return model.get_layer(backbone).get_layer("conv1_conv").get_weights()[0]


@pytest.mark.slow
def test_finetune_from_a_run_folder_needs_no_repeated_flags(pretrained, tmp_path):
    out = tmp_path / "ft"
    assert main(["--stage", "finetune", "--init", str(pretrained), "--out", str(out),
                 "--labels-per-class", "3", *FAST]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["train_images"] == 30 and summary["epochs"] == 2
    report = json.loads((out / "report.json").read_text())
    assert report["images"] == 100 and summary["val_top1"] == round(report["top1"], 4)
    assert (out / "confusion.png").stat().st_size > 1000
    model = keras.saving.load_model(out / "best.keras")
    assert isinstance(model, SplitBrainClassifier)
    backbone = model.backbone_config["config"]
    assert (backbone["l_bins"], backbone["ab_bins"], backbone["width"]) == (20, "grid:5", 0.25)
    assert backbone["objective"] == "split_brain"
    assert model.class_names[0] == "cassette_player"
    recorded = json.loads((out / "config.json").read_text())
    assert (recorded["l_bins"], recorded["width"]) == (20, 0.25)  # the run's, not the defaults
    # features: both 12x12 outputs, (5*5 + 20) * 144 values
    assert model.get_layer("features").output.shape[-1] == 45 * 144


@pytest.mark.slow
def test_linprobe_keeps_the_pretrained_backbones_fixed(pretrained, tmp_path):
    out = tmp_path / "lp"
    assert main(["--stage", "linprobe", "--init", str(pretrained), "--out", str(out),
                 "--feature-layer", "conv2", "--feature-dims", "1000", *FAST]) == 0
    probe = keras.saving.load_model(out / "best.keras")
    start = keras.saving.load_model(pretrained / "best.keras")
    for backbone in ("color_net", "lightness_net"):
        np.testing.assert_array_equal(conv1_kernel(probe, f"{backbone}_conv2"),
                                      conv1_kernel(start, backbone))
        stages = probe.get_layer(f"{backbone}_conv2")
        assert "conv3_conv" not in {layer.name for layer in stages.layers}
    assert probe.get_layer("features").output.shape[-1] <= 1000
    trainable = sum(int(np.prod(w.shape)) for w in probe.trainable_weights)
    assert trainable == (probe.get_layer("features").output.shape[-1] + 1) * 10


@pytest.mark.slow
def test_random_init_baseline_and_evaluate(tmp_path, caplog):
    caplog.set_level("INFO", logger="keras_sb")
    out = tmp_path / "ft"
    assert main(["--stage", "finetune", "--init", "random", "--width", "0.25", "--head", "mlp",
                 "--out", str(out), *FAST]) == 0
    assert main(["--stage", "evaluate", "--model", str(out), "--top-k", "3"]) == 0
    report = json.loads((out / "eval-val" / "report.json").read_text())
    assert set(report) >= {"top1", "top3", "per_class", "confusion"}
    assert sum(map(sum, report["confusion"])) == 100
    assert report["top1"] == round(json.loads((out / "summary.json").read_text())["val_top1"], 4)
    assert "english_springer" in caplog.text  # the per-class table


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--stage", "finetune", "--labels-per-class", "10"], "at most 9 per class (the images "
         "left after holding out --val-fraction 0.1"),
        (["--stage", "finetune", "--init", "/no/such/run"], "/no/such/run"),
        (["--stage", "linprobe", "--feature-layer", "conv9"],
         "--feature-layer: 'conv9' is not a stage of the simple backbone; choose one of: "
         "conv1, conv2, conv3, conv4, or logits"),
        (["--stage", "evaluate"], "--model is required"),
        (["--stage", "evaluate", "--epochs", "3", "--model", "x.keras"], "does not apply"),
    ],
)
def test_bad_supervised_arguments_are_explained(argv, message, tmp_path, capsys):
    out = [] if "evaluate" in argv else ["--out", str(tmp_path / "run"), "--width", "0.25"]
    assert main([*argv, *out, "--data", SAMPLE_DATA]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before the run folder was made


def test_evaluate_refuses_a_pretraining_checkpoint(tmp_path, capsys):
    SplitBrain("simple", width=0.25).save(tmp_path / "best.keras")
    assert main(["--stage", "evaluate", "--model", str(tmp_path)]) == 2
    assert "holds a SplitBrain, not a SplitBrainClassifier" in capsys.readouterr().err


def test_shipped_default_model_loads_and_reconstructs():
    from keras_sb.models import DEFAULT_MODEL
    from keras_sb.visualize import reconstructions

    model = keras.saving.load_model(DEFAULT_MODEL)
    assert isinstance(model, SplitBrainClassifier) and len(model.class_names) == 10
    assert model.feature_layer == "logits"
    images = np.random.default_rng(0).random((2, 96, 96, 3), dtype=np.float32)
    panels = reconstructions(model, images)
    assert panels["predicted_color"].shape == (2, 96, 96, 3)
