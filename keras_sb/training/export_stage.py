"""Stage ``export``: a classifier checkpoint as a TensorFlow SavedModel for TF Serving."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import keras

from keras_sb.export import export_saved_model
from keras_sb.models.classifier import SplitBrainClassifier
from keras_sb.training.config import opt
from keras_sb.training.run_folder import RunFolder, RunFolderError

log = logging.getLogger("keras_sb")


@dataclass
class ExportConfig:
    """Which checkpoint to export, and where."""

    model: str = opt("", "export: classifier checkpoint (.keras) or its run folder (uses "
                     "best.keras)")
    out: str = opt("", "export: SavedModel folder (required), e.g. models/keras_sb/1")
    temperature: float = opt(0.38, "export: annealed-mean temperature of the colorize "
                             "signature (lower: more saturated)")

    def __post_init__(self):
        if not self.model:
            raise ValueError("--model is required: a .keras checkpoint or run folder from "
                             "--stage finetune or linprobe")
        if not self.out:
            raise ValueError("--out is required: the folder to write the SavedModel to "
                             "(TF Serving expects MODEL_DIR/VERSION, e.g. models/keras_sb/1)")
        if self.temperature <= 0:
            raise ValueError(f"--temperature must be positive, got {self.temperature}")
        path = Path(self.model).expanduser()
        self.model = str(RunFolder(path).best if path.is_dir() else path)


def export(config: ExportConfig) -> Path:
    """Load ``config.model`` and write its SavedModel to ``config.out``."""
    if not Path(config.model).is_file():
        raise RunFolderError(f"--model {config.model} does not exist")
    model = keras.saving.load_model(config.model, compile=False)
    if not isinstance(model, SplitBrainClassifier):
        raise RunFolderError(f"--model {config.model} holds a {type(model).__name__}; export "
                             "needs a classifier from --stage finetune or linprobe")
    out = export_saved_model(model, config.out, config.temperature)
    log.info("Exported %s (%d classes) to %s", config.model, model.num_classes, out)
    return out
