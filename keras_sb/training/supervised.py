"""Stages ``finetune`` and ``linprobe``: a classifier on a pretext model's features, trained
on (few) labelled images, from a pretraining run or from random initialisation."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf

from keras_sb.checkpoints import checkpoint_config, checkpoint_path, load_checkpoint
from keras_sb.confusion_plot import save_confusion_png
from keras_sb.data import ImageSource, as_float, open_images, stratified_subset
from keras_sb.evaluation import classification_report, save_report_json
from keras_sb.models.backbones import build_backbone
from keras_sb.models.classifier import HEADS, SplitBrainClassifier
from keras_sb.models.split_brain import LOGITS, SplitBrain
from keras_sb.training.config import BackboneConfig, RunConfig, fixed, opt
from keras_sb.training.run_folder import RunFolderError
from keras_sb.training.stage import TrainingStage

log = logging.getLogger("keras_sb")


@dataclass
class InitConfig(BackboneConfig):
    """Where the backbones come from: a pretraining run or checkpoint, or random weights."""

    init: str = opt("random", "finetune/linprobe/knn: a pretraining run folder (or its .keras "
                    "checkpoint) to start from, or 'random' (uses --encoder etc.)", resume=True)

    def resolve_init(self) -> None:
        """Check the backbone flags, then take the pretrained model's settings from --init."""
        self.check_backbone()
        if self.init != "random":
            self.take_pretrained_settings(pretrained_settings(self.init))

    def take_pretrained_settings(self, pretrained: dict) -> None:
        """Record the pretrained model's settings; a flag given with another value is an
        error naming both (a flag left at its default takes the pretrained value)."""
        for f in dataclasses.fields(BackboneConfig):
            ours, theirs = getattr(self, f.name), pretrained.get(f.name, f.default)
            if ours not in (f.default, theirs):
                raise ValueError(f"--{f.name.replace('_', '-')} {ours} conflicts with --init "
                                 f"{self.init}, which was trained with {theirs}: leave the "
                                 "flag out (the pretrained setting is used)")
            setattr(self, f.name, theirs)

    def load_backbone(self) -> SplitBrain:
        """The pretext model of ``--init``: a run folder's best checkpoint, a .keras file,
        or a freshly initialised one."""
        if self.init == "random":
            return self.build_backbone()
        return load_checkpoint(self.init, SplitBrain, "--init")

    def default_out(self, stage: str, labels_per_class: int) -> str:
        origin = "random" if self.init == "random" else Path(self.init).name
        labels = f"{labels_per_class}pc" if labels_per_class else "all"
        return f"runs/{stage}-{origin}-{labels}"


@dataclass
class SupervisedConfig(InitConfig, RunConfig):
    """Settings shared by fine-tuning and the linear probe."""

    labels_per_class: int = opt(0, "finetune/linprobe/knn: train on exactly N labelled images "
                                "per class, stratified and seeded (0: all)", resume=True,
                                minimum=0)
    top_k: int = opt(5, "finetune/linprobe/knn/evaluate: also report top-k accuracy",
                     minimum=1)
    stage: str = fixed("")
    head: str = fixed("shallow")
    feature_layer: str = fixed(LOGITS)
    feature_dims: int = fixed(28800)
    freeze_encoders: bool = fixed(False)

    def __post_init__(self):
        self.out = self.out or self.default_out(self.stage, self.labels_per_class)
        self.check_run()
        self.resolve_init()


@dataclass
class FinetuneConfig(SupervisedConfig):
    """The original system's protocol: a head on the networks' 12x12 outputs, whole model
    trained."""

    head: str = opt("shallow", "finetune: classifier on the concatenated 12x12 outputs",
                    resume=True, choices=HEADS)
    freeze_encoders: bool = opt(False, "finetune: keep the pretrained backbones fixed",
                                resume=True)
    stage: str = fixed("finetune")


