"""``open_images``: finds the images of a split in the three supported folder layouts.

* ``ssl_data_96``: ``unsupervised/`` (flat or nested) and ``supervised/{train,val}/<class>/``.
* STL-10 binaries: ``unlabeled_X.bin``, ``train_X.bin`` + ``train_y.bin``, ``test_X.bin`` +
  ``test_y.bin`` (the val split), optional ``class_names.txt``.
* Any folder of images: every image under it (unlabelled), or its class subfolders (train).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from keras_sb.data.errors import DataError, warn_skipped
from keras_sb.data.files import EXTENSIONS_TEXT, Found, class_folders, find_files
from keras_sb.data.sources import FileImageSource, ImageSource
from keras_sb.data.stl10 import is_stl10, open_stl10

SPLITS = ("unlabelled", "train", "val")


def open_images(data_dir: str | os.PathLike, split: str, validate: bool = True) -> ImageSource:
    """The images of ``split`` ("unlabelled", "train" or "val") under ``data_dir``.

    With ``validate``, image files are decoded once now and those that fail are left out with
    a warning (``ImageSource.decodable``), so that evaluation does not stop on them later.
    Without, the files are only listed: start-up does not grow with the images' decoding, and
    training pipelines skip and count the bad ones as they meet them.
    """
    if split not in SPLITS:
        raise DataError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DataError(
            f"data folder {root} does not exist: expected a folder of images, the ssl_data_96 "
            f"layout (unsupervised/, supervised/train/<class>/, supervised/val/<class>/) "
            f"or STL-10 binary files"
        )
    if is_stl10(root):
        return open_stl10(root, split)
    if (root / "unsupervised").is_dir() or (root / "supervised").is_dir():
        if split == "unlabelled":
            return _unlabelled(root / "unsupervised", root, validate)
        supervised = root / "supervised"
        names = sorted(set(class_folders(supervised / "train") + class_folders(supervised / "val")))
        return _labelled(supervised / split, names, root, validate)
    if split == "unlabelled":
        return _unlabelled(root, root, validate)
    if split == "val":
        raise DataError(
            f"{root} is a plain folder of images, which has no 'val' split: for labelled "
            f"evaluation lay it out as {root}/supervised/train/<class>/ and "
            f"{root}/supervised/val/<class>/ (images for self-supervised training go in "
            f"{root}/unsupervised/)"
        )
    return _labelled(root, class_folders(root), root, validate)


def has_split(data_dir: str | os.PathLike, split: str) -> bool:
    """Whether ``data_dir`` lays out a ``split`` at all (its images are checked when opened):
    STL-10 files have every split, a plain folder of images has no "val"."""
    root = Path(data_dir).expanduser()
    if is_stl10(root):
        return True
    if (root / "unsupervised").is_dir() or (root / "supervised").is_dir():
        folder = "unsupervised" if split == "unlabelled" else f"supervised/{split}"
        return (root / folder).is_dir()
    return split != "val"


def _unlabelled(folder: Path, root: Path, validate: bool) -> ImageSource:
    if not folder.is_dir():
        raise DataError(
            f"{folder} not found: the unlabelled split expects {EXTENSIONS_TEXT} images there "
            f"(directly or in subfolders)"
        )
    [paths] = _find(folder, [folder], root).images
    return _file_source(folder, paths, np.full(len(paths), -1), [], validate)


def _labelled(folder: Path, class_names: list[str], root: Path, validate: bool) -> ImageSource:
    expected = (f"one subfolder per class holding {EXTENSIONS_TEXT} images: {root}/<class>/ "
                f"(a held-out part of each class chooses the best epoch), or "
                f"{root}/supervised/train/<class>/ and optionally {root}/supervised/val/<class>/ "
                f"(scored at the end), beside {root}/unsupervised/ for pretraining")
    if not folder.is_dir():
        raise DataError(f"{folder} not found: expected {expected}")
    present = class_folders(folder)
    if not present:
        raise DataError(f"{folder} has no class subfolders: expected {expected}")
    found = _find(folder, [folder / name for name in present], root)
    paths, labels = [], []
    for name, images in zip(present, found.images, strict=True):
        paths += images
        labels += [class_names.index(name)] * len(images)
    return _file_source(folder, paths, np.array(labels), class_names, validate)


def _find(folder: Path, folders: list[Path], root: Path) -> Found:
    """``find_files(folders, root)``, with warnings naming what it skipped (from ``folder``)."""
    found = find_files(folders, root)
    warn_skipped(f"files that are not {EXTENSIONS_TEXT} images", found.others, folder)
    for why, links in found.skipped.items():
        warn_skipped(why, links, folder)
    return found


def _file_source(
    folder: Path, paths: list[str], labels: np.ndarray, class_names: list[str], validate: bool
) -> FileImageSource:
    if not paths:
        raise DataError(f"no {EXTENSIONS_TEXT} images found in {folder} or its subfolders")
    source = FileImageSource(str(folder), np.array(paths), labels, class_names)
    return source.decodable() if validate else source
