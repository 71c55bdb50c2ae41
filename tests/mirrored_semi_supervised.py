# ruff: noqa: I001  (keras_sb must be imported before TensorFlow to mute its start-up logs)
"""Run by test_semi_supervised.py in a fresh process, on 2 logical CPU devices (one
MirroredStrategy per process: a second one's collectives clash with the first's).

``step``: one step of the joint objective under MirroredStrategy and on one device, from the
same weights; prints one JSON line with the pretext heads after it (the losses are scaled per
replica as Keras' are, so they move alike). ``OUT``: ``finetune`` with unlabelled photos,
mirrored, into run folder OUT."""

import json
import sys

import keras_sb  # noqa: F401
import tensorflow as tf

# Must run before TensorFlow initialises its devices: two logical CPUs, also on a GPU host.
tf.config.set_visible_devices([], "GPU")
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

from keras_sb.cli import main  # noqa: E402
from keras_sb.models import SplitBrain, SplitBrainClassifier  # noqa: E402
from keras_sb.training.distribute import select_strategy  # noqa: E402
from keras_sb.training.semi_supervised import SemiSupervisedTrainer  # noqa: E402

SIZE, HEADS = 64, ("color_head", "lightness_head")


def one_step(strategy_name: str, weights: list, batch: tuple) -> dict:
    strategy = select_strategy(strategy_name)
    with strategy.scope():
        pretext = SplitBrain("simple", width=0.25, l_bins=10, ab_bins="grid:4", image_size=SIZE)
        classifier = SplitBrainClassifier(pretext, 3, feature_layer="conv2", feature_dims=256)
        trainer = SemiSupervisedTrainer(classifier, pretext, 0.5, 0.0, 1.0, 2)
        trainer.compile(optimizer=keras.optimizers.SGD(0.5))
        pretext.set_weights(weights)
    before = [pretext.get_layer(h).get_weights()[0] for h in HEADS]
    logs = trainer.fit(batch, epochs=1, verbose=0).history
    after = [pretext.get_layer(h).get_weights()[0] for h in HEADS]
    return {"replicas": strategy.num_replicas_in_sync, "pretext_loss": logs["pretext_loss"][0],
            "heads": [h.tolist() for h in after],
            "moved": max(float(abs(a - b).max()) for a, b in zip(after, before, strict=True))}


def batches() -> tf.data.Dataset:
    keras.utils.set_random_seed(0)
    reference = SplitBrain("simple", width=0.25, l_bins=10, ab_bins="grid:4", image_size=SIZE)
    images = tf.random.stateless_uniform([8, SIZE, SIZE, 3], [0, 1])
    channels, targets = reference.task.encode(images)
    labelled = tf.data.Dataset.from_tensor_slices(
        ({"images": images[:4]}, {"class": tf.constant([0, 1, 2, 0])})).batch(4)
    pixels = tf.data.Dataset.from_tensor_slices(({"channels": channels}, targets)).batch(8)
    joined = tf.data.Dataset.zip(labelled, pixels).map(
        lambda a, b: ({**a[0], **b[0]}, {**a[1], **b[1]}))
    return reference.get_weights(), joined


def main_(mode: str) -> None:
    if mode == "step":
        weights, batch = batches()
        print(json.dumps({name: one_step(name, weights, batch)
                          for name in ("default", "mirrored")}))
        return
    sys.exit(main(["--stage", "finetune", "--strategy", "mirrored", "--init", "random",
                   "--width", "0.25", "--image-size", str(SIZE), "--l-bins", "10", "--ab-bins",
                   "grid:4", "--feature-layer", "conv2", "--labels-per-class", "2",
                   "--batch-size", "4", "--epochs", "1", "--pretext-weight", "0.5",
                   "--pseudo-label-threshold", "0.3", "--unlabelled-ratio", "2",
                   "--no-progress", "--out", mode]))


if __name__ == "__main__":
    main_(sys.argv[1])
