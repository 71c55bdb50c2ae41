"""Stages ``finetune`` and ``linprobe``: a classifier on the split-brain features, trained on
(few) labelled images, from a pretraining run or from random initialisation."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from keras_sb.data import ImageSource, as_float, open_images, stratified_subset
from keras_sb.evaluation import classification_report, save_confusion_png, save_report_json
from keras_sb.models.classifier import HEADS, SplitBrainClassifier
from keras_sb.models.split_brain import SplitBrain
from keras_sb.training.config import BackboneConfig, RunConfig, opt
from keras_sb.training.distribute import select_strategy
from keras_sb.training.fitting import fit_in_run
from keras_sb.training.run_folder import (
    RunFolder,
    RunFolderError,
    checkpoint_path,
    load_checkpoint,
)

log = logging.getLogger("keras_sb")

RESUME_KEYS = ("data", "init", "encoder", "width", "color_space", "l_bins", "ab_bins",
               "image_size", "labels_per_class", "head", "feature_layer", "feature_dims",
               "freeze_encoders", "batch_size", "learning_rate", "lr_decay", "seed")


@dataclass
class SupervisedConfig(BackboneConfig, RunConfig):
    """Settings shared by fine-tuning and the linear probe."""

    init: str = opt("random", "finetune/linprobe: a pretraining run folder (or its .keras "
                    "checkpoint) to start from, or 'random' (uses --encoder etc.)")
    labels_per_class: int = opt(0, "finetune/linprobe: train on exactly N labelled images per "
                                "class, stratified and seeded (0: all)", minimum=0)
    top_k: int = opt(5, "finetune/linprobe/evaluate: also report top-k accuracy", minimum=1)

    stage = ""
    head = "shallow"
    feature_layer = "logits"
    feature_dims = 28800
    freeze_encoders = False

    def __post_init__(self):
        if not self.out:
            origin = "random" if self.init == "random" else Path(self.init).name
            labels = f"{self.labels_per_class}pc" if self.labels_per_class else "all"
            self.out = f"runs/{self.stage}-{origin}-{labels}"
        self.check_run()
        self.check_backbone()
        init_run = RunFolder(Path(self.init).expanduser())
        if init_run.config.exists():  # record the pretrained pair's settings, not the defaults
            pretrained = init_run.read_config()
            for f in dataclasses.fields(BackboneConfig):
                setattr(self, f.name, pretrained.get(f.name, getattr(self, f.name)))

    def load_backbone(self) -> SplitBrain:
        """The split-brain pair of ``--init``: a run folder's best checkpoint, a .keras file,
        or a freshly initialised pair."""
        if self.init == "random":
            return self.build_backbone()
        return load_checkpoint(self.init, SplitBrain, "--init")

    def check_init_outside(self, run: RunFolder) -> None:
        """Raise RunFolderError unless the ``--init`` checkpoint exists outside ``run``'s
        folder (training there would replace it, and --overwrite delete it)."""
        init = checkpoint_path(self.init, "--init").resolve()
        if run.path.resolve() in init.parents:
            raise RunFolderError(f"--init {self.init} lies inside --out {run.path}: training "
                                 "would replace it. Give another --out.")


@dataclass
class FinetuneConfig(SupervisedConfig):
    """The seed's protocol: a head on both networks' 12x12 outputs, whole model trained."""

    head: str = opt("shallow", "finetune: classifier on the concatenated 12x12 outputs",
                    choices=HEADS)
    freeze_encoders: bool = opt(False, "finetune: keep the pretrained encoders fixed")
    stage = "finetune"


@dataclass
class LinprobeConfig(SupervisedConfig):
    """The paper's protocol: a linear classifier on frozen intermediate conv features."""

    feature_layer: str = opt("conv3_relu", "linprobe: encoder layer whose output is the feature "
                             "(e.g. conv1_relu..conv4_relu for simple, conv5_relu for alex)")
    feature_dims: int = opt(9216, "linprobe: average-pool both halves' features to at most "
                            "this many values in total (the paper uses about 9k)", minimum=1)
    stage = "linprobe"
    freeze_encoders = True


