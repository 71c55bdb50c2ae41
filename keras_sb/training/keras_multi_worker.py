"""A fix for Keras 3's ``fit`` under ``tf.distribute.MultiWorkerMirroredStrategy``.

Keras 3 (up to 3.15.1 at least) fails there, keras-team/keras#20585:

1. ``_maybe_symbolic_build`` builds the model from one batch by ``strategy.reduce``-ing the
   whole ``(x, y)`` structure; the collective strategy cannot reduce a structure ("Attempt to
   convert a value (PerReplica...) with an unsupported type").
2. ``reduce_per_replica`` averages every logged metric across workers with
   ``strategy.reduce("MEAN", value, axis=0)``, which fails for scalars ("Invalid reduction
   dimension 0 for input with 0 dimensions").

The fix builds from the first local replica's batch (only shapes matter there) and reduces
scalars with ``axis=None``. It is applied only to the Keras versions in ``PATCHED``:
``tests/test_multi_worker.py::test_keras_still_needs_the_fix`` runs the unpatched ``fit``
on two workers and fails once a Keras release fixes the bug, so the patch can go.
"""

from __future__ import annotations

import logging

import keras
import tensorflow as tf

log = logging.getLogger("keras_sb")

# Keras versions (major, minor) checked to have the bug: [first, last].
PATCHED = ((3, 0), (3, 15))


def keras_version() -> tuple[int, int]:
    major, minor = keras.version().split(".")[:2]
    return int(major), int(minor)


def needs_fix() -> bool:
    return PATCHED[0] <= keras_version() <= PATCHED[1]


def fix_keras_for_multi_worker() -> None:
    """Apply the fix to this process's Keras, once, if its version needs it."""
    from keras.src.backend.tensorflow import trainer

    if getattr(trainer, "_keras_sb_fixed", False):
        return
    if not needs_fix():
        log.warning("Keras %s is newer than the last version checked for keras-team/keras#20585"
                    " (%d.%d): multi-worker fit runs unpatched. If it fails with 'PerReplica'"
                    " or 'Invalid reduction dimension', install keras<%d.%d.", keras.version(),
                    *PATCHED[1], PATCHED[1][0], PATCHED[1][1] + 1)
        return
    reduce_per_replica = trainer.reduce_per_replica

    def reduce_scalars_too(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(
                strategy):
            return tf.nest.map_structure(
                lambda v: strategy.reduce("MEAN", v, axis=0 if v.shape.rank else None), values)
        return reduce_per_replica(values, strategy, reduction)

    def build_from_local_batch(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(_first_local_value, next(batches))
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    trainer.reduce_per_replica = reduce_scalars_too
    trainer.TensorFlowTrainer._maybe_symbolic_build = build_from_local_batch
    trainer._keras_sb_fixed = True


def _first_local_value(value):
    if isinstance(value, tf.distribute.DistributedValues):
        return value.values[0]
    return value
