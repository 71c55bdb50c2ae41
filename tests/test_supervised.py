"""Stages finetune, linprobe and evaluate, end to end on the shipped sample photos."""

import csv
import json
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_sb.cli import main
from keras_sb.data import SAMPLE_DATA, open_images
from keras_sb.data.labelled import labelled_splits
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


def assert_log_agrees_with_summary(out: Path, summary: dict, tolerance: float = 0) -> None:
    """The log's held-out top-1 and top-5 at the best epoch are the summary's (same ties)."""
    with (out / "log.csv").open() as f:
        best = max(csv.DictReader(f), key=lambda row: float(row["val_acc"]))
    assert abs(summary["holdout_top1"] - float(best["val_acc"])) <= tolerance + 1e-4
    assert abs(summary["holdout_top5"] - float(best["val_top5"])) <= tolerance + 1e-4


@pytest.mark.slow
def test_finetune_from_a_run_folder_needs_no_repeated_flags(pretrained, tmp_path):
    out = tmp_path / "ft"
    assert main(["--stage", "finetune", "--init", str(pretrained), "--out", str(out),
                 "--labels-per-class", "3", "--feature-layer", "logits", "--feature-dims",
                 "28800", *FAST]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["train_images"] == 30 and summary["epochs"] == 2
    report = json.loads((out / "report.json").read_text())
    assert report["images"] == 100 and summary["val_top1"] == round(report["top1"], 4)
    assert_log_agrees_with_summary(out, summary)
    assert (out / "confusion.png").stat().st_size > 1000
    model = keras.saving.load_model(out / "best.keras")
    assert isinstance(model, SplitBrainClassifier)
    backbone = model.pretext_model_config["config"]
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
    summary = json.loads((out / "summary.json").read_text())
    # The log's figures come from the head on features computed beforehand: float rounding
    # may move one image across a boundary.
    assert_log_agrees_with_summary(out, summary, 1 / summary["holdout_images"])


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
         "conv1, conv2, conv3, conv4 (or several joined by +), or logits"),
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
    assert model.feature_layer == "conv3" and model.temperature > 1  # calibrated
    pretext = keras.saving.load_model(Path(DEFAULT_MODEL).with_name("pretext.keras"))
    assert isinstance(pretext, SplitBrain)
    assert pretext.get_config()["objective"] == model.task.objective
    images = np.random.default_rng(0).random((2, 96, 96, 3), dtype=np.float32)
    panels = reconstructions(pretext, images)
    assert panels["predicted_color"].shape == (2, 96, 96, 3)


# the held-out images, calibration and what best.keras holds (random init, width 0.25)

SMALL = ["--init", "random", "--width", "0.25", *FAST]
TRAIN = Path(SAMPLE_DATA) / "supervised" / "train"


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def test_labelled_splits_hold_out_images_of_supervised_train():
    train, holdout, test = labelled_splits(SAMPLE_DATA, 0.1, 0, seed=0)
    labelled = open_images(SAMPLE_DATA, "train")
    assert (len(train), len(holdout)) == (90, 10)
    assert np.bincount(holdout.labels).tolist() == [1] * 10
    assert not set(train.items) & set(holdout.items)
    assert sorted([*train.items, *holdout.items]) == sorted(labelled.items)
    assert test is not None and len(test) == 100
    assert all(Path(item).parent.parent == TRAIN for item in holdout.items)
    assert not set(holdout.items) & set(test.items)
    few, same_holdout, _ = labelled_splits(SAMPLE_DATA, 0.1, 5, seed=0)
    assert np.bincount(few.labels).tolist() == [5] * 10 and set(few.items) <= set(train.items)
    assert same_holdout.items.tolist() == holdout.items.tolist()


