"""STL-10 binary files: 96x96 RGB images stored channel-major and column-major, uint8 labels.

Images are streamed from disk with ``tf.data.FixedLengthRecordDataset``, which can only read a
file in order, so a training pass shuffles within a buffer of at most ``SHUFFLE_RECORDS``
images (all of train_X.bin and test_X.bin; windows of unlabeled_X.bin's 100,000).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_sb.data.errors import DataError
from keras_sb.data.sources import ImageSource
from keras_sb.safe_io import MAX_FILE_BYTES, read_regular_file

SIDE = 96
RECORD_BYTES = 3 * SIDE * SIDE
SHUFFLE_RECORDS = 8192  # about 226 MB of uint8 images
SPLIT_FILES = {
    "unlabelled": ("unlabeled_X.bin", None),
    "train": ("train_X.bin", "train_y.bin"),
    "val": ("test_X.bin", "test_y.bin"),
}


class Stl10Source(ImageSource):
    """Images of one STL-10 ``*_X.bin`` file; ``items`` are sorted record numbers."""

    def __init__(self, path: Path, labels: np.ndarray, class_names: list[str]):
        super().__init__(str(path), np.arange(len(labels)), labels, class_names)
        self._records_in_file = len(labels)

    def _elements(self, training: bool, seed: int | None) -> tf.data.Dataset:
        records = tf.data.FixedLengthRecordDataset(self.location, RECORD_BYTES).enumerate()
        if len(self) < self._records_in_file:
            keep = np.zeros(self._records_in_file, bool)
            keep[self.items] = True
            records = records.filter(lambda number, _: tf.gather(keep, number))
        labels = tf.data.Dataset.from_tensor_slices(self.labels)
        elements = tf.data.Dataset.zip(records.map(lambda _, record: record), labels)
        if training:
            buffer = max(1, min(len(self), SHUFFLE_RECORDS))
            elements = elements.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
        return elements

    def _decode(self, item: tf.Tensor) -> tf.Tensor:
        # Transposed as float32: a uint8 transpose makes oneDNN log an error line on CPUs
        # without AVX-512 (and a gather is slower).
        image = tf.cast(tf.io.decode_raw(item, tf.uint8), tf.float32) / 255.0
        return tf.transpose(tf.reshape(image, [3, SIDE, SIDE]), [2, 1, 0])  # (c, x, y) -> (y, x, c)


def is_stl10(folder: Path) -> bool:
    return any((folder / images).is_file() for images, _ in SPLIT_FILES.values())


def open_stl10(folder: Path, split: str) -> Stl10Source:
    """The STL-10 ``split`` in ``folder``; labels 1..K in the file become 0..K-1."""
    images_name, labels_name = SPLIT_FILES[split]
    count = _record_count(folder / images_name, split)
    if labels_name is None:
        return Stl10Source(folder / images_name, np.full(count, -1), [])
    labels = _read_labels(folder / labels_name, count)
    return Stl10Source(folder / images_name, labels - 1, _class_names(folder))


def _record_count(path: Path, split: str) -> int:
    if not path.is_file():
        raise DataError(
            f"{path} not found: {path.parent} holds STL-10 binary files and the {split!r} "
            f"split is read from {path.name}"
        )
    size = path.stat().st_size
    if size == 0 or size % RECORD_BYTES:
        raise DataError(
            f"{path} has {size} bytes, not a positive multiple of {RECORD_BYTES} "
            f"(one 3x{SIDE}x{SIDE} uint8 STL-10 image): the file is truncated or not STL-10"
        )
    return size // RECORD_BYTES


def _read_labels(path: Path, count: int) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"{path} not found: it holds the labels of the {count} images")
    size = path.stat().st_size
    if size != count:
        raise DataError(
            f"{path} has {size} labels but its images file has {count} images: "
            f"expected one uint8 label per image"
        )
    labels = np.frombuffer(_read(path, count), np.uint8).astype(np.int32)
    if labels.min() < 1:
        raise DataError(f"{path} has label 0: STL-10 labels run from 1 to the number of classes")
    return labels


def _class_names(folder: Path) -> list[str]:
    """Names from class_names.txt if present, else class_1..class_K (K = largest label)."""
    label_files = [folder / name for _, name in SPLIT_FILES.values() if name]
    count = max(int(np.frombuffer(_read(p), np.uint8).max(initial=0))
                for p in label_files if p.is_file())
    names_file = folder / "class_names.txt"
    if not names_file.is_file():
        return [f"class_{label}" for label in range(1, count + 1)]
    names = [line.strip() for line in _read(names_file).decode().splitlines() if line.strip()]
    if len(names) < count:
        raise DataError(
            f"{names_file} has {len(names)} names but the labels go up to {count}: "
            f"expected one class name per line"
        )
    return names


def _read(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file ``path`` (links followed), at most ``limit`` of them;
    DataError for anything else (a FIFO or a device is not waited on, nor read)."""
    try:
        return read_regular_file(path, limit, follow_links=True)
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror}") from None
