"""Classifier evaluation: top-k and per-class accuracy, calibration error and the confusion
counts, as JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from keras_sb.calibration import ECE_BINS, expected_calibration_error
from keras_sb.safe_io import write_text

# Below this many images an accuracy is a rough figure (its 95 % interval spans more than
# about 15 points): the classifier command and evaluate print the interval with it.
FEW_IMAGES = 100


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


def wilson_interval(hits: int, images: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of the proportion ``hits`` / ``images`` (95 % at the default
    ``z``); unlike the normal approximation it stays within [0, 1] and is not empty at 0 or
    all hits."""
    if images < 1 or not 0 <= hits <= images:
        raise ValueError(f"need 0 <= hits <= images and images >= 1, got {hits} of {images}")
    p, z2 = hits / images, z * z / images
    centre = (p + z2 / 2) / (1 + z2)
    margin = z * math.sqrt(p * (1 - p) / images + z2 / (4 * images)) / (1 + z2)
    return max(0.0, centre - margin), min(1.0, centre + margin)


def accuracy_phrase(accuracy: float, images: int) -> str:
    """``accuracy`` of ``images`` in words for a log line, with its 95 % (Wilson) interval
    and a warning that it is noisy when there are fewer than ``FEW_IMAGES``."""
    phrase = f"{accuracy:.4f} on {images} images"
    if images >= FEW_IMAGES:
        return phrase
    low, high = wilson_interval(round(accuracy * images), images)
    return (f"{phrase} (95 % interval {low:.2f}-{high:.2f}, Wilson: a noisy figure from under "
            f"{FEW_IMAGES} images)")
