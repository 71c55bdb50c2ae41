"""Image collections with labels, streamed as unbatched tf.data pipelines."""

from __future__ import annotations

import copy

import numpy as np
import tensorflow as tf

from keras_sb.data.decode import center_crop, decode_image, random_crop_flip
from keras_sb.data.errors import DataError


class ImageSource:
    """A list of images with int labels (-1 when unlabelled) and the names of the classes.

    Subclasses say how the images are listed (``_elements``: a dataset of (item, label),
    shuffled when training) and how one item becomes an [H, W, 3] image (``_decode``: uint8, or
    float32 in [0, 1]).

    Args:
        location: the folder or file the images come from (for messages).
        items: one entry per image, passed to ``_decode`` (a path, a record number, ...).
        labels: int label per image, -1 when unlabelled.
        class_names: names of the labels 0, 1, ...; [] when unlabelled.
    """

    def __init__(self, location: str, items: np.ndarray, labels: np.ndarray, class_names: list):
        self.location = str(location)
        self.items = np.asarray(items)
        self.labels = np.asarray(labels, np.int32)
        self.class_names = list(class_names)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def description(self) -> str:
        classes = f" of {len(self.class_names)} classes" if self.class_names else ""
        return f"{len(self)} images{classes} in {self.location}"

    def subset(self, indices) -> ImageSource:
        """The images at ``indices`` (ints or a boolean mask), in their original order, once."""
        positions = np.unique(np.arange(len(self))[indices])
        chosen = copy.copy(self)
        chosen.items, chosen.labels = self.items[positions], self.labels[positions]
        return chosen

    def split(self, fraction: float, seed: int) -> tuple[ImageSource, ImageSource]:
        """Seeded random hold-out: (rest, held_out), held_out with max(1, round(fraction * n))."""
        if len(self) < 2:
            raise DataError(f"cannot hold out images from {self.description}: need at least 2")
        if not 0 < fraction < 1:
            raise DataError(f"the hold-out fraction must be between 0 and 1, got {fraction}")
        held = min(len(self) - 1, max(1, round(fraction * len(self))))
        order = np.random.default_rng(seed).permutation(len(self))
        return self.subset(order[held:]), self.subset(order[:held])

    def dataset(
        self, image_size: int = 96, training: bool = False, seed: int | None = None
    ) -> tf.data.Dataset:
        """Unbatched (uint8 [S, S, 3] image, int32 label) pairs, S = image_size.

        Images stay 8-bit (a quarter of float32's bytes) until batched; convert a batch with
        ``keras_sb.data.as_float``.

        Training: the order is reshuffled each epoch, the shorter side resized to S, then a
        random S x S crop and a random horizontal flip (reproducible given ``seed``).
        Otherwise: a fixed order and the central S x S crop after the same resize.
        """
        elements = self._elements(training, seed)
        if not training:
            return elements.map(
                lambda item, label: (center_crop(self._decode_uint8(item), image_size), label),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
        seeds = tf.data.Dataset.random(seed, rerandomize_each_iteration=True)
        return tf.data.Dataset.zip(elements, seeds).map(
            lambda element, rng: (
                random_crop_flip(self._decode_uint8(element[0]), image_size, rng),
                element[1],
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=False,
        )

    def _decode_uint8(self, item: tf.Tensor) -> tf.Tensor:
        return tf.image.convert_image_dtype(self._decode(item), tf.uint8, saturate=True)

    def _elements(self, training: bool, seed: int | None) -> tf.data.Dataset:
        raise NotImplementedError

    def _decode(self, item: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError


class FileImageSource(ImageSource):
    """Images stored as files; ``items`` are their paths."""

    def _elements(self, training: bool, seed: int | None) -> tf.data.Dataset:
        elements = tf.data.Dataset.from_tensor_slices(
            (tf.constant(self.items, tf.string), self.labels)
        )
        if training:
            elements = elements.shuffle(max(1, len(self)), seed=seed, reshuffle_each_iteration=True)
        return elements

    def _decode(self, item: tf.Tensor) -> tf.Tensor:
        return decode_image(tf.io.read_file(item))
