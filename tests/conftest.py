"""Shared fixtures: small real-photo folders built from the shipped sample."""

import shutil
from pathlib import Path

import pytest

import keras_sb  # noqa: F401  (imports TensorFlow quietly before anything else)

SAMPLE = Path(__file__).resolve().parent.parent / "keras_sb" / "sample_data"


@pytest.fixture(scope="session")
def tiny_unlabelled(tmp_path_factory) -> Path:
    """An ssl_data_96-style folder whose unsupervised/ holds 48 real 96x96 photos."""
    root = tmp_path_factory.mktemp("tiny_ssl")
    target = root / "unsupervised"
    target.mkdir()
    for path in sorted((SAMPLE / "unsupervised").glob("*.jpg"))[:48]:
        shutil.copy(path, target / path.name)
    return root
