"""What a stage does differently on several workers: each worker's run folder, the chief's
resume state shared with the others, and datasets split between them (the strategy and the
start-up checks: ``distribute.py``, ``worker_start.py``)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from keras_sb.data import DataError
from keras_sb.training.distribute import Cluster, from_chief, minimum_over_workers
from keras_sb.training.resume import ResumeState, assign
from keras_sb.training.run_folder import RunFolder

WORKER_FOLDER = "keras-sb-worker-"


def share_resume_state(model: keras.Model, state: ResumeState, run: RunFolder, monitor: str,
                       epochs: int, extending: bool) -> tuple[dict, list[float]]:
    """The chief's resume state (weights, optimizer state, epochs done, the ``monitor``
    value of each) on every worker: the others' folders are new, and need not see the chief's.
    ``epochs``: the epochs asked for; ``extending``: a finished run given more of them.
    Returns (the state, the monitored values)."""
    committed = state.read()
    history = run.logged(monitor) if committed["epochs"] else []
    numbers = np.full(2 + epochs, np.nan)  # the same shape on every worker
    numbers[:2] = committed["epochs"], committed["complete"] and not extending
    history = history[:epochs]  # more epochs done than asked for: no training
    numbers[2:2 + len(history)] = history
    variables = state.variables(model)
    values = (state.values(committed) if committed["epochs"]
              else [np.asarray(v) for v in variables])
    *values, numbers = from_chief(model.distribute_strategy, [*values, numbers])
    assign(variables, values, "of the chief")
    return ({"epochs": int(numbers[0]), "complete": bool(numbers[1])},
            [float(v) for v in numbers[2:] if not np.isnan(v)])


def distribute_datasets(strategy: tf.distribute.Strategy, cluster: Cluster,
                        train: tf.data.Dataset, val: tf.data.Dataset) -> tuple:
    """This worker's datasets of per-replica batches as distributed datasets, and the
    held-out steps: as many batches as every worker has (the last may be left out)."""
    local = strategy.num_replicas_in_sync // cluster.workers
    [val_steps] = minimum_over_workers(strategy, [int(val.cardinality()) // local])
    if val_steps < 1:
        raise DataError(f"too few held-out images for {strategy.num_replicas_in_sync} "
                        "devices: every device needs at least one; raise --val-fraction")
    return (strategy.distribute_datasets_from_function(lambda _: train),
            strategy.distribute_datasets_from_function(
                lambda _: val.take(val_steps * local).repeat()),
            val_steps)


@contextlib.contextmanager
def worker_folder(cluster: Cluster, out: str) -> Iterator[str]:
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


def remove_orphaned_worker_folders() -> None:
    """Delete the temporary worker folders of processes that no longer run."""
    for folder in Path(tempfile.gettempdir()).glob(f"{WORKER_FOLDER}*-*"):
        pid = folder.name[len(WORKER_FOLDER):].split("-")[0]
        if pid.isdigit() and not process_exists(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def process_exists(pid: int) -> bool:
    """Whether a process ``pid`` runs (another user's included)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True
