"""Stage ``evaluate``: top-1, top-k and per-class accuracy of a classifier checkpoint, with a
confusion-matrix PNG and a JSON report, on a layout's val split or any ``<class>/`` folder."""

from __future__ import annotations

import logging
from pathlib import Path

from keras_sb.checkpoints import CheckpointError, load_checkpoint
from keras_sb.data import open_images
from keras_sb.models.classifier import SplitBrainClassifier
from keras_sb.training.config import EvaluateConfig
from keras_sb.training.scoring import evaluate_classifier, write_report

log = logging.getLogger("keras_sb")


def evaluate(config: EvaluateConfig) -> dict:
    """Score ``config.model`` on ``config.split`` of ``config.data`` and write the report
    files."""
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
