"""Class-balanced subsets of labelled images, for training classifiers on few labels."""

from __future__ import annotations

import numpy as np

from keras_sb.data.errors import DataError
from keras_sb.data.sources import ImageSource


def stratified_subset(source: ImageSource, per_class: int, seed: int) -> ImageSource:
    """Exactly ``per_class`` images of every class, drawn at random (seeded), in source order.

    Each class is shuffled with ``numpy.random.default_rng(seed)`` independently of
    ``per_class``, so the same seed gives the same images, and a larger ``per_class`` keeps
    the images of a smaller one. Images labelled -1 are never chosen.
    """
    if not source.class_names:
        raise DataError(f"cannot pick images per class from {source.description}: it is unlabelled")
    if per_class < 1:
        raise DataError(f"images per class must be at least 1, got {per_class}")
    members = [np.flatnonzero(source.labels == label) for label in range(len(source.class_names))]
    _check_counts(source, members, per_class)
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(indices)[:per_class] for indices in members]
    return source.subset(np.concatenate(chosen))


def stratified_split(source: ImageSource, fraction: float, seed: int
                     ) -> tuple[ImageSource, ImageSource]:
    """Seeded hold-out of ``fraction`` of every class: (rest, held_out).

    Each class with n images gives ``round(fraction * n)`` of them, at least one and at most
    n - 1, so that both parts hold every class. Images labelled -1 stay in ``rest``.
    """
    if not source.class_names:
        raise DataError(f"cannot hold out images per class from {source.description}: it is "
                        "unlabelled")
    if not 0 < fraction < 1:
        raise DataError(f"the hold-out fraction must be between 0 and 1, got {fraction}")
    members = [np.flatnonzero(source.labels == label) for label in range(len(source.class_names))]
    single = [name for name, indices in zip(source.class_names, members, strict=True)
              if len(indices) < 2]
    if single:
        raise DataError(f"cannot hold out images of every class of {source.location}: "
                        f"{', '.join(single)} ha(s) fewer than 2 images; add images")
    rng = np.random.default_rng(seed)
    held = [rng.permutation(indices)[:min(len(indices) - 1, max(1, round(fraction * len(indices))))]
            for indices in members]
    mask = np.zeros(len(source), bool)
    mask[np.concatenate(held)] = True
    return source.subset(~mask), source.subset(mask)


def _check_counts(source: ImageSource, members: list[np.ndarray], per_class: int) -> None:
    """Raise a DataError naming every class with fewer than ``per_class`` images."""
    short = [
        f"{name} ({len(indices)})"
        for name, indices in zip(source.class_names, members, strict=True)
        if len(indices) < per_class
    ]
    if short:
        fewest = min(len(indices) for indices in members)
        fix = f"ask for at most {fewest} per class" if fewest else "add images to the empty class"
        raise DataError(
            f"cannot pick {per_class} images per class from {source.location}: "
            f"{len(short)} class(es) have fewer: {', '.join(short)}; {fix}"
        )
