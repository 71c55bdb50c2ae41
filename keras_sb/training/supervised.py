"""Stages ``finetune`` and ``linprobe``: a classifier on a pretext model's features, trained
on (few) labelled images, from a pretraining run or from random initialisation."""

from __future__ import annotations

import logging

import keras
import numpy as np
import tensorflow as tf

from keras_sb.calibration import (
    fit_temperature,
    minimum_images,
    softmax,
)
from keras_sb.checkpoints import checkpoint_path
from keras_sb.data import open_images
from keras_sb.data.labelled import labelled_dataset, labelled_splits
from keras_sb.evaluation import classification_report
from keras_sb.models.backbones import build_backbone
from keras_sb.models.classifier import SplitBrainClassifier, split_at_features
from keras_sb.models.split_brain import LOGITS
from keras_sb.safe_io import save_model
from keras_sb.training.config import (  # noqa: F401  (the stages' settings, also here)
    FinetuneConfig,
    LinprobeConfig,
    SupervisedConfig,
)
from keras_sb.training.distribute import Cluster
from keras_sb.training.precision import training_precision
from keras_sb.training.run_folder import RunFolderError
from keras_sb.training.scoring import evaluate_classifier, predict_images, write_report
from keras_sb.training.semi_supervised import SemiSupervisedTrainer, semi_supervised_dataset
from keras_sb.training.stage import TrainingStage

log = logging.getLogger("keras_sb")


def check_feature_layer(feature_layer: str, encoder: str, image_size: int) -> None:
    """Raise ValueError unless ``feature_layer`` is a stage of backbone ``encoder`` or
    logits."""
    if feature_layer != LOGITS:  # stage names do not depend on the width
        backbone = build_backbone(encoder, in_channels=1, width=1e-3, image_size=image_size)
        try:
            backbone.stage_model(feature_layer)
        except ValueError as error:
            raise ValueError(f"--feature-layer: {error}, or {LOGITS}") from None


def compile_classifier(model: keras.Model, learning_rate: float, top_k: int) -> keras.Model:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc"),
                 keras.metrics.SparseTopKCategoricalAccuracy(top_k, name=f"top{top_k}")],
    )
    return model


