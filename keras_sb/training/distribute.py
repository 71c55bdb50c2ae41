"""Choosing the tf.distribute strategy: several GPUs -> MirroredStrategy, several workers
(``TF_CONFIG``) -> MultiWorkerMirroredStrategy, with no flag; and what workers share."""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from keras_sb.commands import command
from keras_sb.constants import STRATEGIES
from keras_sb.data import DataError, ImageSource
from keras_sb.training.keras_multi_worker import fix_keras_for_multi_worker
from keras_sb.training.worker_start import (
    check_port_free,
    differences,
    mismatch_message,
    settings_digests,
    start_deadline,
    start_timeout,
)

TRAINING_TASKS = ("chief", "worker")  # in the order TensorFlow numbers their replicas


@dataclass(frozen=True)
class Cluster:
    """This process's place among the ``workers`` training tasks that ``TF_CONFIG`` lists
    (chief first, then the workers); one worker when it is unset."""

    workers: int = 1
    index: int = 0
    # {task ("chief 0", "worker 1"): "host:port"}, in the same order (for messages)
    addresses: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    @property
    def is_chief(self) -> bool:
        """The task that writes the run folder: the chief, or worker 0 when there is none."""
        return self.index == 0

    def shard(self, source: ImageSource) -> ImageSource:
        """This worker's share of ``source``: every ``workers``-th image from ``index`` on."""
        if self.workers == 1:
            return source
        if len(source) < self.workers:
            raise DataError(f"{source.description}: fewer than the {self.workers} workers")
        return source.subset(np.arange(len(source)) % self.workers == self.index)

    @classmethod
    def from_environment(cls) -> Cluster:
        """The cluster ``TF_CONFIG`` describes (as Kubeflow, Vertex AI, Ray and the local
        launcher set it); ValueError naming it when it cannot be used."""
        text = os.environ.get("TF_CONFIG", "").strip()
        if not text:
            return cls()
        try:
            config = json.loads(text)
            cluster, task = config.get("cluster", {}), config.get("task", {})
            task_type, task_index = task.get("type"), int(task.get("index", 0))
        except (ValueError, AttributeError, TypeError) as error:
            raise ValueError(f"TF_CONFIG is not valid: {error}. Expected JSON such as "
                             '{"cluster": {"worker": ["host1:port", "host2:port"]}, '
                             '"task": {"type": "worker", "index": 0}}') from None
        if cluster.get("ps"):
            raise ValueError("TF_CONFIG lists parameter servers ('ps'): keras-sb trains "
                             "synchronously (MultiWorkerMirroredStrategy); list only "
                             "'chief' and 'worker' tasks")
        if task_type not in TRAINING_TASKS:
            raise ValueError(f"TF_CONFIG's task type {task_type!r} does not train: keras-sb "
                             f"runs as {' or '.join(TRAINING_TASKS)} tasks")
        offset = len(cluster.get("chief", [])) if task_type == "worker" else 0
        addresses = tuple((f"{task} {index}", str(address)) for task in TRAINING_TASKS
                          for index, address in enumerate(cluster.get(task, [])))
        return cls(len(addresses), offset + task_index, addresses)


def select_strategy(name: str = "auto", cluster: Cluster | None = None
                    ) -> tf.distribute.Strategy:
    """``auto``: MultiWorkerMirroredStrategy when ``cluster`` has several workers, else
    MirroredStrategy over all GPUs when more than one is visible, else the default.

    ``multi_worker`` (each worker uses all its GPUs) must be chosen before TensorFlow runs
    anything in the process. ``mirrored`` mirrors over all GPUs, or over all logical CPU
    devices when there is no GPU (how multi-device code is tested on a CPU); ``one_device``
    pins the first GPU (or CPU).
    """
    cluster = cluster or Cluster()
    if name not in STRATEGIES:
        raise ValueError(f"--strategy must be one of {STRATEGIES}, got {name!r}")
    if name == "auto" and cluster.workers > 1:
        name = "multi_worker"
    if name == "multi_worker":
        return multi_worker_strategy(cluster)
    if cluster.workers > 1:
        raise ValueError(f"TF_CONFIG lists {cluster.workers} workers, but --strategy {name} "
                         "trains on one machine: use --strategy auto or multi_worker, or unset "
                         "TF_CONFIG")
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.OneDeviceStrategy(gpus[0] if gpus else "/cpu:0")


