"""Image collections with labels, streamed as unbatched tf.data pipelines."""

from __future__ import annotations

import copy
import threading

import numpy as np
import tensorflow as tf

from keras_sb.data import files
from keras_sb.data.decode import center_crop, decode_image, random_crop_flip
from keras_sb.data.errors import DataError, warn_skipped

CHUNK = 64  # training images decoded in one call


class SkipRecord:
    """The images that tf.data pipelines failed to decode (added through
    ``tf.py_function``), each once however often it is met; safe across threads.

    Kept in Python, not in a ``tf.Variable``: tf.data functions run on the host CPU and cannot
    read a variable placed on a GPU, and a variable made inside a ``tf.distribute`` scope
    would be mirrored; a Python record works the same under every strategy.
    """

    def __init__(self):
        self._items: dict[str, None] = {}  # insertion-ordered set
        self._lock = threading.Lock()

    @property
    def items(self) -> list[str]:
        """The skipped items (paths, record numbers), in the order first met."""
        with self._lock:
            return list(self._items)

    def add(self, items: tf.Tensor, kept: tf.Tensor) -> tf.Tensor:
        """Record those of ``items`` that are not among ``kept``; returns how many that is."""
        missing = set(_texts(items)) - set(_texts(kept))
        with self._lock:
            self._items.update(dict.fromkeys(sorted(missing)))
        return tf.constant(len(missing), tf.int64)


