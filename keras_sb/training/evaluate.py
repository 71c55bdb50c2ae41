"""Stage ``evaluate``: top-1, top-k and per-class accuracy of a classifier checkpoint, with a
confusion-matrix PNG and a JSON report."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from keras_sb.checkpoints import CheckpointError, load_checkpoint
from keras_sb.data import SAMPLE_DATA, open_images
from keras_sb.models.classifier import SplitBrainClassifier
from keras_sb.training.config import check_numbers, opt
from keras_sb.training.supervised import evaluate_classifier, write_report

log = logging.getLogger("keras_sb")


@dataclass
class EvaluateConfig:
    """What to evaluate, on which images."""

    model: str = opt("", "evaluate/export: classifier checkpoint (.keras) from finetune or "
                     "linprobe, or its run folder (uses best.keras)")
    data: str = opt(SAMPLE_DATA, "image folder with labelled images")
    split: str = opt("val", "evaluate: which labelled split to score", choices=("train", "val"))
    top_k: int = opt(5, "also report top-k accuracy", minimum=1)
    batch_size: int = opt(64, "images per step", minimum=1)
    out: str = opt("", "folder for report.json and confusion.png (default: beside the "
                   "checkpoint, in eval-SPLIT/)")

    def __post_init__(self):
        if not self.model:
            raise ValueError("--model is required: a .keras checkpoint or run folder from "
                             "--stage finetune or linprobe")
        check_numbers(self)
        model = Path(self.model)
        self.out = self.out or str((model if model.is_dir() else model.parent) /
                                   f"eval-{self.split}")
        if Path(self.out).exists() and not Path(self.out).is_dir():
            raise ValueError(f"--out {self.out} is a file: give a folder for report.json and "
                             "confusion.png")


def evaluate(config: EvaluateConfig) -> dict:
    """Score ``config.model`` on ``config.split`` and write the report files."""
    model = load_checkpoint(config.model, SplitBrainClassifier)
    source = open_images(config.data, config.split)
    if source.class_names != model.class_names:
        raise CheckpointError(f"the classes of {source.location} ({source.class_names}) differ "
                             f"from those the model was trained on ({model.class_names})")
    report = evaluate_classifier(model, source, config.batch_size, config.top_k)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    write_report(report, out)
    top_k = next(k for k in report if k.startswith("top") and k != "top1")
    log.info("%s on %s: top-1 %.4f, %s %.4f", config.model, source.description, report["top1"],
             top_k, report[top_k])
    for name, row in report["per_class"].items():
        accuracy = "n/a" if row["accuracy"] is None else f"{row['accuracy']:.4f}"
        log.info("  %-24s %5d images  top-1 %s", name, row["images"], accuracy)
    log.info("Wrote %s and %s", out / "report.json", out / "confusion.png")
    return report
