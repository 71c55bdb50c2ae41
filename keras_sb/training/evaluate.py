"""Stage ``evaluate``: top-1, top-k and per-class accuracy of a classifier checkpoint, with a
confusion-matrix PNG and a JSON report, on a layout's val split or any ``<class>/`` folder
(which may hold only some of the model's classes)."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np

from keras_sb.checkpoints import load_checkpoint
from keras_sb.data import DataError, ImageSource, open_images
from keras_sb.evaluation import accuracy_phrase
from keras_sb.models.classifier import SplitBrainClassifier
from keras_sb.training.config import EvaluateConfig
from keras_sb.training.scoring import evaluate_classifier, write_report

log = logging.getLogger("keras_sb")


def with_model_classes(source: ImageSource, model: SplitBrainClassifier,
                       model_name: str) -> ImageSource:
    """``source`` labelled with ``model``'s class indices and names (its classes may be any
    of the model's, in any order); a class the model does not know is a ``DataError`` naming
    it."""
    unknown = [name for name in source.class_names if name not in model.class_names]
    if unknown:
        raise DataError(f"{source.location} has class folders the model {model_name} was not "
                        f"trained on: {', '.join(unknown)} (its classes: "
                        f"{', '.join(model.class_names)}); leave those out of --data")
    indices = np.array([model.class_names.index(name) for name in source.class_names],
                       np.int32)
    relabelled = copy.copy(source)
    relabelled.labels = indices[source.labels] if len(source.labels) else source.labels
    relabelled.class_names = list(model.class_names)
    return relabelled


def evaluate(config: EvaluateConfig) -> dict:
    """Score ``config.model`` on ``config.split`` of ``config.data`` and write the report
    files. The model's classes with no images there are scored with the others (an image
    predicted as one is an error) and listed as ``absent_classes``."""
    model = load_checkpoint(config.model, SplitBrainClassifier)
    source = with_model_classes(open_images(config.data, config.split), model, config.model)
    report = evaluate_classifier(model, source, config.batch_size, config.top_k)
    report["absent_classes"] = [name for name, row in report["per_class"].items()
                                if not row["images"]]
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    write_report(report, out)
    top_k = next(k for k in report if k.startswith("top") and k != "top1")
    log.info("%s on %s: top-1 %s, %s %.4f", config.model, source.location,
             accuracy_phrase(report["top1"], report["images"]), top_k, report[top_k])
    if report["absent_classes"]:
        log.info("%d of the model's %d classes have no images in %s (images predicted as them "
                 "count as errors): %s", len(report["absent_classes"]), model.num_classes,
                 source.location, ", ".join(report["absent_classes"]))
    for name, row in report["per_class"].items():
        if row["images"]:
            log.info("  %-24s %5d images  top-1 %.4f", name, row["images"], row["accuracy"])
    log.info("Wrote %s and %s", out / "report.json", out / "confusion.png")
    return report
