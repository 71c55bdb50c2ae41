"""Labelled images for classifiers: the train/held-out/test splits of a labelled folder and
their batches."""

from __future__ import annotations

import tensorflow as tf

from keras_sb.data.decode import as_float
from keras_sb.data.errors import DataError
from keras_sb.data.layouts import has_split, open_images
from keras_sb.data.sampling import stratified_split, stratified_subset
from keras_sb.data.sources import ImageSource


def labelled_splits(data: str, val_fraction: float, labels_per_class: int, seed: int
                    ) -> tuple[ImageSource, ImageSource, ImageSource | None]:
    """(train, holdout, test): ``holdout`` is ``val_fraction`` of each class of the labelled
    train split (chosen by ``seed``), ``train`` the rest (or ``labels_per_class`` of each class
    of it), ``test`` the val split, None when the data has none."""
    labelled = open_images(data, "train")
    if len(labelled.class_names) < 2:
        raise DataError(f"{labelled.location} holds {len(labelled.class_names)} class "
                        f"({', '.join(labelled.class_names)}): a classifier needs at least 2 "
                        "class subfolders")
    train, holdout = stratified_split(labelled, val_fraction, seed)
    if labels_per_class:
        try:
            train = stratified_subset(train, labels_per_class, seed)
        except DataError as error:
            raise DataError(f"--labels-per-class {labels_per_class}: {error} (the images left "
                            f"after holding out --val-fraction {val_fraction} of each class to "
                            "choose the best epoch)") from None
    test = open_images(data, "val") if has_split(data, "val") else None
    return train, holdout, test


def labelled_dataset(source: ImageSource, image_size: int, batch_size: int, training: bool,
                     seed: int) -> tf.data.Dataset:
    """Batches of (float32 RGB images in [0, 1], labels)."""
    dataset = source.dataset(image_size, training=training, seed=seed).batch(batch_size)
    return dataset.map(lambda images, labels: (as_float(images), labels),
                       num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
