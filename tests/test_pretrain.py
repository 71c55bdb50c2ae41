"""`train.py --stage pretrain`: CLI, run folder, resume after a kill, and multi-device."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from keras_sb.cli import build_parser, main
from keras_sb.data import open_images
from keras_sb.models import SplitBrain
from keras_sb.training.pretrain import PretrainConfig, Pretraining, pretraining_dataset

BACKBONE_KEYS = ("encoder", "width", "color_space", "l_bins", "ab_bins", "image_size",
                 "objective")

ROOT = Path(__file__).resolve().parent.parent


def read_log(run: Path) -> list[dict]:
    with (run / "log.csv").open() as f:
        return list(csv.DictReader(f))


def test_help_explains_every_pretrain_flag(capsys):
    with pytest.raises(SystemExit):
        main(["pretrain", "--help"])
    text = capsys.readouterr().out
    for flag in ("--data", "--encoder", "--color-space", "--l-bins", "--ab-bins", "--epochs",
                 "--batch-size", "--learning-rate", "--lr-decay", "--out", "--strategy",
                 "--previews", "--no-previews"):
        assert flag in text


def test_boolean_flags_are_real_booleans():
    args = build_parser().parse_args(["--no-previews", "--progress"])
    assert args.previews is False and args.progress is True


def test_defaults_need_no_checkpoint_and_use_the_shipped_sample():
    config = PretrainConfig()
    assert Path(config.data).is_dir() and config.out == "runs/pretrain-simple"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--ab-bins", "grid"], "--ab-bins"),
        (["--ab-bins", "gamut", "--color-space", "rgb"], "--color-space lab"),
        (["--val-fraction", "2"], "--val-fraction"),
        (["--data", "/nonexistent/photos"], "/nonexistent/photos"),
    ],
)
def test_bad_arguments_give_a_clear_error(argv, message, tmp_path, capsys):
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    assert message in capsys.readouterr().err


def test_ab_rebalancing_weighs_each_pixel_by_its_colour_class(tiny_unlabelled, tmp_path):
    config = PretrainConfig(data=str(tiny_unlabelled), out=str(tmp_path / "run"),
                            ab_rebalance=0.5)
    stage = Pretraining(config)
    stage.open_data()
    task = SplitBrain(width=0.0625).task
    weights = stage.class_weights(task)
    assert list(weights) == ["color"] and weights["color"].shape == (100,)
    _, targets, pixel_weights = next(iter(pretraining_dataset(
        stage.val_source, task, 96, 4, training=False, seed=0, class_weights=weights)))
    np.testing.assert_array_equal(pixel_weights["color"],
                                  weights["color"][targets["color"].numpy()])
    np.testing.assert_array_equal(pixel_weights["lightness"], 1.0)
    stage.config.ab_rebalance = 0.0
    assert stage.class_weights(task) == {}


def test_crop_area_makes_the_training_batches_random_resized_crops(tiny_unlabelled):
    source = open_images(tiny_unlabelled, "unlabelled")
    task = SplitBrain(width=0.0625).task

    def first_batch(crop_area):
        batches = pretraining_dataset(source, task, 96, 4, training=True, seed=0,
                                      crop_area=crop_area)
        return next(iter(batches))[0].numpy()

    def detail(channels):  # mean step between neighbouring pixels: crops are enlarged
        return np.abs(np.diff(channels, axis=2)).mean()

    whole = np.concatenate([first_batch(1.0) for _ in range(3)])
    cropped = np.concatenate([first_batch(0.3) for _ in range(3)])
    assert whole.shape == cropped.shape == (12, 96, 96, 3)
    assert detail(cropped) < 0.8 * detail(whole)


@pytest.mark.slow
def test_short_pretraining_on_real_photos_lowers_the_loss(tiny_unlabelled, tmp_path):
    run = tmp_path / "run"
    argv = ["--data", str(tiny_unlabelled), "--out", str(run), "--epochs", "4",
            "--batch-size", "8", "--width", "0.5", "--val-fraction", "0.2", "--no-progress"]
    assert main(argv) == 0
    for name in ("config.json", "best.keras", "last.keras", "log.csv", "summary.json"):
        assert (run / name).exists(), name
    assert any((run / "tensorboard").rglob("events.out.tfevents.*"))

    summary = json.loads((run / "summary.json").read_text())
    log = read_log(run)
    assert summary["epochs"] == len(log) == 4
    assert summary["loss"] == [round(float(row["loss"]), 4) for row in log]
    assert summary["val_loss"] == [round(float(row["val_loss"]), 4) for row in log]
    assert summary["loss"][-1] < summary["loss"][0] - 0.5
    assert summary["best_val_loss"] == min(summary["val_loss"]) < summary["val_loss"][0]
    assert summary["best_epoch"] == summary["val_loss"].index(summary["best_val_loss"]) + 1
    assert (summary["best_checkpoint"], summary["last_checkpoint"]) == (str(run / "best.keras"),
                                                                        str(run / "last.keras"))

    # One row per held-out image (6 of the 10), one titled column per panel (7), scale 2.
    previews = sorted(p.name for p in (run / "previews").iterdir())
    assert previews == [f"epoch_{epoch:03d}.png" for epoch in range(1, 5)]
    with Image.open(run / "previews" / "epoch_004.png") as preview:
        preview.load()
        assert preview.size == (7 * (192 + 4), 16 + 6 * (192 + 4))

    config = json.loads((run / "config.json").read_text())
    assert (config["width"], config["val_fraction"], config["objective"]) == (0.5, 0.2,
                                                                             "split_brain")
    best = keras.saving.load_model(run / "best.keras")
    assert isinstance(best, SplitBrain)
    assert {k: best.get_config()[k] for k in BACKBONE_KEYS} == {k: config[k]
                                                                for k in BACKBONE_KEYS}
    # the best checkpoint is the best epoch's: it scores the logged validation loss again
    source = open_images(tiny_unlabelled, "unlabelled")
    _, val = source.split(0.2, config["seed"])
    batches = pretraining_dataset(val, best.task, 96, 8, training=False, seed=config["seed"])
    val_loss = best.compile_for_pretraining(1e-3).evaluate(batches, verbose=0)[0]
    assert val_loss == pytest.approx(summary["best_val_loss"], abs=1e-3)

    # the same command again: the run is complete, nothing is retrained
    modified = (run / "best.keras").stat().st_mtime_ns
    assert main(argv) == 0
    assert len(read_log(run)) == 4
    assert (run / "best.keras").stat().st_mtime_ns == modified


@pytest.mark.slow
def test_unreadable_images_are_skipped_during_training_and_counted(tiny_unlabelled, tmp_path,
                                                                   caplog):
    """No image is decoded before training: bad ones among the training images are skipped
    (and logged each epoch), those among the held-out ones are left out with a warning."""
    data = tmp_path / "data"
    shutil.copytree(tiny_unlabelled, data)
    good = next((data / "unsupervised").glob("*.jpg")).read_bytes()
    for i in range(6):
        (data / "unsupervised" / f"bad{i}.jpg").write_bytes(good[:200] if i % 2 else b"junk")
    train, _ = open_images(data, "unlabelled", validate=False).split(0.2, seed=0)
    bad_in_training = sum("bad" in Path(item).name for item in train.items.astype(str))
    assert bad_in_training  # seed 0 puts some there
    caplog.set_level("INFO", logger="keras_sb")
    run = tmp_path / "run"
    assert main(["--data", str(data), "--out", str(run), "--epochs", "2", "--batch-size", "8",
                 "--width", "0.25", "--val-fraction", "0.2", "--no-progress",
                 "--no-previews"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs"] == 2
    assert summary["skipped_images_last_session"] == bad_in_training  # each once
    bad = sorted(Path(item).name for item in train.items.astype(str) if "bad" in item)
    assert "Epoch 1: skipped" in caplog.text
    assert sum(name in caplog.text for name in bad) == min(5, len(bad))  # named: five at most


def test_other_settings_in_the_same_run_folder_are_refused(tiny_unlabelled, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"encoder": "alex"}))
    assert main(["--data", str(tiny_unlabelled), "--out", str(run)]) == 2
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.slow
def test_killed_run_resumes_from_the_last_finished_epoch(tiny_unlabelled, tmp_path, caplog):
    run = tmp_path / "run"
    argv = ["--data", str(tiny_unlabelled), "--out", str(run), "--epochs", "6", "--batch-size",
            "8", "--width", "0.5", "--no-progress", "--no-previews"]
    command = [sys.executable, str(ROOT / "train.py"), *argv]
    first = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and first.poll() is None:
        if (run / "log.csv").exists() and len(read_log(run)) >= 2:
            break
        time.sleep(0.2)
    assert first.poll() is None, "the first run ended before it could be interrupted"
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    done = len(read_log(run))
    assert 2 <= done < 6
    # The same command resumes it, in this process (one TensorFlow start-up less).
    caplog.set_level("INFO", logger="keras_sb")
    assert main(argv) == 0
    assert "resuming" in caplog.text
    epochs = [int(row["epoch"]) for row in read_log(run)]
    assert epochs == list(range(6)), epochs  # each epoch once, continuing where it stopped
    assert json.loads((run / "summary.json").read_text())["epochs"] == 6


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus_matches_one_device(tiny_unlabelled):
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "mirrored_vs_single.py"), str(tiny_unlabelled)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    runs = json.loads(result.stdout.strip().splitlines()[-1])
    assert runs["default"]["replicas"] == 1 and runs["mirrored"]["replicas"] == 2
    np.testing.assert_allclose(runs["mirrored"]["loss"], runs["default"]["loss"], rtol=1e-4)
    np.testing.assert_allclose(runs["mirrored"]["color"], runs["default"]["color"], atol=1e-3)