@dataclass
class LinprobeConfig(SupervisedConfig):
    """The paper's protocol: a linear classifier on frozen intermediate conv features."""

    feature_layer: str = opt("conv3", "linprobe: backbone stage whose output is the feature "
                             "(simple: conv1..conv4; alex: conv1..conv5, fc6, fc7; resnet: "
                             "stem, stage1..stage4, pool; googl: stem, inception3..5) or "
                             "logits", resume=True)
    feature_dims: int = opt(9216, "linprobe: average-pool the backbones' features to at most "
                            "this many values in total (the paper uses about 9k)",
                            resume=True, minimum=1)
    stage: str = fixed("linprobe")
    freeze_encoders: bool = fixed(True)


def pretrained_settings(init: str) -> dict:
    """The constructor arguments of the pretext model ``--init`` names (run folder or .keras
    file), read from its config without loading weights."""
    config = checkpoint_config(checkpoint_path(init, "--init"), "--init")
    if config.get("class_name") != "SplitBrain":
        raise RunFolderError(f"--init {init} holds a {config.get('class_name')}, not a "
                             "pretraining checkpoint (SplitBrain)")
    return config["config"]


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


class ClassifierTraining(TrainingStage):
    """A classifier on the pretext model's features (fine-tuning or linear probe)."""

    monitor = "val_acc"
    mode = "max"

    def open_data(self) -> None:
        config = self.config
        self.train_source = open_images(config.data, "train")
        self.val_source = open_images(config.data, "val")
        if config.labels_per_class:
            self.train_source = stratified_subset(self.train_source, config.labels_per_class,
                                                  config.seed)
        log.info("Training on %s, validating on %s.", self.train_source.description,
                 self.val_source.description)

    def check_inputs(self) -> None:
        """``--feature-layer`` must be a stage of the backbone, and the ``--init`` checkpoint
        must lie outside the run folder (training there would replace it, and --overwrite
        delete it)."""
        config = self.config
        if config.feature_layer != LOGITS:  # stage names do not depend on the width
            backbone = build_backbone(config.encoder, in_channels=1, width=1e-3,
                                      image_size=config.image_size)
            try:
                backbone.stage_model(config.feature_layer)
            except ValueError as error:
                raise ValueError(f"--feature-layer: {error}, or {LOGITS}") from None
        if config.init == "random":
            return
        init = checkpoint_path(self.config.init, "--init").resolve()
        if self.run.path.resolve() in init.parents:
            raise RunFolderError(f"--init {self.config.init} lies inside --out {self.run.path}:"
                                 " training would replace it. Give another --out.")

    def build_model(self) -> SplitBrainClassifier:
        config, names = self.config, self.train_source.class_names
        model = SplitBrainClassifier(config.load_backbone(), len(names), names, config.head,
                                     config.feature_layer, config.feature_dims,
                                     config.freeze_encoders)
        return compile_classifier(model, config.learning_rate, config.top_k)

    def datasets(self, model: SplitBrainClassifier, global_batch: int):
        config = self.config
        return (labelled_dataset(self.train_source, config.image_size, global_batch, True,
                                 config.seed),
                labelled_dataset(self.val_source, config.image_size, global_batch, False, 0))

    def summarise(self, model: SplitBrainClassifier, global_batch: int, seconds: float) -> dict:
        """Scores of ``best.keras`` on the val split (report.json, confusion.png)."""
        config, run = self.config, self.run
        best = keras.saving.load_model(run.best, compile=False)
        report = evaluate_classifier(best, self.val_source, global_batch, config.top_k)
        write_report(report, run.path)
        top_k = next(k for k in report if k.startswith("top") and k != "top1")
        log.info("val top-1 %.4f, %s %.4f (best checkpoint %s)", report["top1"], top_k,
                 report[top_k], run.best)
        return {
            "stage": config.stage,
            "init": config.init,
            "train_images": len(self.train_source),
            "epochs": len(run.read_log()),
            "val_top1": round(report["top1"], 4),
            f"val_{top_k}": round(report[top_k], 4),
            "wall_seconds_last_session": round(seconds, 1),
            "best_checkpoint": str(run.best),
        }


def train_classifier(config: SupervisedConfig) -> dict:
    """Run (or resume) a fine-tuning or linear-probe stage; returns its summary."""
    return ClassifierTraining(config)()
