"""``fit`` inside a run folder: resume from its state, then checkpoint, log and commit each
epoch (shared by every training stage)."""

from __future__ import annotations

import logging
import time

import keras
import tensorflow as tf

from keras_sb.training.callbacks import run_callbacks
from keras_sb.training.config import RunConfig
from keras_sb.training.resume import ResumeState
from keras_sb.training.run_folder import RunFolder

log = logging.getLogger("keras_sb")


def fit_in_run(model: keras.Model, run: RunFolder, config: RunConfig, train: tf.data.Dataset,
               val: tf.data.Dataset, monitor: str, mode: str,
               extra_callbacks: tuple[keras.callbacks.Callback, ...] = ()) -> float:
    """Train ``model`` for ``config.epochs`` epochs in all, continuing after the last epoch
    committed in ``run``; returns this session's training seconds."""
    state = ResumeState(run.backup)
    committed = state.restore(model)
    done = committed["epochs"]
    if done:
        log.info("%s: resuming after epoch %d of %d.", run.path, done, config.epochs)
        run.trim_log(done)
    started = time.time()
    if not committed["complete"]:
        callbacks = run_callbacks(run, state, monitor, mode, config.patience,
                                  config.learning_rate, config.lr_decay, done > 0,
                                  list(extra_callbacks))
        model.fit(train, validation_data=val, epochs=config.epochs, initial_epoch=done,
                  callbacks=callbacks, shuffle=False, verbose=1 if config.progress else 2)
    return time.time() - started