def test_linprobe_holds_out_training_images_and_calibrates_best_keras(tmp_path, caplog):
    out = tmp_path / "lp"
    assert main(["--stage", "linprobe", "--out", str(out), "--val-fraction", "0.5",
                 *SMALL]) == 0
    summary = read_json(out / "summary.json")
    assert (summary["train_images"], summary["holdout_images"]) == (50, 50)
    assert summary["reported_on"] == "val"
    report = read_json(out / "report.json")
    assert {"ece", "ece_uncalibrated", "temperature"} <= set(report)
    assert report["images"] == 100  # scored on supervised/val, not on the held-out images
    assert report["temperature"] == pytest.approx(summary["temperature"], abs=1e-4)

    best = keras.saving.load_model(out / "best.keras")
    assert isinstance(best, SplitBrainClassifier)  # the whole classifier, not its head
    assert tuple(best.input_shape) == (None, 96, 96, 3)
    assert best.feature_layer == "conv3" and best.freeze_backbone
    images = np.random.default_rng(0).random((2, 96, 96, 3), dtype=np.float32)
    assert best.predict(images, verbose=0).shape == (2, 10)
    assert best.temperature == pytest.approx(summary["temperature"], abs=1e-4)
    assert best.temperature != 1.0  # fitted on the held-out images
    assert summary["temperature"] != 1.0 and summary["temperature_fitted"]
    # 10 held-out images are too few to fit a temperature: T = 1, and the log says so
    caplog.set_level("WARNING", logger="keras_sb")
    assert main(["--stage", "linprobe", "--out", str(tmp_path / "few"), *SMALL]) == 0
    summary = read_json(tmp_path / "few" / "summary.json")
    assert summary["holdout_images"] == 10 and summary["temperature"] == 1.0
    assert not summary["temperature_fitted"]
    assert "Calibration skipped: 10 held-out images are too few" in caplog.text


def test_linprobe_labels_per_class(tmp_path):
    out = tmp_path / "lp"
    assert main(["--stage", "linprobe", "--out", str(out), "--labels-per-class", "5",
                 *SMALL]) == 0
    summary = read_json(out / "summary.json")
    assert (summary["train_images"], summary["holdout_images"]) == (50, 10)


def _layer_weights(model: keras.Model) -> dict[str, list[np.ndarray]]:
    return {layer.name: layer.get_weights() for layer in model.layers if layer.weights}


def test_linprobe_leaves_every_pretrained_weight_and_trains_the_head(pretrained, tmp_path):
    out = tmp_path / "lp"
    assert main(["--stage", "linprobe", "--init", str(pretrained), "--out", str(out),
                 *FAST]) == 0
    probe = keras.saving.load_model(out / "best.keras")
    start = keras.saving.load_model(pretrained / "best.keras")
    for backbone in ("color_net", "lightness_net"):
        kept = _layer_weights(probe.get_layer(f"{backbone}_conv3"))
        original = _layer_weights(start.get_layer(backbone))
        assert kept and set(kept) <= set(original)
        for name, weights in kept.items():  # kernels, biases and BatchNorm statistics
            assert len(weights) == len(original[name])
            for ours, theirs in zip(weights, original[name], strict=True):
                np.testing.assert_array_equal(ours, theirs, err_msg=f"{backbone}/{name}")
    # the head trained: its bias and the feature normalisation's statistics start at zero
    assert np.abs(probe.get_layer("class_logits").get_weights()[1]).max() > 0
    moving_mean = probe.get_layer("feature_norm").moving_mean.numpy()
    assert np.abs(moving_mean).max() > 0


# labelled data without a val split


@pytest.fixture
def plain_labelled(tmp_path) -> Path:
    """A plain folder of class subfolders (no supervised/val): 3 classes of 4 photos."""
    root = tmp_path / "photos"
    for name in ("church", "gas_pump", "tench"):
        (root / name).mkdir(parents=True)
        for image in sorted((TRAIN / name).glob("*.jpg"))[:4]:
            shutil.copy(image, root / name / image.name)
    return root


def test_linprobe_without_a_val_split_reports_on_the_held_out_images(plain_labelled, tmp_path):
    out = tmp_path / "lp"
    assert main(["--stage", "linprobe", "--data", str(plain_labelled), "--out", str(out),
                 *SMALL]) == 0
    summary = read_json(out / "summary.json")
    assert summary["reported_on"] == "holdout"
    assert (summary["train_images"], summary["holdout_images"]) == (9, 3)
    assert read_json(out / "report.json")["images"] == 3


