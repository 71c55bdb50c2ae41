"""Stage ``export``: a classifier checkpoint as a TensorFlow SavedModel for TF Serving."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from keras_sb.checkpoints import load_checkpoint
from keras_sb.export import export_saved_model
from keras_sb.models.classifier import SplitBrainClassifier
from keras_sb.safe_io import atomic_path
from keras_sb.training.config import check_numbers, opt

log = logging.getLogger("keras_sb")


@dataclass
class ExportConfig:
    """Which checkpoint to export, and where."""

    model: str = opt("", "export: classifier checkpoint (.keras) or its run folder (uses "
                     "best.keras)")
    out: str = opt("", "export: SavedModel folder (required), e.g. models/keras_sb/1")
    temperature: float = opt(0.38, "export: annealed-mean temperature of the colorize "
                             "signature (lower: more saturated)", above=0)

    def __post_init__(self):
        if not self.model:
            raise ValueError("--model is required: a .keras checkpoint or run folder from "
                             "--stage finetune or linprobe")
        if not self.out:
            raise ValueError("--out is required: the folder to write the SavedModel to "
                             "(TF Serving expects MODEL_DIR/VERSION, e.g. models/keras_sb/1)")
        check_numbers(self)
        out = Path(self.out).expanduser()
        if out.exists() and not (out.is_dir() and not any(out.iterdir())):
            raise ValueError(f"--out {out} already exists: a SavedModel is written to a new "
                             "(or empty) folder, e.g. the next version, MODEL_DIR/2")


def export(config: ExportConfig) -> Path:
    """Load ``config.model`` and write its SavedModel to ``config.out``."""
    model = load_checkpoint(config.model, SplitBrainClassifier)
    out = Path(config.out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as temp:  # TF Serving never sees a half-written version folder
        export_saved_model(model, temp, config.temperature)
    log.info("Exported %s (%d classes) to %s", config.model, model.num_classes, out)
    return out