@functools.cache
def multi_worker_strategy(cluster: Cluster) -> tf.distribute.MultiWorkerMirroredStrategy:
    """The process's one MultiWorkerMirroredStrategy (the stages of ``keras-sb classifier``
    share it: TensorFlow sets up the collectives once per process), once every worker of
    ``cluster`` has joined: this worker's port in use is named, and the process ends if the
    others do not join in time (:mod:`worker_start`)."""
    fix_keras_for_multi_worker()
    if not cluster.addresses:  # no TF_CONFIG: one worker
        return _multi_worker_strategy()
    task, address = cluster.addresses[cluster.index]
    check_port_free(address, task)
    others = dict(cluster.addresses[:cluster.index] + cluster.addresses[cluster.index + 1:])
    try:
        with start_deadline(start_timeout(), others):
            return _multi_worker_strategy()
    except tf.errors.OpError as error:  # "Could not start gRPC server": taken since checked
        raise ValueError(f"this worker ({task}) could not listen at {address} (TF_CONFIG): "
                         f"{error.message.splitlines()[0]}") from None


def _multi_worker_strategy() -> tf.distribute.MultiWorkerMirroredStrategy:
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as error:  # "Collective ops must be configured at program startup"
        raise RuntimeError(f"{error}: multi-worker training must be set up before TensorFlow "
                           "runs anything in the process; start each worker as its own "
                           f"`{command('STAGE')} ...` process") from None


def check_same_settings(strategy: tf.distribute.Strategy, cluster: Cluster,
                        settings: dict) -> None:
    """Raise ValueError on every worker of ``cluster``, naming the settings, when the workers
    were started with different settings (all but ``worker_start.LOCAL_SETTINGS``)."""
    names, digests = settings_digests(settings)
    per_worker = strategy.num_replicas_in_sync // cluster.workers

    def gather(context, tensor):
        return context.all_gather(tensor[None], axis=0)

    [everyone] = _across_replicas(strategy, [digests], gather)
    found = differences(names, everyone[::per_worker])
    if found:
        raise ValueError(mismatch_message(found))


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def from_chief(strategy: tf.distribute.Strategy, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """The chief's ``arrays`` on every worker (a sum over replicas in which only the first
    contributes; every worker must call this with arrays of the same shapes and dtypes)."""

    def chief_only(context, tensor):
        first = tf.equal(context.replica_id_in_sync_group, 0)
        return context.all_reduce("SUM", tf.where(first, tensor, tf.zeros_like(tensor)))

    return _across_replicas(strategy, arrays, chief_only)


def minimum_over_workers(strategy: tf.distribute.Strategy, values: list[int]) -> list[int]:
    """Each of ``values``' smallest value across the workers."""

    def smallest(context, tensor):
        return tf.reduce_min(context.all_gather(tensor[None], axis=0), axis=0)

    arrays = [np.array(v, np.int64) for v in values]
    return [int(v) for v in _across_replicas(strategy, arrays, smallest)]


def _across_replicas(strategy: tf.distribute.Strategy, arrays: list[np.ndarray],
                     combine) -> list[np.ndarray]:
    """``combine(replica_context, tensor)`` of each array (integers as float64), in every
    replica; returns this worker's first result of each."""
    tensors = [tf.constant(a, tf.float64 if a.dtype.kind in "biu" else a.dtype)
               for a in arrays]

    def replica_fn():
        context = tf.distribute.get_replica_context()
        return [combine(context, t) for t in tensors]

    combined = strategy.run(tf.function(replica_fn))
    return [strategy.experimental_local_results(c)[0].numpy().astype(a.dtype)
            for c, a in zip(combined, arrays, strict=True)]
