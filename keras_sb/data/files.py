"""Listing image files under a folder, and checking that they decode."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_sb.data.decode import decode_image
from keras_sb.data.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
EXTENSIONS_TEXT = "/".join(IMAGE_EXTENSIONS)


def find_files(folder: Path) -> tuple[list[str], list[str]]:
    """(image files, other files) under ``folder``, recursively, sorted.

    Names starting with "." (e.g. .DS_Store, .ipynb_checkpoints) are ignored.
    """
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder: expected {EXTENSIONS_TEXT} images there")
    images, others = [], []
    for parent, dirs, names in os.walk(folder, followlinks=True):
        dirs[:] = sorted(name for name in dirs if not name.startswith("."))
        for name in sorted(names):
            if not name.startswith("."):
                kind = images if name.lower().endswith(IMAGE_EXTENSIONS) else others
                kind.append(os.path.join(parent, name))
    return images, others


def class_folders(folder: Path) -> list[str]:
    """Sorted names of the subfolders of ``folder`` ([] when it does not exist)."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def decodable(paths: list[str]) -> np.ndarray:
    """Sorted indices of the ``paths`` that read and decode, from one parallel tf.data pass."""

    def check(index: tf.Tensor, path: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return index, tf.shape(decode_image(tf.io.read_file(path)))

    checks = tf.data.Dataset.from_tensor_slices(tf.constant(paths, tf.string)).enumerate()
    checks = checks.map(check, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
    batches = checks.ignore_errors().batch(1024)
    found = [indices.numpy() for indices, _ in batches]
    return np.sort(np.concatenate(found)) if found else np.zeros(0, np.int64)