class ClassifierTraining(TrainingStage):
    """A classifier on the pretext model's features (fine-tuning or linear probe)."""

    monitor = "val_acc"
    mode = "max"

    def open_data(self) -> None:
        config = self.config
        self.train_source, self.holdout_source, self.test_source = labelled_splits(
            config.data, config.val_fraction, config.labels_per_class, config.seed)
        log.info("Training on %s; choosing the best epoch on %d images held out of them "
                 "(--val-fraction); reporting on %s.", self.train_source.description,
                 len(self.holdout_source),
                 self.test_source.description if self.test_source else
                 "the held-out images (the data has no val split)")
        self.unlabelled_source = None
        if config.uses_unlabelled:
            self.unlabelled_source = open_images(config.unlabelled, "unlabelled", validate=False)
            log.info("Also training on %s (--pretext-weight %g, --pseudo-label-threshold %g).",
                     self.unlabelled_source.description, config.pretext_weight,
                     config.pseudo_label_threshold)

    def check_inputs(self) -> None:
        """``--feature-layer`` must be a stage of the backbone, and the ``--init`` checkpoint
        must lie outside the run folder (training there would replace it, and --overwrite
        delete it)."""
        config = self.config
        check_feature_layer(config.feature_layer, config.encoder, config.image_size)
        if config.init == "random":
            return
        init = checkpoint_path(self.config.init, "--init").resolve()
        if self.run.path.resolve() in init.parents:
            raise RunFolderError(f"--init {self.config.init} lies inside --out {self.run.path}:"
                                 " training would replace it. Give another --out.")

    def build_model(self) -> SplitBrainClassifier:
        config, names = self.config, self.train_source.class_names
        pretext = config.load_pretext_model()
        model = SplitBrainClassifier(pretext, len(names), names, config.head,
                                     config.feature_layer, config.feature_dims,
                                     config.freeze_encoders)
        self.extractor, self.head = split_at_features(model)
        self.joint = None
        if self.unlabelled_source:  # trains the classifier and the pretext model it shares
            self.joint = SemiSupervisedTrainer(model, pretext, config.pretext_weight,
                                               config.pseudo_label_threshold,
                                               config.pseudo_label_weight, config.top_k)
            self.joint.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
        if config.freeze_encoders:
            compile_classifier(self.head, config.learning_rate, config.top_k)
        return compile_classifier(model, config.learning_rate, config.top_k)

    def trained_part(self, model: SplitBrainClassifier) -> keras.Model:
        """With frozen backbones only the head trains, on features computed once; with
        unlabelled photos, the classifier and the pretext model together."""
        if self.joint:
            return self.joint
        return self.head if self.config.freeze_encoders else model

    def datasets(self, model: SplitBrainClassifier, batch_size: int, shard: Cluster):
        config = self.config
        train, holdout = shard.shard(self.train_source), shard.shard(self.holdout_source)
        if self.joint:
            return (semi_supervised_dataset(
                        train, shard.shard(self.unlabelled_source), model.task,
                        config.image_size, batch_size, config.seed, config.unlabelled_ratio,
                        config.pseudo_label_threshold > 0, config.pretext_weight > 0),
                    labelled_dataset(holdout, config.image_size, batch_size, False, 0))
        if not config.freeze_encoders:
            return (labelled_dataset(train, config.image_size, batch_size, True, config.seed),
                    labelled_dataset(holdout, config.image_size, batch_size, False, 0))
        train, holdout = ((np.asarray(predict_images(self.extractor, source, batch_size),
                                      np.float32),  # bfloat16 under --mixed-precision
                           source.labels.astype(np.int32)) for source in (train, holdout))
        log.info("Frozen backbones: features of %d + %d images computed once (%.1f MiB).",
                 len(train[1]), len(holdout[1]), (train[0].nbytes + holdout[0].nbytes) / 2**20)
        return (tf.data.Dataset.from_tensor_slices(train)
                .shuffle(len(train[1]), seed=config.seed, reshuffle_each_iteration=True)
                .batch(batch_size).prefetch(tf.data.AUTOTUNE),
                tf.data.Dataset.from_tensor_slices(holdout).batch(batch_size))

    def summarise(self, model: SplitBrainClassifier, global_batch: int, seconds: float) -> dict:
        """Calibrates ``best.keras`` on the held-out images (temperature scaling; skipped, T = 1,
        when they are too few: ``keras_sb.calibration.minimum_images``) and scores it once on
        the val split (report.json, confusion.png)."""
        config, run = self.config, self.run
        best = keras.saving.load_model(run.best, compile=False)
        holdout_logits = predict_images(best, self.holdout_source, global_batch)
        best.temperature = fit_temperature(holdout_logits, self.holdout_source.labels)
        save_model(best, run.best)
        reported = self.test_source or self.holdout_source
        report = evaluate_classifier(best, reported, global_batch, config.top_k)
        write_report(report, run.path)
        top_k = next(k for k in report if k.startswith("top") and k != "top1")
        holdout = classification_report(self.holdout_source.labels, softmax(holdout_logits),
                                         self.holdout_source.class_names, config.top_k,
                                         scores=holdout_logits)
        log.info("%s top-1 %.4f, %s %.4f, ECE %.4f (uncalibrated %.4f; temperature %.3f) "
                 "(best checkpoint %s)", reported.description, report["top1"], top_k,
                 report[top_k], report["ece"], report["ece_uncalibrated"], best.temperature,
                 run.best)
        return {
            "stage": config.stage,
            "init": config.init,
            "train_images": len(self.train_source),
            "holdout_images": len(self.holdout_source),
            "reported_on": "val" if self.test_source else "holdout",
            "epochs": len(run.read_log()),
            # The same figures as log.csv's val_acc and val_topK at the best epoch.
            "holdout_top1": round(holdout["top1"], 4),
            f"holdout_{top_k}": round(holdout[top_k], 4),
            "val_top1": round(report["top1"], 4),
            f"val_{top_k}": round(report[top_k], 4),
            "val_ece": round(report["ece"], 4),
            "val_ece_uncalibrated": round(report["ece_uncalibrated"], 4),
            "temperature": round(best.temperature, 4),
            "temperature_fitted": len(self.holdout_source) >= minimum_images(best.num_classes),
            "wall_seconds_last_session": round(seconds, 1),
            "precision": keras.config.dtype_policy().name,
            "best_checkpoint": str(run.best),
        }


def train_classifier(config: SupervisedConfig) -> dict:
    """Run (or resume) a fine-tuning or linear-probe stage; returns its summary."""
    with training_precision(config.mixed_precision):
        return ClassifierTraining(config)()
