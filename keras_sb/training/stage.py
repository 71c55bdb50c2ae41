"""The skeleton every training stage runs: run folder, inputs, device strategy, seeding,
model in scope, resumable ``fit`` with the shared callbacks, and the summary.

A stage subclasses :class:`TrainingStage` and supplies its data, model and summary; anything
about how training runs (devices, workers, resuming) is changed here, once.
"""

from __future__ import annotations

import dataclasses
import logging
import time

import keras
import tensorflow as tf

from keras_sb.training.callbacks import run_callbacks
from keras_sb.training.config import RunConfig, resume_keys
from keras_sb.training.distribute import select_strategy
from keras_sb.training.resume import ResumeState
from keras_sb.training.run_folder import RunFolder

log = logging.getLogger("keras_sb")


class TrainingStage:
    """Runs (or resumes) one training stage in ``config.out``.

    Subclasses set ``monitor``/``mode`` (what early stopping and ``best.keras`` follow) and
    implement :meth:`open_data`, :meth:`build_model`, :meth:`datasets` and :meth:`summarise`.
    """

    monitor = "val_loss"
    mode = "min"

    def __init__(self, config: RunConfig):
        self.config = config
        self.run = RunFolder(config.out)

    def settings(self) -> dict:
        """What config.json records."""
        return dataclasses.asdict(self.config)

    def open_data(self) -> None:
        """Find and check the inputs (before the run folder is touched)."""
        raise NotImplementedError

    def check_inputs(self) -> None:
        """Further checks of the inputs against the run folder (none by default)."""

    def build_model(self) -> keras.Model:
        """The compiled model (called inside the strategy's scope, after seeding)."""
        raise NotImplementedError

    def datasets(self, model: keras.Model, global_batch: int
                 ) -> tuple[tf.data.Dataset, tf.data.Dataset]:
        """(training, validation) batches of ``global_batch``."""
        raise NotImplementedError

    def trained_part(self, model: keras.Model) -> keras.Model:
        """The model ``fit`` trains: ``model`` itself, or a part of it sharing its layers
        (checkpoints always save ``model``)."""
        return model

    def callbacks(self, model: keras.Model) -> list[keras.callbacks.Callback]:
        """The stage's own callbacks, run after the shared ones and before the commit."""
        return []

    def summarise(self, model: keras.Model, global_batch: int, seconds: float) -> dict:
        """The run's summary.json, once training has ended."""
        raise NotImplementedError

    def __call__(self) -> dict:
        config, run = self.config, self.run
        settings, keys = self.settings(), resume_keys(config)
        if run.already_finished(settings, keys, config.overwrite):
            return {}
        self.open_data()
        self.check_inputs()
        run.start(settings, keys, config.overwrite)
        strategy = select_strategy(config.strategy)
        global_batch = config.batch_size * strategy.num_replicas_in_sync
        keras.utils.set_random_seed(config.seed)
        with strategy.scope():
            model = self.build_model()
        log.info("%s: %d parameters (%d trained), %d device(s), global batch %d.", model.name,
                 model.count_params(), sum(int(tf.size(w)) for w in model.trainable_weights),
                 strategy.num_replicas_in_sync, global_batch)
        train, val = self.datasets(model, global_batch)
        seconds = self.fit(model, train, val)
        summary = self.summarise(model, global_batch, seconds)
        run.write_summary(summary)
        return summary

    def fit(self, model: keras.Model, train: tf.data.Dataset, val: tf.data.Dataset) -> float:
        """Train for ``config.epochs`` epochs in all, continuing after the last epoch
        committed in the run folder; returns this session's training seconds."""
        config, run = self.config, self.run
        trained = self.trained_part(model)
        state = ResumeState(run.backup)
        committed = state.restore(trained)
        done = committed["epochs"]
        if done:
            log.info("%s: resuming after epoch %d of %d.", run.path, done, config.epochs)
            run.trim_log(done)
        started = time.time()
        if not committed["complete"]:
            callbacks = run_callbacks(run, state, self.monitor, self.mode, config.patience,
                                      config.learning_rate, config.lr_decay, done > 0,
                                      self.callbacks(model), model, config.snapshot_every)
            trained.fit(train, validation_data=val, epochs=config.epochs, initial_epoch=done,
                      callbacks=callbacks, shuffle=False, verbose=1 if config.progress else 2)
        return time.time() - started
