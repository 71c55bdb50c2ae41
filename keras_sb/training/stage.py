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
import numpy as np
import tensorflow as tf

from keras_sb.training.callbacks import run_callbacks
from keras_sb.training.config import RunConfig, resume_keys
from keras_sb.training.distribute import (
    Cluster,
    check_same_settings,
    from_chief,
    is_multi_worker,
    select_strategy,
)
from keras_sb.training.resume import ResumeState
from keras_sb.training.run_folder import RunFolder, setting_types
from keras_sb.training.workers import distribute_datasets, share_resume_state, worker_folder

log = logging.getLogger("keras_sb")


class TrainingStage:
    """Runs (or resumes) one training stage in ``config.out``.

    Subclasses set ``monitor``/``mode`` (what early stopping and ``best.keras`` follow) and
    implement :meth:`open_data` (which sets ``train_source``, the training images),
    :meth:`build_model`, :meth:`datasets` and :meth:`summarise`.

    On several workers (``TF_CONFIG``) every worker runs the stage: only the chief writes the
    run folder and the summary, each worker reads its shard of the images, and all share the
    chief's resume state.
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

    def datasets(self, model: keras.Model, batch_size: int, shard: Cluster
                 ) -> tuple[tf.data.Dataset, tf.data.Dataset]:
        """(training, validation) batches of ``batch_size`` images from this worker's
        ``shard`` of the data."""
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
        config = self.config
        cluster = Cluster.from_environment()
        # First of all: MultiWorkerMirroredStrategy must be set up before TensorFlow runs.
        strategy = select_strategy(config.strategy, cluster)
        with worker_folder(cluster, config.out) as folder:
            self.run = RunFolder(folder)
            with self.run.lock():  # one process at a time: a second one is refused
                return self.train(strategy, cluster if is_multi_worker(strategy) else None)

    def train(self, strategy: tf.distribute.Strategy, cluster: Cluster | None) -> dict:
        """Everything after the strategy, on every worker (``cluster``: None on one)."""
        config, run = self.config, self.run
        self.cluster = cluster
        settings, keys = self.settings(), resume_keys(config)
        if cluster:  # before anything differs between the workers
            check_same_settings(strategy, cluster, settings)
        finished = run.already_finished(settings, keys, config.overwrite,
                                        setting_types(config))
        if cluster:  # the chief's folder decides
            finished = bool(from_chief(strategy, [np.array(finished)])[0])
        if finished:
            return {}
        # A finished run given more epochs is changed only once its state has loaded (fit).
        self.extending = run.finished and not config.overwrite
        self.open_data()
        self.check_inputs()
        if not self.extending:
            run.start(settings, keys, config.overwrite)
        global_batch = config.batch_size * strategy.num_replicas_in_sync
        keras.utils.set_random_seed(config.seed)
        with strategy.scope():
            model = self.build_model()
        workers = f"{cluster.workers} worker(s), " if cluster else ""
        log.info("%s: %d parameters (%d trained), %s%d device(s), global batch %d.",
                 model.name, model.count_params(),
                 sum(int(tf.size(w)) for w in model.trainable_weights), workers,
                 strategy.num_replicas_in_sync, global_batch)
        train, val = self.datasets(model, config.batch_size if cluster else global_batch,
                                   cluster or Cluster())
        seconds = self.fit(model, train, val)
        summary = {}
        if cluster is None or cluster.is_chief:
            summary = self.summarise(model, global_batch, seconds)
            run.write_summary(summary)
        if cluster:  # the others wait for the chief, whose exit ends their coordination
            from_chief(strategy, [np.zeros(1)])
        return summary

    def fit(self, model: keras.Model, train: tf.data.Dataset, val: tf.data.Dataset) -> float:
        """Train for ``config.epochs`` epochs in all, continuing after the last epoch
        committed in the run folder; returns this session's training seconds."""
        config, run = self.config, self.run
        trained = self.trained_part(model)
        strategy = trained.distribute_strategy
        state = ResumeState(run.backup)
        # As many steps as the training set has global batches: the data is repeated, so the
        # count does not depend on how many unreadable images the pipeline skipped.
        global_batch = config.batch_size * strategy.num_replicas_in_sync
        steps = {"steps_per_epoch": max(1, len(self.train_source) // global_batch)}
        train = train.repeat()
        if self.cluster:
            committed, history = share_resume_state(trained, state, run, self.monitor,
                                                    config.epochs, self.extending)
            train, val, steps["validation_steps"] = distribute_datasets(
                strategy, self.cluster, train, val)
        else:
            committed = state.restore(trained)
            history = run.logged(self.monitor) if committed["epochs"] else []
        if self.extending:  # marked unfinished (state first), then config.json and summary
            state.reopen()
            run.start(self.settings(), resume_keys(config), overwrite=False)
            committed["complete"] = False
        done = committed["epochs"]
        if done:
            log.info("%s: resuming after epoch %d of %d.", run.path, done, config.epochs)
            run.trim_log(done)
        started = time.time()
        if not committed["complete"]:
            callbacks = run_callbacks(run, state, config, self.monitor, self.mode, done > 0,
                                      history, self.callbacks(model), model)
            trained.fit(train, validation_data=val, epochs=config.epochs, initial_epoch=done,
                        callbacks=callbacks, shuffle=False, verbose=1 if config.progress else 2,
                        **steps)
        return time.time() - started
