"""The kNN probe: the weighted vote itself, and ``train.py --stage knn``."""

import json

import numpy as np
import pytest

from keras_sb.cli import main
from keras_sb.data import SAMPLE_DATA
from keras_sb.knn import knn_probabilities
from keras_sb.models import SplitBrain


def test_vote_follows_the_nearest_by_cosine():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8))
    labels = np.repeat(np.arange(3), 10)
    train = centres[labels] * rng.uniform(0.5, 3, (30, 1)) + rng.normal(0, 0.05, (30, 8))
    queries = centres * 7.0  # far in length, same direction: cosine ignores the norm
    scores = knn_probabilities(train, labels, queries, 3, k=5)
    assert scores.shape == (3, 3)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0)
    assert (scores.argmax(axis=1) == np.arange(3)).all() and scores.min() >= 0


def test_weights_favour_closer_neighbours_and_k_is_clipped():
    train = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    scores = knn_probabilities(train, np.array([0, 1, 1]), np.array([[1.0, 0.1]]), 2, k=50)
    # one near neighbour of class 0 outweighs two farther ones of class 1
    assert scores[0, 0] > scores[0, 1] > 0


@pytest.mark.parametrize("init", ["random", "file"])
def test_knn_stage_writes_a_report(init, tmp_path, capsys):
    args = ["--stage", "knn", "--labels-per-class", "5", "--out", str(tmp_path / "knn"),
            "--data", SAMPLE_DATA, "--feature-layer", "conv2"]
    if init == "file":
        SplitBrain("simple", width=0.25, objective="colorization").save(tmp_path / "p.keras")
        args += ["--init", str(tmp_path / "p.keras")]
    else:
        args += ["--width", "0.25"]
    assert main(args) == 0
    report = json.loads((tmp_path / "knn" / "report.json").read_text())
    assert 0 <= report["top1"] <= 1 and report["images"] == 100
    config = json.loads((tmp_path / "knn" / "config.json").read_text())
    assert config["width"] == 0.25 and config["k"] == 20
    assert config["objective"] == ("colorization" if init == "file" else "split_brain")
    assert (tmp_path / "knn" / "confusion.png").exists()


def test_knn_flags_are_checked(tmp_path, capsys):
    assert main(["--stage", "knn", "--k", "0", "--out", str(tmp_path / "k")]) == 2
    assert "--k must be at least 1" in capsys.readouterr().err
    assert main(["--stage", "knn", "--epochs", "3", "--out", str(tmp_path / "k")]) == 2
    assert "--epochs does not apply to knn" in capsys.readouterr().err
