"""The skeleton every training stage runs: run folder, inputs, device strategy, seeding,
model in scope, resumable ``fit`` with the shared callbacks, and the summary.

A stage subclasses :class:`TrainingStage` and supplies its data, model and summary; anything
about how training runs (devices, workers, resuming) is changed here, once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from keras_sb.data import DataError
from keras_sb.training.callbacks import run_callbacks
from keras_sb.training.config import RunConfig, resume_keys
from keras_sb.training.distribute import (
    Cluster,
    check_same_settings,
    from_chief,
    is_multi_worker,
    minimum_over_workers,
    select_strategy,
)
from keras_sb.training.resume import ResumeState, assign
from keras_sb.training.run_folder import RunFolder, setting_types

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
            committed, history = self.share_resume_state(trained, state)
            train, val, steps["validation_steps"] = self.distribute(strategy, train, val)
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
            callbacks = run_callbacks(run, state, self.monitor, self.mode, config.patience,
                                      config.learning_rate, config.lr_decay, done > 0, history,
                                      self.callbacks(model), model, config.snapshot_every)
            trained.fit(train, validation_data=val, epochs=config.epochs, initial_epoch=done,
                        callbacks=callbacks, shuffle=False, verbose=1 if config.progress else 2,
                        **steps)
        return time.time() - started

    def share_resume_state(self, model: keras.Model, state: ResumeState
                           ) -> tuple[dict, list[float]]:
        """The chief's resume state (weights, optimizer state, epochs done, the monitored value
        of each) on every worker: the others' folders are new, and need not see the chief's.
        Returns (the state, the monitored values)."""
        committed = state.read()
        history = self.run.logged(self.monitor) if committed["epochs"] else []
        numbers = np.full(2 + self.config.epochs, np.nan)  # the same shape on every worker
        numbers[:2] = committed["epochs"], committed["complete"] and not self.extending
        history = history[:self.config.epochs]  # more epochs done than asked for: no training
        numbers[2:2 + len(history)] = history
        variables = state.variables(model)
        values = (state.values(committed) if committed["epochs"]
                  else [np.asarray(v) for v in variables])
        *values, numbers = from_chief(model.distribute_strategy, [*values, numbers])
        assign(variables, values, "of the chief")
        return ({"epochs": int(numbers[0]), "complete": bool(numbers[1])},
                [float(v) for v in numbers[2:] if not np.isnan(v)])

    def distribute(self, strategy: tf.distribute.Strategy, train: tf.data.Dataset,
                   val: tf.data.Dataset) -> tuple:
        """This worker's datasets of per-replica batches as distributed datasets, and the
        held-out steps: as many batches as every worker has (the last may be left out)."""
        local = strategy.num_replicas_in_sync // self.cluster.workers
        [val_steps] = minimum_over_workers(strategy, [int(val.cardinality()) // local])
        if val_steps < 1:
            raise DataError(f"too few held-out images for {strategy.num_replicas_in_sync} "
                            "devices: every device needs at least one; raise --val-fraction")
        return (strategy.distribute_datasets_from_function(lambda _: train),
                strategy.distribute_datasets_from_function(
                    lambda _: val.take(val_steps * local).repeat()),
                val_steps)


@contextlib.contextmanager
def worker_folder(cluster: Cluster, out: str):
    """Where this worker writes: ``out`` on the chief; elsewhere a temporary folder, removed
    at the end (one writer, even when every worker is given the same ``out``), as are those
    that killed workers left behind."""
    if cluster.is_chief:
        yield out
        return
    remove_orphaned_worker_folders()
    folder = tempfile.mkdtemp(prefix=f"{WORKER_FOLDER}{os.getpid()}-")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


WORKER_FOLDER = "keras-sb-worker-"


def remove_orphaned_worker_folders() -> None:
    """Delete the temporary worker folders of processes that no longer run."""
    for folder in Path(tempfile.gettempdir()).glob(f"{WORKER_FOLDER}*-*"):
        pid = folder.name[len(WORKER_FOLDER):].split("-")[0]
        if pid.isdigit() and not process_exists(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True
