"""Stage ``pretrain``: train the split-brain pair on unlabelled images."""

from __future__ import annotations

import csv
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from keras_sb.color import COLOR_SPACES
from keras_sb.data import SAMPLE_DATA, ImageSource, open_images
from keras_sb.models.encoders import ENCODERS
from keras_sb.models.split_brain import SplitBrain, compile_for_pretraining
from keras_sb.targets import TargetCodec
from keras_sb.training.callbacks import PreviewGrid, run_callbacks
from keras_sb.training.distribute import STRATEGIES, select_strategy
from keras_sb.training.run_folder import RunFolder

log = logging.getLogger("keras_sb")


def _opt(default, help: str, **extra):
    return field(default=default, metadata={"help": help, **extra})


@dataclass
class PretrainConfig:
    """Settings of a pretraining run; each field is a ``--flag`` of ``train.py``."""

    data: str = _opt(SAMPLE_DATA, "image folder: ssl_data_96 layout (its unsupervised/ is "
                     "used), STL-10 binaries, or any folder of images; default: shipped sample")
    out: str = _opt("", "run folder (default runs/pretrain-ENCODER); rerunning the same "
                    "command resumes an interrupted run there")
    encoder: str = _opt("simple", "architecture of both halves", choices=sorted(ENCODERS))
    width: float = _opt(1.0, "channel multiplier (1 = seed widths, 0.5 = the paper's halves)")
    color_space: str = _opt("lab", "how the image is split in two", choices=COLOR_SPACES)
    l_bins: int = _opt(100, "classes for L (channel 0)")
    ab_bins: str = _opt("grid:10", "classes for ab: grid:N (N*N cells) or gamut (in-gamut "
                        "Lab cells of step 10; needs --color-space lab)")
    image_size: int = _opt(96, "input side in pixels (multiple of 8); targets match the "
                        "encoders' output side (12x12 at 96)")
    epochs: int = _opt(20, "maximum epochs")
    batch_size: int = _opt(64, "images per device per step (global batch = this x devices)")
    learning_rate: float = _opt(1e-3, "Adam learning rate of the first epoch")
    lr_decay: float = _opt(0.95, "per-epoch LR multiplier (LR of epoch e = lr * decay^e)")
    patience: int = _opt(5, "early stopping: epochs without a better val loss before stopping")
    val_fraction: float = _opt(0.05, "share of the images held out for validation")
    seed: int = _opt(0, "seed for the hold-out split, shuffling and initial weights")
    strategy: str = _opt("auto", "device strategy (auto: mirrored when >1 GPU)",
                         choices=STRATEGIES)
    previews: bool = _opt(True, "write previews/epoch_NNN.png after each epoch")
    progress: bool = _opt(True, "show a progress bar (otherwise one line per epoch)")
    overwrite: bool = _opt(False, "delete an existing run in --out and start afresh")

    def __post_init__(self):
        self.out = self.out or f"runs/pretrain-{self.encoder}"
        self.data = str(Path(self.data).resolve())
        TargetCodec(self.color_space, self.l_bins, self.ab_bins)  # raises on bad settings
        for name in ("epochs", "batch_size", "image_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be positive")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"--val-fraction must be in (0, 1), got {self.val_fraction}")


# Settings that must match for a rerun to resume the run in the same folder.
RESUME_KEYS = ("data", "encoder", "width", "color_space", "l_bins", "ab_bins", "image_size",
               "batch_size", "learning_rate", "lr_decay", "val_fraction", "seed")
PREVIEW_IMAGES = 6


def pretraining_dataset(source: ImageSource, codec: TargetCodec, image_size: int,
                        batch_size: int, training: bool, seed: int) -> tf.data.Dataset:
    """Batches of (channels, {"color", "lightness"} targets), decoded in parallel."""
    dataset = source.dataset(image_size, training=training, seed=seed).map(
        lambda image, _: codec.encode(image), num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=not training)
    dataset = dataset.batch(batch_size)
    if not training:
        dataset = dataset.cache()
    return dataset.prefetch(tf.data.AUTOTUNE)


def pretrain(config: PretrainConfig) -> dict:
    """Run (or resume) pretraining; returns the run summary also written to summary.json."""
    run = RunFolder(config.out)
    if run.finished and not config.overwrite:
        log.info("%s already holds a finished run (see %s); pass --overwrite to train again.",
                 run.path, run.summary)
        return {}
    settings = dataclasses.asdict(config)
    resuming = run.start(settings, RESUME_KEYS, config.overwrite)
    source = open_images(config.data, "unlabelled")
    train_source, val_source = source.split(config.val_fraction, config.seed)
    log.info("Pretraining on %d images, validating on %d (%s).", len(train_source),
             len(val_source), source.description)

    strategy = select_strategy(config.strategy)
    global_batch = config.batch_size * strategy.num_replicas_in_sync
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        model = SplitBrain(config.encoder, config.width, config.color_space, config.l_bins,
                           config.ab_bins, config.image_size)
        compile_for_pretraining(model, config.learning_rate)
    log.info("%s x2, %d parameters, %d device(s), global batch %d%s.", config.encoder,
             model.count_params(), strategy.num_replicas_in_sync, global_batch,
             ", resuming" if resuming else "")

    def data(src, training):
        return pretraining_dataset(src, model.codec, config.image_size, global_batch,
                                   training, config.seed)

    callbacks = run_callbacks(run, "val_loss", "min", config.patience, config.learning_rate,
                              config.lr_decay, resuming)
    if config.previews:
        preview = val_source.dataset(config.image_size).take(PREVIEW_IMAGES).batch(PREVIEW_IMAGES)
        callbacks.append(PreviewGrid(next(iter(preview))[0].numpy(), run.previews))
    started = time.time()
    model.fit(data(train_source, True), validation_data=data(val_source, False),
              epochs=config.epochs, callbacks=callbacks, shuffle=False,
              verbose=1 if config.progress else 2)
    summary = summarise(run, time.time() - started)
    run.write_summary(summary)
    return summary


def summarise(run: RunFolder, seconds: float) -> dict:
    """Per-epoch losses from the CSV log (all sessions of a resumed run) and the wall time."""
    with run.log.open() as f:
        rows = list(csv.DictReader(f))
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
