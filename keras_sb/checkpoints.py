"""Loading .keras checkpoints (files or run folders) with errors that say what to do; files of
keras-sb 0.1 are converted on the way (``keras_sb.models.legacy``)."""

from __future__ import annotations

import json
import logging
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import keras

from keras_sb.constants import DEFAULT_MODEL, DEFAULT_PRETEXT
from keras_sb.models.legacy import convert, is_legacy

if TYPE_CHECKING:
    from keras_sb.models.classifier import SplitBrainClassifier
    from keras_sb.models.split_brain import SplitBrain

log = logging.getLogger("keras_sb")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used (names the flag, the path and what to do)."""


def checkpoint_path(path: str | Path, flag: str = "--model") -> Path:
    """The .keras file ``path`` names: itself, or a run folder's ``best.keras`` (``last.keras``
    when there is no best yet). Errors name ``flag`` and the path."""
    path = Path(path).expanduser()
    if path.is_dir():
        found = [path / name for name in ("best.keras", "last.keras") if (path / name).exists()]
        if not found:
            runs = sorted(str(run) for run in path.iterdir() if (run / "best.keras").is_file())
            hint = f" (it holds the runs {', '.join(runs)})" if runs else ""
            raise CheckpointError(f"{flag} {path} holds no best.keras or last.keras: give a "
                                  ".keras checkpoint or the folder of a run that has trained"
                                  f"{hint}")
        path = found[0]
    if not path.is_file():
        raise CheckpointError(f"{flag} {path} does not exist: give a .keras checkpoint or a run "
                             "folder holding best.keras")
    return path


def checkpoint_config(path: Path, flag: str = "--model") -> dict:
    """The model config stored in the .keras file ``path`` (no weights are read)."""
    if not zipfile.is_zipfile(path):  # Keras would report it as "File not found"
        raise CheckpointError(f"{flag} {path} is not a .keras file: it is damaged, truncated "
                             "(e.g. an interrupted copy) or in another format")
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))


def load_checkpoint(path: str | Path, kind: type[keras.Model], flag: str = "--model"):
    """The ``kind`` model saved at ``path`` (see :func:`checkpoint_path`)."""
    path = checkpoint_path(path, flag)
    # keras-sb 0.1's checkpoints: read until 0.5, removed after (docs/run_folders.md)
    legacy = is_legacy(checkpoint_config(path, flag))
    try:
        model = convert(path) if legacy else keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for a damaged or foreign file
        raise CheckpointError(f"{flag} {path} could not be loaded: {error}") from error
    if not isinstance(model, kind):
        raise CheckpointError(f"{flag} {path} holds a {type(model).__name__}, not a "
                             f"{kind.__name__}")
    if legacy:
        log.warning("%s was written by keras-sb 0.1: converted while loading (`python -m "
                    "keras_sb.models.legacy %s NEW.keras` saves the converted model).", path,
                    path)
    return model


def load_pretext(path: str | os.PathLike, flag: str = "--pretext") -> SplitBrain:
    """The pretraining model (``SplitBrain``) of a .keras file or a pretraining run folder."""
    from keras_sb.models.split_brain import SplitBrain

    return load_checkpoint(path, SplitBrain, flag)


def choose_pretext(model_path: str | os.PathLike,
                   pretext_path: str | os.PathLike | None = None) -> str | None:
    """The pretraining checkpoint that draws a classifier's colorizations (the demo's and
    export's ``--pretext``): ``pretext_path`` when given, else ``DEFAULT_PRETEXT`` when
    ``model_path`` is the shipped classifier and that file exists, else None."""
    if pretext_path is not None:
        return str(pretext_path)
    shipped = Path(model_path).expanduser().resolve() == Path(DEFAULT_MODEL).resolve()
    return DEFAULT_PRETEXT if shipped and Path(DEFAULT_PRETEXT).is_file() else None


def check_pretext(model: SplitBrainClassifier, pretext: SplitBrain,
                  model_path: str | os.PathLike, pretext_path: str | os.PathLike) -> None:
    """Raise a ``CheckpointError`` naming both files unless ``pretext`` takes images of the
    classifier's size in its colour space."""
    ours = (model.input_shape[1], model.codec.color_space)
    theirs = (pretext.input_shape[1], pretext.codec.color_space)
    if ours != theirs:
        raise CheckpointError(
            f"--pretext {pretext_path} does not match --model {model_path}: the pretraining "
            f"model takes {theirs[0]}x{theirs[0]} images in colour space {theirs[1]}, the "
            f"classifier {ours[0]}x{ours[0]} images in {ours[1]}; give the pretraining run the "
            "classifier was trained from (its --init)")
