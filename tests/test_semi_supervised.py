"""Fine-tuning with unlabelled photos: the joint pretext objective, pseudo-labels, strong
views, resuming, and the options' checks."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_sb.cli import main
from keras_sb.data import SAMPLE_DATA
from keras_sb.models import SplitBrain, SplitBrainClassifier
from keras_sb.training.config import FinetuneConfig
from keras_sb.training.semi_supervised import SemiSupervisedTrainer, strong_view

ROOT = Path(__file__).resolve().parent.parent
SIZE = 64  # the smallest side the simple backbone takes
TINY = ["--init", "random", "--width", "0.25", "--image-size", str(SIZE), "--l-bins", "10",
        "--ab-bins", "grid:4", "--feature-layer", "conv2", "--labels-per-class", "2",
        "--batch-size", "8", "--no-progress"]


def test_strong_views_are_seeded_and_differ_per_image():
    images = tf.random.stateless_uniform([4, 16, 16, 3], [0, 1])
    seed = tf.constant([3, 4], tf.int64)
    views = strong_view(images, seed).numpy()
    assert views.shape == (4, 16, 16, 3) and views.min() >= 0 and views.max() <= 1
    np.testing.assert_array_equal(views, strong_view(images, seed).numpy())
    assert not np.allclose(views, strong_view(images, seed + 1).numpy())
    assert not np.allclose(views, images.numpy(), atol=0.05)
    same = strong_view(tf.repeat(images[:1], 4, axis=0), seed).numpy()
    assert not np.allclose(same[0], same[1])  # each image its own crop, jitter and cutout
    mapped = tf.data.Dataset.from_tensors(images).map(lambda x: strong_view(x, seed))
    np.testing.assert_allclose(next(iter(mapped)).numpy(), views, atol=1e-6)


@pytest.fixture(scope="module")
def trainer_parts():
    keras.utils.set_random_seed(0)
    pretext = SplitBrain("simple", width=0.25, l_bins=10, ab_bins="grid:4", image_size=SIZE)
    classifier = SplitBrainClassifier(pretext, 3, feature_layer="conv2", feature_dims=256)
    images = tf.random.stateless_uniform([6, SIZE, SIZE, 3], [1, 2])
    inputs = {"images": images[:2], "weak": images[2:4], "strong": images[4:]}
    return pretext, classifier, inputs, {"class": tf.constant([0, 1])}


@pytest.mark.parametrize("threshold", [1e-6, 0.999])
def test_pseudo_labels_are_the_confident_weak_predictions(trainer_parts, threshold):
    pretext, classifier, inputs, targets = trainer_parts
    trainer = SemiSupervisedTrainer(classifier, pretext, 0.0, threshold, 2.0, 2)
    losses, logits = trainer.objective(inputs, targets)
    assert set(losses) == {"class_loss", "pseudo_loss"} and logits.shape == (2, 3)
    everything = classifier(tf.concat(list(inputs.values()), 0), training=True).numpy()
    weak, strong = everything[2:4], everything[4:]
    probabilities = tf.nn.softmax(weak).numpy()
    confident = probabilities.max(axis=1) >= threshold  # untrained: all, or none at 0.999
    assert confident.all() if threshold < 0.5 else not confident.any()
    log_p = tf.nn.log_softmax(strong).numpy()[np.arange(2), probabilities.argmax(axis=1)]
    expected = 2.0 * -(log_p * confident).mean()  # averaged over every unlabelled image
    assert float(losses["pseudo_loss"]) == pytest.approx(expected, rel=1e-4, abs=1e-6)


def test_options_are_checked():
    for argv, message in [
        ({"unlabelled": SAMPLE_DATA}, "--unlabelled is only used with"),
        ({"pretext_weight": 1.0, "freeze_encoders": True}, "do not go with --freeze-encoders"),
        ({"pseudo_label_threshold": 0.9, "data": SAMPLE_DATA + "/supervised"},
         "has no unsupervised/ folder: give --unlabelled"),
        ({"pseudo_label_threshold": 1.0}, "--pseudo-label-threshold must be less than 1"),
    ]:
        with pytest.raises(ValueError, match=message):
            FinetuneConfig(out="unused", **argv)
    config = FinetuneConfig(out="unused", pretext_weight=0.5)
    assert config.unlabelled == SAMPLE_DATA and config.uses_unlabelled  # --data's unsupervised/


def test_joint_objective_and_pseudo_labels_train_resume_and_save_a_classifier(tmp_path):
    out = tmp_path / "ft"
    argv = [*TINY, "--stage", "finetune", "--out", str(out), "--pretext-weight", "0.5",
            "--pseudo-label-threshold", "0.3", "--unlabelled-ratio", "2"]
    assert main([*argv, "--epochs", "1"]) == 0
    assert main([*argv, "--epochs", "2"]) == 0  # extends the finished run from its state
    with (out / "log.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [row["epoch"] for row in rows] == ["0", "1"]
    assert {"class_loss", "pretext_loss", "pseudo_loss", "pseudo_labelled", "acc", "top5",
            "val_acc", "val_top5"} <= set(rows[0])
    for row in rows:
        total = float(row["class_loss"]) + float(row["pretext_loss"]) + float(row["pseudo_loss"])
        assert float(row["loss"]) == pytest.approx(total, rel=1e-3)
    config = json.loads((out / "config.json").read_text())
    assert (config["pretext_weight"], config["pseudo_label_threshold"]) == (0.5, 0.3)
    assert config["unlabelled"] == SAMPLE_DATA
    model = keras.saving.load_model(out / "best.keras")
    assert isinstance(model, SplitBrainClassifier) and model.feature_layer == "conv2"
    # the resume state holds the pretext model's own layers too (conv3, conv4, heads)
    state = json.loads((out / "backup" / "state.json").read_text())
    with np.load(out / "backup" / state["weights"]) as arrays:
        shapes = {arrays[name].shape for name in arrays.files}
    head = SplitBrain("simple", width=0.25, l_bins=10, ab_bins="grid:4", image_size=SIZE
                      ).get_layer("lightness_head").kernel.shape
    assert tuple(head) in shapes


def run_mirrored(mode: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "mirrored_semi_supervised.py"),
                             mode], capture_output=True, text=True, timeout=300, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_mirrored_strategy_scales_the_joint_loss_as_one_device(tmp_path):
    runs = json.loads(run_mirrored("step").stdout.strip().splitlines()[-1])
    assert runs["default"]["replicas"] == 1 and runs["mirrored"]["replicas"] == 2
    assert runs["mirrored"]["pretext_loss"] == pytest.approx(runs["default"]["pretext_loss"],
                                                             rel=1e-4)
    assert runs["default"]["moved"] > 1e-3  # twice or half the step would show
    for mirrored, single in zip(runs["mirrored"]["heads"], runs["default"]["heads"], strict=True):
        np.testing.assert_allclose(mirrored, single, atol=1e-5)
    run_mirrored(str(tmp_path / "mirrored"))  # finetune with unlabelled photos, end to end
    model = keras.saving.load_model(tmp_path / "mirrored" / "best.keras")
    assert isinstance(model, SplitBrainClassifier)
