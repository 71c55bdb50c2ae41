"""Stage ``knn``: k-nearest-neighbour top-1 of frozen, pooled backbone features (no training),
for a pretraining run or random initialisation alike; scored on the val split, or on a held-out
part of each class when the data has none (a plain ``<class>/`` folder)."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

import keras

from keras_sb.data.labelled import labelled_splits
from keras_sb.evaluation import classification_report
from keras_sb.knn import knn_probabilities
from keras_sb.models.classifier import SplitBrainClassifier, split_at_features
from keras_sb.safe_io import write_text
from keras_sb.training.config import KnnConfig
from keras_sb.training.scoring import predict_images, write_report

log = logging.getLogger("keras_sb")


def knn_probe(config: KnnConfig) -> dict:
    """Score the kNN probe on the val split (or the held-out images when the data has none);
    writes report.json, confusion.png, config.json."""
    train, holdout, test = labelled_splits(config.data, config.val_fraction,
                                           config.labels_per_class, config.seed)
    val = test if test is not None else holdout
    keras.utils.set_random_seed(config.seed)
    names = train.class_names
    model = SplitBrainClassifier(config.load_pretext_model(), len(names), names,
                                 feature_layer=config.feature_layer,
                                 feature_dims=config.feature_dims, freeze_backbone=True)
    extractor, _ = split_at_features(model)
    probabilities = knn_probabilities(predict_images(extractor, train, config.batch_size),
                                      train.labels,
                                      predict_images(extractor, val, config.batch_size),
                                      len(names), config.k)
    report = classification_report(val.labels, probabilities, names, config.top_k)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    write_report(report, out)
    write_text(out / "config.json", json.dumps(asdict(config), indent=2, sort_keys=True) + "\n")
    log.info("kNN (k=%d) on %s from %s, %s features of %d training images: top-1 %.4f "
             "(%s)", config.k, val.description, config.init, config.feature_layer, len(train),
             report["top1"], out / "report.json")
    return report

