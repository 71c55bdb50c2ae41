"""Stage ``knn``: k-nearest-neighbour top-1 of frozen, pooled backbone features (no training),
for a pretraining run or random initialisation alike."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import keras

from keras_sb.data import SAMPLE_DATA, DataError
from keras_sb.evaluation import classification_report
from keras_sb.knn import knn_probabilities
from keras_sb.models import SplitBrainClassifier
from keras_sb.safe_io import write_text
from keras_sb.training.config import LABELS_PER_CLASS_HELP, SEED_HELP, check_numbers, opt
from keras_sb.training.supervised import (
    FEATURE_DIMS_HELP,
    FEATURE_LAYER_HELP,
    InitConfig,
    labelled_splits,
    predict_images,
    split_at_features,
    write_report,
)

log = logging.getLogger("keras_sb")


@dataclass
class KnnConfig(InitConfig):
    """A kNN probe: features of ``supervised/train`` less the held-out part (or N per class
    of it) vote for the classes of ``supervised/val``."""

    data: str = opt(SAMPLE_DATA, "image folder with labelled images")
    out: str = opt("", "knn: folder for report.json, confusion.png and config.json "
                   "(default runs/knn-INIT-LABELS)")
    labels_per_class: int = opt(0, LABELS_PER_CLASS_HELP, minimum=0)
    val_fraction: float = opt(0.1, "held-out share of each class (left out, so that the "
                              "neighbours are the images the other stages train on)",
                              above=0, below=1)
    seed: int = opt(0, SEED_HELP, minimum=0)
    feature_layer: str = opt("conv3", FEATURE_LAYER_HELP)
    feature_dims: int = opt(9216, FEATURE_DIMS_HELP, minimum=1)
    k: int = opt(20, "knn: neighbours that vote (cosine similarity, weighted exp(sim/0.07))",
                 minimum=1)
    top_k: int = opt(5, "finetune/linprobe/knn/evaluate: also report top-k accuracy", minimum=1)
    batch_size: int = opt(64, "images per step", minimum=1)

    def __post_init__(self):
        self.data = str(Path(self.data).expanduser().resolve())
        self.out = self.out or self.default_out("knn", self.labels_per_class)
        check_numbers(self)
        self.resolve_init()
        if Path(self.out).exists() and not Path(self.out).is_dir():
            raise ValueError(f"--out {self.out} is a file: give a folder for the report")


def knn_probe(config: KnnConfig) -> dict:
    """Score the kNN probe on the val split; writes report.json, confusion.png, config.json."""
    train, _, val = labelled_splits(config.data, config.val_fraction, config.labels_per_class,
                                    config.seed)
    if val is None:
        raise DataError(f"--data {config.data} has no val split to score the kNN probe on: "
                        "lay it out as supervised/train/<class>/ and supervised/val/<class>/")
    keras.utils.set_random_seed(config.seed)
    names = train.class_names
    model = SplitBrainClassifier(config.load_backbone(), len(names), names,
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

