"""Micro-benchmarks behind the choices in the input pipeline and the loss (README, Speed).

Usage: ``python benchmarks/ops.py [--batch-size 64] [--repeats 7]``. Prints milliseconds per
call (best of ``--repeats`` blocks of 10 calls) for:

- ``tf.pow`` against keras_sb's exp(p log x) on a [B, 96, 96, 3] float32 batch;
- the Lab conversion of a uint8 [B, 96, 96, 3] batch op by op and compiled with XLA;
- Keras' sparse categorical cross-entropy against ``PixelCrossEntropy``, forward and
  backward, on [B, 12, 12, 100] logits;
- Keras' sparse categorical accuracy against ``PixelAccuracy`` (one update) on the same;
- Keras' BatchNormalization against keras_sb's fused one, each followed by a ReLU, forward
  and backward in training mode, on the simple encoder's first and last activations
  ([B, 48, 48, 12] and [B, 16, 16, 96]).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from any folder
import keras_sb  # noqa: F401  (imports TensorFlow quietly, so before tensorflow)

# isort: split
import keras
import tensorflow as tf

from keras_sb.color import _power, encode_channels
from keras_sb.data import as_float
from keras_sb.models.batch_norm import BatchNormalization
from keras_sb.models.pixel_losses import PixelAccuracy, PixelCrossEntropy


def best_ms(function: Callable[[], object], repeats: int) -> float:
    """Best milliseconds per call over ``repeats`` blocks of 10 calls (after one warm-up)."""
    tf.nest.map_structure(lambda t: t.numpy(), function())
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(10):
            result = function()
        tf.nest.map_structure(lambda t: t.numpy(), result)
        best = min(best, (time.perf_counter() - start) / 10 * 1e3)
    return best


def loss_and_gradient(loss: keras.losses.Loss, labels: tf.Tensor, logits: tf.Variable):
    @tf.function
    def step():
        with tf.GradientTape() as tape:
            value = loss(labels, logits)
        return value, tape.gradient(value, logits)

    return step


def metric_update(metric: keras.metrics.Metric, labels: tf.Tensor, logits: tf.Tensor):
    @tf.function
    def update():
        metric.update_state(labels, logits)
        return metric.result()

    return update


def norm_relu_step(layer: keras.layers.Layer, x: tf.Tensor):
    @tf.function
    def step():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.nn.relu(layer(x, training=True))
        return tape.gradient(y, [x, *layer.trainable_weights])

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    b = args.batch_size
    rgb = tf.random.uniform([b, 96, 96, 3], seed=0)
    pixels = tf.cast(rgb * 255, tf.uint8)
    labels = tf.random.uniform([b, 12, 12], 0, 100, tf.int32, seed=0)
    logits = tf.Variable(tf.random.normal([b, 12, 12, 100], seed=0))

    def lab(images):
        return encode_channels(as_float(images), "lab")

    cases = {
        "tf.pow(x, 2.4)": tf.function(lambda: tf.pow(rgb, 2.4)),
        "exp(2.4 log x)": tf.function(lambda: _power(rgb, 2.4)),
        "Lab, op by op": tf.function(lambda: lab(pixels)),
        "Lab, XLA": tf.function(lambda: lab(pixels), jit_compile=True),
        "Keras cross-entropy + grad": loss_and_gradient(
            keras.losses.SparseCategoricalCrossentropy(from_logits=True), labels, logits),
        "PixelCrossEntropy + grad": loss_and_gradient(PixelCrossEntropy(), labels, logits),
        "Keras accuracy": metric_update(keras.metrics.SparseCategoricalAccuracy(), labels,
                                        logits.value()),
        "PixelAccuracy": metric_update(PixelAccuracy(), labels, logits.value()),
    }
    for side, channels in ((48, 12), (16, 96)):
        x = tf.random.normal([b, side, side, channels], seed=0)
        for name, layer in (("Keras", keras.layers.BatchNormalization()),
                            ("fused", BatchNormalization())):
            cases[f"{name} BN+ReLU {side}x{side}x{channels}"] = norm_relu_step(layer, x)
    for name, function in cases.items():
        print(f"{name:28s} {best_ms(function, args.repeats):8.2f} ms", flush=True)


if __name__ == "__main__":
    main()
