"""CPU threads for the split-brain pair: its two halves run side by side, each on half the cores.

The colour and lightness nets do not depend on each other, so TensorFlow's executor runs an op
of each at once. By default each op splits its work over all cores; with half the cores per op
(intra-op threads) the two halves run side by side with less splitting and joining. On a
2-core x86 VM this made pretraining steps ~3 % faster for ``simple`` and ``alex``
(docs/speed.md).
"""

from __future__ import annotations

import os

import tensorflow as tf

HALVES = 2


def available_cores() -> int:
    """The number of CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def share_cores_between_halves() -> int | None:
    """On hosts without a GPU, set TensorFlow's intra-op threads to half the cores.

    Call it before TensorFlow runs its first op. Returns the thread count set, or None where
    TensorFlow keeps its own: a GPU is visible, ``TF_NUM_INTRAOP_THREADS`` is set (the user's
    choice wins), or the runtime has already started with another count.
    """
    if tf.config.list_physical_devices("GPU") or "TF_NUM_INTRAOP_THREADS" in os.environ:
        return None
    threads = max(1, available_cores() // HALVES)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError:  # "cannot be modified after initialization"
        return None
    return threads


def intra_op_threads() -> int:
    """Threads per op in force: TensorFlow's setting, else ``TF_NUM_INTRAOP_THREADS``, else 0
    (TensorFlow's default, all cores)."""
    setting = tf.config.threading.get_intra_op_parallelism_threads()
    return setting or int(os.environ.get("TF_NUM_INTRAOP_THREADS", 0))
