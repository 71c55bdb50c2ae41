"""Batch augmentations of [N, S, S, 3] float images, each image its own, seeded."""

from __future__ import annotations

import math

import tensorflow as tf

CROP_ASPECT = (3 / 4, 4 / 3)  # width / height range of a random resized crop


def random_resized_crop(images: tf.Tensor, seed: tf.Tensor, area: tuple[float, float],
                        aspect: tuple[float, float] = CROP_ASPECT) -> tf.Tensor:
    """Each image a random crop keeping a share of its area in ``area`` with a width/height
    in ``aspect`` (log-uniform), resized back to S x S and mirrored half the time
    (``tf.image.crop_and_resize``: one call for the batch). Deterministic given the int64
    ``seed`` [2]."""
    n, size = tf.shape(images)[0], images.shape[1]
    keys = iter(tf.unstack(tf.random.experimental.stateless_split(seed, 5)))

    def uniform(low, high):
        return tf.random.stateless_uniform([n], next(keys), low, high)

    share = uniform(*area)
    ratio = tf.exp(uniform(math.log(aspect[0]), math.log(aspect[1])))
    height = tf.minimum(1.0, tf.sqrt(share / ratio))
    width = tf.minimum(1.0, tf.sqrt(share * ratio))
    top, left = uniform(0.0, 1.0) * (1 - height), uniform(0.0, 1.0) * (1 - width)
    flip = uniform(0.0, 1.0) < 0.5  # a box from right to left mirrors the crop
    x1, x2 = tf.where(flip, left + width, left), tf.where(flip, left, left + width)
    boxes = tf.stack([top, x1, top + height, x2], axis=1)
    return tf.image.crop_and_resize(images, boxes, tf.range(n), [size, size])