def _texts(items: tf.Tensor) -> list[str]:
    """Items as text: paths decoded (bytes that are not UTF-8 kept as escapes), numbers."""
    return [item.decode("utf-8", "surrogateescape") if isinstance(item, bytes) else str(item)
            for item in items.numpy().tolist()]


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
        self._skipped = SkipRecord()

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def description(self) -> str:
        classes = f" of {len(self.class_names)} classes" if self.class_names else ""
        return f"{len(self)} images{classes} in {self.location}"

    def subset(self, indices) -> ImageSource:
        """The images at ``indices`` (ints or a boolean mask), in their original order, once,
        with a record of skipped images of its own."""
        positions = np.unique(np.arange(len(self))[indices])
        chosen = copy.copy(self)
        chosen.items, chosen.labels = self.items[positions], self.labels[positions]
        chosen._skipped = SkipRecord()
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

    def decodable(self) -> ImageSource:
        """The images that read and decode (all of them here; file sources check theirs)."""
        return self

    def skipped_images(self) -> list[str]:
        """The images that the training pipelines of this source skipped so far (in this
        process), each once: unreadable, undecodable or over the size limits (docs/data.md).

        Recorded as the pipelines decode, which is ahead of training by their buffers
        (chunks of ``CHUNK`` images, prefetched batches)."""
        return self._skipped.items

    def dataset(
        self, image_size: int = 96, training: bool = False, seed: int | None = None
    ) -> tf.data.Dataset:
        """Unbatched (uint8 [S, S, 3] image, int32 label) pairs, S = image_size.

        Images stay 8-bit (a quarter of float32's bytes) until batched; convert a batch with
        ``keras_sb.data.as_float``.

        Training: the order is reshuffled each epoch, the shorter side resized to S, then a
        random S x S crop and a random horizontal flip (reproducible given ``seed``). Images
        that fail to read or decode are skipped and recorded (``skipped_images``).
        Otherwise: a fixed order and the central S x S crop after the same resize; an image
        that fails stops the pipeline with its error (use a ``decodable()`` source).
        """
        if training:
            return self._training_dataset(image_size, seed)
        return self._elements(False, seed).map(
            lambda item, label: (center_crop(self._decode_uint8(item), image_size), label),
            num_parallel_calls=tf.data.AUTOTUNE,
        )

    def _training_dataset(self, image_size: int, seed: int | None) -> tf.data.Dataset:
        """Shuffled, augmented images; those that fail are left out and recorded.

        The images are decoded in chunks of ``CHUNK``, one call per chunk (interleaved over
        the cores), and the chunks split into images at the end: far fewer tf.data elements
        than a call per image, ~15 % more images/s on 2 cores (docs/speed.md). A chunk in
        which an image fails is decoded again one image at a time (``_decoded_chunk``), so
        that only the images that fail are lost, and recorded when their chunk is done.
        """
        seeds = tf.data.Dataset.random(seed, rerandomize_each_iteration=True)
        chunks = tf.data.Dataset.zip(self._elements(True, seed), seeds).batch(CHUNK)
        return chunks.interleave(
            lambda element, rngs: self._decoded_chunk(*element, rngs, image_size),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=False).unbatch()

    def _decoded_chunk(self, items: tf.Tensor, labels: tf.Tensor, rngs: tf.Tensor,
                       image_size: int) -> tf.data.Dataset:
        """One element: (images, labels) of a chunk, decoded in one call; if that fails,
        decoded again one image at a time, without (and recording) those that fail."""
        chunk = (items, labels, rngs)
        whole = tf.data.Dataset.from_tensors(chunk).map(
            lambda items, labels, rngs: (self._augment_all(items, rngs, image_size), labels)
        ).ignore_errors()
        none_left = (tf.zeros([0, image_size, image_size, 3], tf.uint8),
                     tf.zeros([0], labels.dtype), tf.zeros([0], items.dtype))
        one_by_one = (
            tf.data.Dataset.from_tensor_slices(chunk)
            .map(lambda item, label, rng: (self._augment(item, rng, image_size), label, item))
            .ignore_errors().batch(CHUNK)
            .concatenate(tf.data.Dataset.from_tensors(none_left)).take(1)
            .map(lambda images, kept, kept_items: self._record_missing(items, kept_items,
                                                                        images, kept))
        )
        return whole.concatenate(one_by_one).take(1)  # one_by_one only runs if whole failed

    def _augment(self, item: tf.Tensor, rng: tf.Tensor, image_size: int) -> tf.Tensor:
        return random_crop_flip(self._decode_uint8(item), image_size, rng)

    def _augment_all(self, items: tf.Tensor, rngs: tf.Tensor, image_size: int) -> tf.Tensor:
        """``_augment`` of each item, one at a time (``parallel_iterations=1``), so that each
        image's decoding stays within its memory bound (docs/data.md)."""
        return tf.map_fn(lambda pair: self._augment(*pair, image_size), (items, rngs),
                         fn_output_signature=tf.TensorSpec([image_size, image_size, 3],
                                                           tf.uint8),
                         parallel_iterations=1)

    def _record_missing(self, items: tf.Tensor, kept_items: tf.Tensor, images: tf.Tensor,
                        labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(images, labels), once the ``items`` not among ``kept_items`` are recorded."""
        recorded = tf.py_function(self._skipped.add, [items, kept_items], tf.int64)
        with tf.control_dependencies([recorded]):
            return tf.identity(images), tf.identity(labels)

    def _decode_uint8(self, item: tf.Tensor) -> tf.Tensor:
        return tf.image.convert_image_dtype(self._decode(item), tf.uint8, saturate=True)

    def _elements(self, training: bool, seed: int | None) -> tf.data.Dataset:
        raise NotImplementedError

    def _decode(self, item: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError


class FileImageSource(ImageSource):
    """Images stored as files; ``items`` are their paths."""

    def decodable(self) -> FileImageSource:
        """The images that read and decode (one parallel pass over the files), with a warning
        naming the others; DataError if none does."""
        good = files.decodable(self.items.tolist())
        bad = np.setdiff1d(np.arange(len(self)), good)
        warn_skipped("image files that could not be decoded or are over the size limits "
                     "(docs/data.md)", self.items[bad].tolist(), self.location)
        if not len(good):
            raise DataError(f"none of the {len(self)} image files in {self.location} could be "
                            "decoded")
        return self.subset(good)

    def _elements(self, training: bool, seed: int | None) -> tf.data.Dataset:
        elements = tf.data.Dataset.from_tensor_slices(
            (tf.constant(self.items, tf.string), self.labels)
        )
        if training:
            elements = elements.shuffle(max(1, len(self)), seed=seed, reshuffle_each_iteration=True)
        return elements

    def _decode(self, item: tf.Tensor) -> tf.Tensor:
        return decode_image(tf.io.read_file(item))
