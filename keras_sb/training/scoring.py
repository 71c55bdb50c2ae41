"""Scoring a classifier (no training): its outputs on a source's images, on one worker or
several, the accuracy and calibration report, and the report's files."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from keras_sb.calibration import expected_calibration_error, softmax
from keras_sb.confusion_plot import save_confusion_png
from keras_sb.data import ImageSource
from keras_sb.data.labelled import labelled_dataset
from keras_sb.evaluation import classification_report, save_report_json
from keras_sb.models.classifier import SplitBrainClassifier
from keras_sb.training.distribute import is_multi_worker


def predict_images(model: keras.Model, source: ImageSource, batch_size: int) -> np.ndarray:
    """``model``'s outputs (logits, features) for the centre crops of ``source``.

    On several workers each computes its own: Keras' ``predict`` would gather every
    worker's outputs.
    """
    images = labelled_dataset(source, model.input_shape[1], batch_size, False, 0)
    images = images.map(lambda image, _: image)
    if not is_multi_worker(model.distribute_strategy):
        return model.predict(images, verbose=0)
    forward = tf.function(lambda batch: model(batch, training=False))
    return np.concatenate([forward(batch).numpy() for batch in images])


def evaluate_classifier(model: SplitBrainClassifier, source: ImageSource, batch_size: int,
                        top_k: int) -> dict:
    """Top-1, top-k, per-class accuracy, confusion matrix and calibration error (of the
    probabilities at the model's temperature, and ``ece_uncalibrated`` at 1) on ``source``."""
    logits = predict_images(model, source, batch_size)
    report = classification_report(source.labels, softmax(logits, model.temperature),
                                   source.class_names, top_k, scores=logits)
    report["temperature"] = model.temperature
    report["ece_uncalibrated"] = expected_calibration_error(softmax(logits), source.labels)
    return report


def write_report(report: dict, folder: Path) -> None:
    """``report.json`` and ``confusion.png`` of ``report`` in ``folder``."""
    save_report_json(report, folder / "report.json")
    save_confusion_png(report, folder / "confusion.png")
