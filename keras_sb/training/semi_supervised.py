"""Fine-tuning that also learns from unlabelled photos: the split-brain pretext loss kept
running beside the classification loss (S4L, Zhai et al., ICCV 2019), and confidence-
thresholded pseudo-labels (FixMatch, Sohn et al., NeurIPS 2020). Both compose, and both work
from random weights (the honest baseline gets the same machinery).

Each step takes a batch of labelled images and ``unlabelled_ratio`` times as many unlabelled
ones. The loss is

    CE(labels, f(labelled))
    + pretext_weight * pretext loss on the labelled and unlabelled images
    + pseudo_label_weight * mean over unlabelled images of
          [max p(weak) >= threshold] * CE(argmax p(weak), f(strong))

where ``weak`` is the training crop and flip of an unlabelled image, ``strong`` a random
resized crop, flip, colour jitter and cutout of it, and p(weak) is not differentiated.
The classifier and the pretext model share the backbones' layers up to the classifier's
feature stage, so one optimizer trains both; the checkpoints hold the classifier alone.
The options are ``FinetuneConfig``'s (``keras_sb.training.config``).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_sb.data import ImageSource, as_float
from keras_sb.data.augment import random_resized_crop
from keras_sb.models.classifier import SplitBrainClassifier
from keras_sb.models.objectives import PretextTask
from keras_sb.models.split_brain import SplitBrain


class SemiSupervisedTrainer(keras.Model):
    """Trains ``classifier`` with the losses of the module docstring; ``pretext`` (the
    model the classifier was built from, sharing its backbone layers) predicts the pretext
    targets. Never saved: checkpoints save the classifier.

    ``fit`` takes ({"images", and "weak", "strong" with pseudo-labels, "channels" with the
    pretext loss}, {"class": labels, and each pretext direction's targets}) batches (see
    :func:`semi_supervised_dataset`); ``evaluate`` takes (images, labels).
    """

    def __init__(self, classifier: SplitBrainClassifier, pretext: SplitBrain,
                 pretext_weight: float, pseudo_label_threshold: float,
                 pseudo_label_weight: float, top_k: int, **kwargs):
        super().__init__(name="semi_supervised", **kwargs)
        self.classifier = classifier
        self.pretext = pretext if pretext_weight else None
        self.pretext_weight = pretext_weight
        self.threshold = pseudo_label_threshold
        self.pseudo_label_weight = pseudo_label_weight
        self.cross_entropy = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        self.pretext_losses = pretext.task.compile_args()["loss"]
        names = ["loss", "class_loss"] + (["pretext_loss"] if self.pretext else []) + (
            ["pseudo_loss", "pseudo_labelled"] if self.threshold else [])
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        self.accuracy = keras.metrics.SparseCategoricalAccuracy(name="acc")
        self.top_k = keras.metrics.SparseTopKCategoricalAccuracy(top_k, name=f"top{top_k}")

    def call(self, images, training=False):
        """The classifier's logits of ``images``, or of a training batch's labelled images
        (how Keras builds the model before a distributed ``fit``)."""
        images = images["images"] if isinstance(images, dict) else images
        return self.classifier(images, training=training)

    @property
    def metrics(self) -> list:
        return [*self.trackers.values(), self.accuracy, self.top_k]

    def train_step(self, data):
        inputs, targets = data
        with tf.GradientTape() as tape:
            losses, logits = self.objective(inputs, targets)
            total = sum(losses.values())
            scaled = self.optimizer.scale_loss(total)
        variables = self.trainable_variables
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(gradients, variables, strict=True))
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        for name, value in {"loss": total, **losses}.items():  # Keras' losses / replicas
            self.trackers[name].update_state(value * replicas)
        self.classifier_metrics(targets["class"], logits)
        return {m.name: m.result() for m in self.metrics}

    def objective(self, inputs: dict, targets: dict) -> tuple[dict, tf.Tensor]:
        """({name: weighted loss, each divided by the replicas as Keras' losses are},
        the labelled images' logits)."""
        images = inputs["images"]
        if not self.threshold:
            logits = self.classifier(images, training=True)
            losses = {"class_loss": self.cross_entropy(targets["class"], logits)}
        else:  # one batch, so that BatchNorm sees labelled and unlabelled images together
            labelled, weak = tf.shape(images)[0], tf.shape(inputs["weak"])[0]
            everything = self.classifier(
                tf.concat([images, inputs["weak"], inputs["strong"]], 0), training=True)
            logits = everything[:labelled]
            confidence = tf.nn.softmax(tf.stop_gradient(everything[labelled:labelled + weak]))
            confident = tf.cast(tf.reduce_max(confidence, -1) >= self.threshold, tf.float32)
            self.trackers["pseudo_labelled"].update_state(confident)
            pseudo_loss = self.cross_entropy(tf.argmax(confidence, -1),
                                             everything[labelled + weak:], confident)
            losses = {"class_loss": self.cross_entropy(targets["class"], logits),
                      "pseudo_loss": self.pseudo_label_weight * pseudo_loss}
        if self.pretext:
            outputs = self.pretext(inputs["channels"], training=True)
            losses["pretext_loss"] = self.pretext_weight * sum(
                loss(targets[name], outputs[name]) for name, loss in self.pretext_losses.items())
        return losses, logits

    def test_step(self, data):
        images, labels = data
        logits = self.classifier(images, training=False)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        self.trackers["loss"].update_state(self.cross_entropy(labels, logits) * replicas)
        return {"loss": self.trackers["loss"].result(), **self.classifier_metrics(labels, logits)}

    def classifier_metrics(self, labels: tf.Tensor, logits: tf.Tensor) -> dict:
        """Top-1 and top-k accuracy so far, with the labelled images' ``logits``."""
        self.accuracy.update_state(labels, logits)
        self.top_k.update_state(labels, logits)
        return {m.name: m.result() for m in (self.accuracy, self.top_k)}


def semi_supervised_dataset(labelled: ImageSource, unlabelled: ImageSource, task: PretextTask,
                            image_size: int, batch_size: int, seed: int, unlabelled_ratio: int,
                            pseudo_labels: bool, pretext: bool) -> tf.data.Dataset:
    """One pass over ``labelled`` in batches of ``batch_size``, each with ``unlabelled_ratio``
    times as many ``unlabelled`` images (drawn anew each pass), as
    :class:`SemiSupervisedTrainer` takes them: with their weak and strong views for
    ``pseudo_labels``, with the channels and targets of ``task`` for the ``pretext`` loss."""
    labelled_batches = labelled.dataset(image_size, training=True, seed=seed).batch(batch_size)
    unlabelled_batches = unlabelled.dataset(image_size, training=True, seed=seed + 1).repeat(
    ).batch(batch_size * unlabelled_ratio)
    seeds = tf.data.Dataset.random(seed + 2, rerandomize_each_iteration=True)

    def step_inputs(pair, other, view_seed):
        (images, labels), (weak, _) = pair, other
        inputs, targets = {"images": as_float(images)}, {"class": labels}
        if pseudo_labels:
            inputs["weak"] = as_float(weak)
            inputs["strong"] = strong_view(inputs["weak"], tf.stack([view_seed, 0]))
        if pretext:
            inputs["channels"], pixels = task.encode(tf.concat([images, weak], 0),
                                                     compiled=True)
            targets.update(pixels)
        return inputs, targets

    return (tf.data.Dataset.zip(labelled_batches, unlabelled_batches, seeds)
            .map(step_inputs, num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))


CROP_AREA = (0.35, 1.0)  # share of the image a strong view's crop keeps
BRIGHTNESS, CONTRAST, SATURATION = 0.3, (0.6, 1.4), (0.3, 1.7)
CUTOUT = 0.4  # side of the grey square, as a share of the image side


def strong_view(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """[N, S, S, 3] float images in [0, 1] -> strongly augmented copies, each its own: a
    random resized crop (``CROP_AREA``) mirrored half of the time, brightness, contrast and
    saturation jitter, and a grey square (cutout). Deterministic given the int64 ``seed``
    [2]."""
    n, size = tf.shape(images)[0], images.shape[1]
    keys = iter(tf.unstack(tf.random.experimental.stateless_split(seed, 5)))

    def uniform(low, high, shape=None):
        return tf.random.stateless_uniform(shape or [n], next(keys), low, high)

    images = random_resized_crop(images, next(keys), CROP_AREA)

    def per_image(low, high):
        return uniform(low, high, [n, 1, 1, 1])

    images = images + per_image(-BRIGHTNESS, BRIGHTNESS)
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    images = (images - mean) * per_image(*CONTRAST) + mean
    grey = tf.image.rgb_to_grayscale(images)
    images = tf.clip_by_value(grey + (images - grey) * per_image(*SATURATION), 0.0, 1.0)
    centre = tf.cast(uniform(0.0, 1.0, [n, 2]) * size, tf.int32)
    half = max(1, round(CUTOUT * size / 2))
    pixels = tf.range(size)
    rows = tf.abs(pixels[None, :] - centre[:, :1]) < half  # [N, S]
    columns = tf.abs(pixels[None, :] - centre[:, 1:]) < half
    square = tf.logical_and(rows[:, :, None], columns[:, None, :])[..., None]
    return tf.where(square, 0.5, images)
