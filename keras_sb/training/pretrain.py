"""Stage ``pretrain``: train the pretext model on unlabelled images."""

from __future__ import annotations

import logging

import keras
import numpy as np
import tensorflow as tf

from keras_sb.color import channels_to_lab_ab
from keras_sb.commands import command
from keras_sb.data import ImageSource, as_float, open_images
from keras_sb.data.augment import random_resized_crop
from keras_sb.data.errors import printable, some_names
from keras_sb.models import PretextTask, SplitBrain
from keras_sb.targets import rebalancing_weights
from keras_sb.training.callbacks import PreviewGrid
from keras_sb.training.config import PretrainConfig
from keras_sb.training.distribute import Cluster
from keras_sb.training.precision import training_precision
from keras_sb.training.stage import TrainingStage

log = logging.getLogger("keras_sb")


PREVIEW_IMAGES = 6


PRIOR_IMAGES = 2000  # images whose ab targets estimate the class prior of --ab-rebalance


def pretraining_dataset(source: ImageSource, task: PretextTask, image_size: int,
                        batch_size: int, training: bool, seed: int,
                        class_weights: dict[str, np.ndarray] | None = None,
                        crop_area: float = 1.0) -> tf.data.Dataset:
    """Batches of (channels, {direction: target}), and per-pixel {direction: weight} when
    ``class_weights`` weighs some direction's classes: images decoded in parallel, then
    colours converted a batch at a time with XLA (see ``benchmarks/``). Training with
    ``crop_area`` < 1: each image is first a random resized crop keeping that share of its
    area or more (``random_resized_crop``)."""
    dataset = source.dataset(image_size, training=training, seed=seed).batch(batch_size)
    crops = training and crop_area < 1
    if crops:
        dataset = tf.data.Dataset.zip(dataset, tf.data.Dataset.random(
            seed + 1, rerandomize_each_iteration=True)).map(
            lambda pair, crop_seed: (random_resized_crop(as_float(pair[0]),
                                                         tf.stack([crop_seed, 0]),
                                                         (crop_area, 1.0)), pair[1]),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)

    def encode(images, _):
        channels, targets = task.encode(images, compiled=True)
        if not class_weights:
            return channels, targets
        weights = {name: tf.gather(class_weights[name], target) if name in class_weights
                   else tf.ones_like(target, tf.float32) for name, target in targets.items()}
        return channels, targets, weights

    dataset = dataset.map(encode, num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=not training)
    if not training:
        dataset = dataset.cache()
    return dataset.prefetch(tf.data.AUTOTUNE)


class Pretraining(TrainingStage):
    """The pretext model of ``--objective`` on unlabelled images, with a held-out split."""

    def open_data(self) -> None:
        """Lists the images (decoding none of them: start-up does not grow with the data),
        then checks the held-out ones; training skips and counts those that fail."""
        config = self.config
        source = open_images(config.data, "unlabelled", validate=False)
        self.train_source, val_source = source.split(config.val_fraction, config.seed)
        self.val_source = val_source.decodable()
        log.info("Pretraining on %d images, validating on %d (%s).", len(self.train_source),
                 len(self.val_source), source.description)

    def build_model(self) -> SplitBrain:
        config = self.config
        return config.build_pretext_model().compile_for_pretraining(config.learning_rate,
                                                                    config.soft_targets)

    def datasets(self, model: SplitBrain, batch_size: int, shard: Cluster):
        config = self.config
        self.train_shard = shard.shard(self.train_source)
        weights = self.class_weights(model.task)
        return tuple(pretraining_dataset(source, model.task, config.image_size, batch_size,
                                         training, config.seed, weights, config.crop_area)
                     for source, training in ((self.train_shard, True),
                                              (shard.shard(self.val_source), False)))

    def class_weights(self, task: PretextTask) -> dict[str, np.ndarray]:
        """{direction predicting ab classes: its rebalancing weights} with --ab-rebalance,
        from the targets of the first PRIOR_IMAGES training images (the same on every
        worker and every resume); {} without."""
        strength = self.config.ab_rebalance
        names = [d.name for d in task.directions
                 if d.target == "ab" and d.kind == "classification"]
        if not strength or not names:
            return {}
        images = self.train_source.dataset(self.config.image_size).take(PRIOR_IMAGES)
        labels = np.concatenate([task.codec.quantize_ab(task.codec.encode(batch)[1]).numpy()
                                 for batch, _ in images.batch(250)])
        centers = channels_to_lab_ab(task.codec.ab_centers()).numpy()
        weights = rebalancing_weights(labels, centers, strength)
        log.info("Rebalancing the ab classes (--ab-rebalance %g, prior of %d images): "
                 "weights %.2f to %.2f.", strength, len(labels), weights.min(), weights.max())
        return dict.fromkeys(names, weights)

    def callbacks(self, model: SplitBrain) -> list:
        skipped = SkippedImages(self.train_shard)
        if not self.config.previews:
            return [skipped]
        preview = self.val_source.dataset(self.config.image_size).take(PREVIEW_IMAGES)
        images = as_float(next(iter(preview.batch(PREVIEW_IMAGES)))[0]).numpy()
        return [skipped, PreviewGrid(images, self.run.previews)]

    def summarise(self, model: SplitBrain, global_batch: int, seconds: float) -> dict:
        """Per-epoch losses from the CSV log (all sessions of a resumed run) and the wall
        time."""
        rows = self.run.read_log()
        losses = [round(float(r["loss"]), 4) for r in rows]
        val_losses = [round(float(r["val_loss"]), 4) for r in rows]
        best = int(np.argmin(val_losses))
        log.info("Pretraining done: %d epochs, best val loss %.4f at epoch %d, kept in %s.",
                 len(rows), val_losses[best], best + 1, self.run.best)
        return {
            "epochs": len(rows),
            "loss": losses,
            "val_loss": val_losses,
            "best_val_loss": val_losses[best],
            "best_epoch": best + 1,
            "wall_seconds_last_session": round(seconds, 1),
            "precision": keras.config.dtype_policy().name,
            "skipped_images_last_session": len(self.train_shard.skipped_images()),
            "best_checkpoint": str(self.run.best),
            "last_checkpoint": str(self.run.last),
        }


class SkippedImages(keras.callbacks.Callback):
    """Logs, after each epoch, the training images of ``source`` that could not be read or
    decoded since the last report (skipped; recorded as the pipeline decodes them)."""

    def __init__(self, source: ImageSource):
        super().__init__()
        self.source = source
        self.reported = 0

    def on_epoch_end(self, epoch: int, logs=None):
        skipped = self.source.skipped_images()
        new = skipped[self.reported:]
        if new:
            log.warning("Epoch %d: skipped %d training image(s) that could not be read or "
                        "decoded, or are over the size limits (docs/data.md), in %s: %s; %d "
                        "in this session.", epoch + 1, len(new), printable(self.source.location),
                        some_names(new, self.source.location), len(skipped))
        self.reported = len(skipped)


def pretrain(config: PretrainConfig) -> dict:
    """Run (or resume) pretraining; returns the run summary also written to summary.json."""
    with training_precision(config.mixed_precision):
        return Pretraining(config)()


def pretrain_command(config: PretrainConfig) -> dict:
    """The ``pretrain`` command: :func:`pretrain`, then what to run next."""
    summary = pretrain(config)
    log.info("Next: %s --init %s --data LABELLED (or finetune, knn instead of linprobe; %s "
             "--model %s shows its colorizations).", command("linprobe"), config.out,
             command("demo"), config.out)
    return summary
