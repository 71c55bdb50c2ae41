# ruff: noqa: I001  (keras_sb must be imported before TensorFlow to mute its start-up logs)
"""Run by test_multi_worker.py, one process per worker (``TF_CONFIG`` set) or alone: two
epochs of pretraining steps on fixed images, in three modes:

- ``single``: the default strategy, global batch 8;
- ``workers``: MultiWorkerMirroredStrategy with keras-sb's Keras fix, each worker feeding
  its shard (every n-th image) in per-replica batches of 8 / n: the same global batches;
- ``unpatched``: the same without the fix (expected to fail while Keras has the bug).

Prints one JSON line: the loss logged after every step and a digest of the final weights.
"""

import hashlib
import json
import sys

import keras_sb  # noqa: F401
import tensorflow as tf

from keras_sb.training.distribute import Cluster

MODE = sys.argv[1]
cluster = Cluster.from_environment()
if MODE == "unpatched":  # before TensorFlow runs anything, as the fix would be
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
elif MODE == "workers":
    from keras_sb.training.distribute import multi_worker_strategy

    strategy = multi_worker_strategy(cluster)
else:
    strategy = tf.distribute.get_strategy()

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_sb.models.split_brain import SplitBrain  # noqa: E402

GLOBAL_BATCH, IMAGES, SIZE = 8, 32, 64


class StepLosses(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))


def main() -> None:
    images = np.random.default_rng(0).random((IMAGES, SIZE, SIZE, 3)).astype("float32")
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = SplitBrain("simple", width=0.25, image_size=SIZE, ab_bins="grid:10")
        model.compile_for_pretraining(1e-3)
    channels, targets = model.task.encode(images)
    if MODE == "single":
        dataset = tf.data.Dataset.from_tensor_slices((channels, targets)).batch(GLOBAL_BATCH)
    else:
        shard = slice(cluster.index, None, cluster.workers)
        local = tf.data.Dataset.from_tensor_slices(
            (channels[shard], {k: v[shard] for k, v in targets.items()}))
        dataset = strategy.distribute_datasets_from_function(
            lambda context: local.batch(context.get_per_replica_batch_size(GLOBAL_BATCH)))
    steps = StepLosses()
    model.fit(dataset, epochs=2, verbose=0, callbacks=[steps])
    weights = b"".join(np.asarray(w).tobytes() for w in model.weights)
    print(json.dumps({"losses": steps.losses, "weights": hashlib.sha256(weights).hexdigest()}))


if __name__ == "__main__":
    main()
