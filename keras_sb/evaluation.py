"""Classifier evaluation: top-k and per-class accuracy, calibration error and the confusion
counts, as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from keras_sb.calibration import ECE_BINS, expected_calibration_error
from keras_sb.safe_io import write_text


def classification_report(
    labels: np.ndarray, probabilities: np.ndarray, class_names: list[str], top_k: int = 5,
    scores: np.ndarray | None = None,
) -> dict:
    """Accuracies and confusion counts of predicted class ``probabilities`` [N, C] vs ``labels``.

    Classes are ranked by ``scores`` (default: the probabilities; pass the logits, whose
    large gaps do not underflow into ties), with Keras' rules, so that the figures match
    the training log's: the prediction is the argmax (ties: the lower class index, as in
    ``SparseCategoricalAccuracy``), and a top-k hit has fewer than k classes scoring strictly
    higher than the true one (ties at the boundary count, as in ``in_top_k``). ``top_k`` is
    clipped to C, and the key names the clipped k. ``ece`` is the expected calibration error
    over ``ECE_BINS`` (15) confidence bins. Fractions and ``ece`` are None when there are no
    images.
    """
    labels, probabilities = np.asarray(labels), np.asarray(probabilities)
    scores = probabilities if scores is None else np.asarray(scores)
    classes = len(class_names)
    _check_inputs(labels, probabilities, classes, top_k)
    k = min(top_k, classes)
    predicted = scores.argmax(axis=1)
    true_scores = np.take_along_axis(scores, labels[:, None], axis=1) if len(labels) else scores
    in_top_k = (scores > true_scores).sum(axis=1) < k
    confusion = np.zeros((classes, classes), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    per_class = {
        name: {"images": int(row.sum()), "accuracy": _fraction(predicted[labels == c] == c)}
        for c, (name, row) in enumerate(zip(class_names, confusion, strict=True))
    }
    return {
        "images": len(labels),
        "top1": _fraction(predicted == labels),
        f"top{k}": _fraction(in_top_k),
        "ece": expected_calibration_error(probabilities, labels, ECE_BINS) if len(labels) else None,
        "per_class": per_class,
        "confusion": confusion.tolist(),
        "class_names": list(class_names),
    }


def _check_inputs(labels: np.ndarray, probabilities: np.ndarray, classes: int, top_k: int) -> None:
    if not classes:
        raise ValueError("class_names must name at least one class")
    if probabilities.ndim != 2 or probabilities.shape != (len(labels), classes):
        raise ValueError(
            f"probabilities must be [images, classes] = [{len(labels)}, {classes}], "
            f"got {list(probabilities.shape)}"
        )
    if labels.size and not (labels.min() >= 0 and labels.max() < classes):
        raise ValueError(f"labels must be in [0, {classes}), got {labels.min()}..{labels.max()}")
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")


def _fraction(hits: np.ndarray) -> float | None:
    return float(hits.mean()) if hits.size else None


def save_report_json(report: dict, path: str | Path) -> Path:
    """Write ``report`` as indented JSON, creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(report, indent=2) + "\n")
    return path