def test_knn_without_a_val_split_scores_the_held_out_images(plain_labelled, tmp_path):
    out = tmp_path / "knn"
    assert main(["--stage", "knn", "--data", str(plain_labelled), "--out", str(out),
                 "--width", "0.25"]) == 0
    assert read_json(out / "report.json")["images"] == 3  # as linprobe's held-out part


# other feature layers, and a finished run


def test_finetune_on_an_intermediate_feature_layer(tmp_path):
    out = tmp_path / "ft"
    assert main(["--stage", "finetune", "--feature-layer", "conv2", "--out", str(out),
                 "--labels-per-class", "3", *SMALL]) == 0
    assert read_json(out / "summary.json")["train_images"] == 30
    model = keras.saving.load_model(out / "best.keras")
    assert isinstance(model, SplitBrainClassifier)
    assert model.feature_layer == "conv2" and not model.freeze_backbone
    stages = {layer.name for layer in model.get_layer("color_net_conv2").layers}
    assert "conv2_conv" in stages and "conv3_conv" not in stages
    assert model.get_layer("color_net_conv2").trainable_weights  # fine-tuned, not frozen


def test_rerunning_a_finished_linprobe_changes_nothing(tmp_path, caplog):
    out = tmp_path / "lp"
    argv = ["--stage", "linprobe", "--out", str(out), *SMALL]
    assert main(argv) == 0
    files = {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()}
    modified = {name: (out / name).stat().st_mtime_ns for name in files}
    caplog.set_level("INFO", logger="keras_sb")
    started = time.time()
    assert main(argv) == 0
    assert time.time() - started < 2
    assert "already holds this finished run" in caplog.text
    assert {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()} == files
    assert {name: (out / name).stat().st_mtime_ns for name in files} == modified


@pytest.mark.slow
def test_one_command_from_folders_to_a_classifier(tiny_unlabelled, tmp_path, caplog):
    """--stage classifier: unlabelled photos and labelled <class>/ folders in, a pretrained,
    probed, calibrated and scored classifier out; the same command again changes nothing."""
    labelled = tmp_path / "labelled"
    shutil.copytree(Path(SAMPLE_DATA) / "supervised" / "train", labelled)
    out = tmp_path / "mine"
    argv = ["--stage", "classifier", "--data", str(tiny_unlabelled / "unsupervised"),
            "--labelled", str(labelled), "--out", str(out), "--pretrain-epochs", "1",
            "--then", "linprobe", "--labels-per-class", "3", "--no-progress"]
    caplog.set_level("INFO", logger="keras_sb")
    assert main(argv) == 0
    assert json.loads((out / "pretrain" / "summary.json").read_text())["epochs"] == 1
    summary = json.loads((out / "linprobe" / "summary.json").read_text())
    assert summary["init"] == str(out / "pretrain") and summary["train_images"] == 30
    assert summary["reported_on"] == "holdout"  # plain <class>/ folders: no val split
    best = out / "linprobe" / "best.keras"
    assert (f"Classifier ready: {best}. Try it: keras-sb demo --model {best} --pretext "
            f"{out / 'pretrain'}; serve it: keras-sb export --model {out / 'linprobe'} --pretext "
            f"{out / 'pretrain'} --out models/keras_sb/1; score it on labelled images it has not "
            "seen (<class>/ folders of some or all of its classes): keras-sb evaluate --model "
            f"{out / 'linprobe'} --data TESTFOLDER.") in caplog.text
    assert (f"Held-out top-1 {summary['holdout_top1']:.4f} on {summary['holdout_images']} "
            "images (95 % interval ") in caplog.text
    before = (out / "linprobe" / "best.keras").stat().st_mtime_ns
    assert main(argv) == 0
    assert (out / "linprobe" / "best.keras").stat().st_mtime_ns == before
    # The advice names the options the classifier command takes.
    assert "pass more --pretrain-epochs" in caplog.text
    assert "pass more --linprobe-epochs" in caplog.text
    assert "Next:" not in caplog.text  # the pretrain command's advice
