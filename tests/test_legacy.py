"""keras-sb 0.1 checkpoints (encoders with their heads inside) load as today's models."""

import dataclasses
import json
import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest

from keras_sb.checkpoints import checkpoint_config, load_checkpoint
from keras_sb.cli import main
from keras_sb.models import SplitBrain, SplitBrainClassifier
from keras_sb.models.legacy import convert, is_legacy
from keras_sb.training.config import FinetuneConfig

DATA = Path(__file__).resolve().parent / "data"
# Written by keras-sb 0.1 with a quarter-width simple pair trained two epochs, with the
# outputs that version computed for the image "rgb" (tests/data/README.md).
REFERENCE = np.load(DATA / "v0.1_outputs.npz")
RGB = REFERENCE["rgb"].astype(np.float32) / 255


def test_pair_converts_with_identical_outputs():
    path = DATA / "v0.1_pair_simple_w0.25.keras"
    assert is_legacy(checkpoint_config(path))
    pair = convert(path)
    assert pair.objective == "split_brain" and pair.width == 0.25
    outputs = pair(pair.task.encode(RGB)[0], training=False)
    for name in ("color", "lightness"):
        np.testing.assert_array_equal(outputs[name], REFERENCE[f"pair_{name}"])


@pytest.mark.parametrize(("old", "new"), [("logits", "logits"), ("conv3_relu", "conv3")])
def test_classifiers_convert_with_identical_outputs(old, new, caplog):
    path = DATA / f"v0.1_classifier_{old}.keras"
    with caplog.at_level(logging.WARNING, logger="keras_sb"):
        model = load_checkpoint(path, SplitBrainClassifier)
    assert "keras-sb 0.1" in caplog.text and "keras_sb.models.legacy" in caplog.text
    assert model.feature_layer == new
    np.testing.assert_array_equal(model(RGB, training=False), REFERENCE[f"classifier_{old}"])


def test_converted_file_is_a_current_checkpoint(tmp_path):
    out = tmp_path / "pair.keras"
    convert(DATA / "v0.1_pair_simple_w0.25.keras").save(out)
    assert not is_legacy(checkpoint_config(out))
    assert isinstance(load_checkpoint(out, SplitBrain), SplitBrain)


def test_shipped_model_is_current():
    from keras_sb.models import DEFAULT_MODEL

    assert not is_legacy(checkpoint_config(Path(DEFAULT_MODEL)))


def test_a_0_2_classifier_keeps_its_features_and_the_defaults_are_the_cli_s(tmp_path):
    """A file saved by 0.2 (pretext model under "backbone", logits and 28,800: 0.2's
    defaults, written out in its config) loads with those; new classifiers take the CLI's."""
    new, old = tmp_path / "new.keras", tmp_path / "old.keras"
    SplitBrainClassifier(SplitBrain("simple", width=0.25), 3, feature_layer="logits",
                         feature_dims=28800).save(new)
    with zipfile.ZipFile(new) as source, zipfile.ZipFile(old, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "config.json":
                config = json.loads(data)
                config["config"]["backbone"] = config["config"].pop("pretext_model")
                data = json.dumps(config)
            target.writestr(item, data)
    assert not is_legacy(checkpoint_config(old))
    model = load_checkpoint(old, SplitBrainClassifier)
    assert (model.feature_layer, model.feature_dims) == ("logits", 28800)
    assert model.has_pretext_heads
    cli = {f.name: f.default for f in dataclasses.fields(FinetuneConfig)}
    fresh = SplitBrainClassifier(SplitBrain("simple", width=0.25), 3)
    assert (fresh.feature_layer, fresh.feature_dims) == (cli["feature_layer"],
                                                         cli["feature_dims"])


def test_old_run_folder_is_refused_for_resuming_but_usable_as_init(tmp_path, capsys):
    run = tmp_path / "old_run"
    run.mkdir()
    (run / "best.keras").write_bytes((DATA / "v0.1_pair_simple_w0.25.keras").read_bytes())
    old_config = {"data": "/data", "out": str(run), "epochs": 2, "batch_size": 8,
                  "learning_rate": 1e-3, "lr_decay": 0.95, "patience": 5, "seed": 0,
                  "strategy": "auto", "encoder": "simple", "width": 0.25}
    (run / "config.json").write_text(json.dumps(old_config))
    assert main(["--out", str(run), "--width", "0.25"]) == 2
    assert "keras-sb 0.1" in capsys.readouterr().err
    pair = load_checkpoint(run, SplitBrain, "--init")
    assert pair.width == 0.25
