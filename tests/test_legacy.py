"""keras-sb 0.1 checkpoints (encoders with their heads inside) load as today's models."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from keras_sb.checkpoints import checkpoint_config, load_checkpoint
from keras_sb.cli import main
from keras_sb.models import SplitBrain, SplitBrainClassifier
from keras_sb.models.legacy import convert, is_legacy

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
