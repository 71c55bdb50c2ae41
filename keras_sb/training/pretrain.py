"""Stage ``pretrain``: train the split-brain pair on unlabelled images."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from keras_sb.data import ImageSource, as_float, open_images
from keras_sb.models.split_brain import compile_for_pretraining
from keras_sb.targets import TargetCodec
from keras_sb.training.callbacks import PreviewGrid
from keras_sb.training.config import BackboneConfig, RunConfig, opt
from keras_sb.training.distribute import select_strategy
from keras_sb.training.fitting import fit_in_run
from keras_sb.training.run_folder import RunFolder

log = logging.getLogger("keras_sb")


@dataclass
class PretrainConfig(BackboneConfig, RunConfig):
    """Settings of a pretraining run."""

    val_fraction: float = opt(0.05, "pretrain: share of the images held out for validation",
                              above=0, below=1)
    previews: bool = opt(True, "pretrain: write previews/epoch_NNN.png after each epoch")

    def __post_init__(self):
        self.out = self.out or f"runs/pretrain-{self.encoder}"
        self.check_run()
        self.check_backbone()


# Settings that must match for a rerun to resume the run in the same folder.
RESUME_KEYS = ("data", "encoder", "width", "color_space", "l_bins", "ab_bins", "image_size",
               "batch_size", "learning_rate", "lr_decay", "val_fraction", "seed")
PREVIEW_IMAGES = 6


def pretraining_dataset(source: ImageSource, codec: TargetCodec, image_size: int,
                        batch_size: int, training: bool, seed: int) -> tf.data.Dataset:
    """Batches of (channels, {"color", "lightness"} targets): images decoded in parallel, then
    colours converted a batch at a time with XLA (see ``benchmarks/``)."""
    dataset = source.dataset(image_size, training=training, seed=seed).batch(batch_size)
    dataset = dataset.map(lambda images, _: codec.encode(images, compiled=True),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)
    if not training:
        dataset = dataset.cache()
    return dataset.prefetch(tf.data.AUTOTUNE)


def pretrain(config: PretrainConfig) -> dict:
    """Run (or resume) pretraining; returns the run summary also written to summary.json."""
    run = RunFolder(config.out)
    settings = dataclasses.asdict(config)
    if run.already_finished(settings, RESUME_KEYS, config.overwrite):
        return {}
    source = open_images(config.data, "unlabelled")
    train_source, val_source = source.split(config.val_fraction, config.seed)
    run.start(settings, RESUME_KEYS, config.overwrite)
    log.info("Pretraining on %d images, validating on %d (%s).", len(train_source),
             len(val_source), source.description)

    strategy = select_strategy(config.strategy)
    global_batch = config.batch_size * strategy.num_replicas_in_sync
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        model = config.build_backbone()
        compile_for_pretraining(model, config.learning_rate)
    log.info("%s x2, %d parameters, %d device(s), global batch %d.", config.encoder,
             model.count_params(), strategy.num_replicas_in_sync, global_batch)

    def data(src, training):
        return pretraining_dataset(src, model.codec, config.image_size, global_batch,
                                   training, config.seed)

    extra = []
    if config.previews:
        preview = val_source.dataset(config.image_size).take(PREVIEW_IMAGES).batch(PREVIEW_IMAGES)
        extra.append(PreviewGrid(as_float(next(iter(preview))[0]).numpy(), run.previews))
    seconds = fit_in_run(model, run, config, data(train_source, True), data(val_source, False),
                         "val_loss", "min", tuple(extra))
    summary = summarise(run, seconds)
    run.write_summary(summary)
    return summary


def summarise(run: RunFolder, seconds: float) -> dict:
    """Per-epoch losses from the CSV log (all sessions of a resumed run) and the wall time."""
    rows = run.read_log()
    losses = [round(float(r["loss"]), 4) for r in rows]
    val_losses = [round(float(r["val_loss"]), 4) for r in rows]
    return {
        "epochs": len(rows),
        "loss": losses,
        "val_loss": val_losses,
        "best_val_loss": min(val_losses),
        "best_epoch": int(np.argmin(val_losses)) + 1,
        "wall_seconds_last_session": round(seconds, 1),
        "best_checkpoint": str(run.best),
        "last_checkpoint": str(run.last),
    }