def labelled_dataset(source: ImageSource, image_size: int, batch_size: int, training: bool,
                     seed: int) -> tf.data.Dataset:
    """Batches of (float32 RGB images in [0, 1], labels)."""
    dataset = source.dataset(image_size, training=training, seed=seed).batch(batch_size)
    return dataset.map(lambda images, labels: (as_float(images), labels),
                       num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def compile_classifier(model: keras.Model, learning_rate: float, top_k: int) -> keras.Model:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc"),
                 keras.metrics.SparseTopKCategoricalAccuracy(top_k, name=f"top{top_k}")],
    )
    return model


def evaluate_classifier(model: keras.Model, source: ImageSource, batch_size: int,
                        top_k: int) -> dict:
    """Top-1, top-k, per-class accuracy and confusion matrix of ``model`` on ``source``."""
    images = labelled_dataset(source, model.input_shape[1], batch_size, False, 0)
    logits = model.predict(images.map(lambda image, _: image), verbose=0)
    probabilities = tf.nn.softmax(logits).numpy()
    return classification_report(source.labels, probabilities, source.class_names, top_k)


def write_report(report: dict, folder: Path) -> None:
    save_report_json(report, folder / "report.json")
    save_confusion_png(report, folder / "confusion.png")


def train_classifier(config: SupervisedConfig) -> dict:
    """Run (or resume) a fine-tuning or linear-probe stage; returns its summary."""
    run = RunFolder(config.out)
    settings = {**dataclasses.asdict(config), "head": config.head,
                "feature_layer": config.feature_layer, "feature_dims": config.feature_dims,
                "freeze_encoders": config.freeze_encoders, "stage": config.stage}
    if run.already_finished(settings, RESUME_KEYS, config.overwrite):
        return {}
    train = open_images(config.data, "train")
    val = open_images(config.data, "val")
    if config.labels_per_class:
        train = stratified_subset(train, config.labels_per_class, config.seed)
    if config.init != "random":
        config.check_init_outside(run)
    run.start(settings, RESUME_KEYS, config.overwrite)
    log.info("Training on %s, validating on %s.", train.description, val.description)

    strategy = select_strategy(config.strategy)
    global_batch = config.batch_size * strategy.num_replicas_in_sync
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        model = SplitBrainClassifier(
            config.load_backbone(), len(train.class_names), train.class_names, config.head,
            config.feature_layer, config.feature_dims, config.freeze_encoders)
        compile_classifier(model, config.learning_rate, config.top_k)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    log.info("%s from %s: %d parameters (%d trained), %d device(s), global batch %d.",
             config.stage, config.init, model.count_params(), trainable,
             strategy.num_replicas_in_sync, global_batch)

    seconds = fit_in_run(model, run, config,
                         labelled_dataset(train, config.image_size, global_batch, True,
                                          config.seed),
                         labelled_dataset(val, config.image_size, global_batch, False, 0),
                         "val_acc", "max")
    best = keras.saving.load_model(run.best, compile=False)
    report = evaluate_classifier(best, val, global_batch, config.top_k)
    write_report(report, run.path)
    top_k = next(k for k in report if k.startswith("top") and k != "top1")
    summary = {
        "stage": config.stage,
        "init": config.init,
        "train_images": len(train),
        "epochs": len(run.read_log()),
        "val_top1": round(report["top1"], 4),
        f"val_{top_k}": round(report[top_k], 4),
        "wall_seconds_last_session": round(seconds, 1),
        "best_checkpoint": str(run.best),
    }
    run.write_summary(summary)
    log.info("val top-1 %.4f, %s %.4f (best checkpoint %s)", report["top1"], top_k,
             report[top_k], run.best)
    return summary
