# ruff: noqa: I001  (keras_sb must be imported before TensorFlow to mute its start-up logs)
"""Run by test_pretrain.py in a fresh process: pretraining steps on 2 logical CPU devices
under MirroredStrategy vs the default strategy, from the same weights on the same batches.

Prints one JSON line: replica counts, per-epoch losses and final outputs of both runs.
"""

import json
import sys
from pathlib import Path

import keras_sb  # noqa: F401
import tensorflow as tf

# Must run before TensorFlow initialises its devices: two logical CPUs, also on a GPU host.
tf.config.set_visible_devices([], "GPU")
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_sb.data import open_images  # noqa: E402
from keras_sb.models.split_brain import SplitBrain  # noqa: E402
from keras_sb.training.distribute import select_strategy  # noqa: E402

GLOBAL_BATCH = 8


def main(data_dir: str) -> None:
    source = open_images(data_dir, "unlabelled")
    images = np.stack([im for im, _ in source.dataset().take(16).as_numpy_iterator()]) / 255
    keras.utils.set_random_seed(0)
    reference = SplitBrain("simple", width=0.5, ab_bins="grid:10")
    channels, targets = reference.task.encode(images)
    weights = reference.get_weights()
    results = {}
    for name in ("default", "mirrored"):
        strategy = select_strategy(name)
        with strategy.scope():
            model = SplitBrain("simple", width=0.5, ab_bins="grid:10")
            model.set_weights(weights)
            model.compile_for_pretraining(1e-3)
        dataset = tf.data.Dataset.from_tensor_slices((channels, targets)).batch(GLOBAL_BATCH)
        history = model.fit(dataset, epochs=3, verbose=0)
        outputs = model.predict(channels[:4], verbose=0)
        results[name] = {
            "replicas": strategy.num_replicas_in_sync,
            "loss": history.history["loss"],
            "color": outputs["color"].ravel()[:2000].tolist(),
        }
    print(json.dumps(results))


if __name__ == "__main__":
    main(str(Path(sys.argv[1])))
