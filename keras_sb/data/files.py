"""Listing image files under folders (following links with care, leaving out files that are
not regular or over the size limit), and checking that they decode."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_sb.data.decode import decode_image
from keras_sb.data.errors import DataError
from keras_sb.safe_io import MAX_FILE_BYTES

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
EXTENSIONS_TEXT = "/".join(IMAGE_EXTENSIONS)


NOT_UTF8 = "files or folders whose names are not UTF-8 (TensorFlow cannot open them: rename them)"
NOT_REGULAR = ("image names that are not regular files (FIFOs, devices, broken links or links "
               "to them)")
TOO_LARGE = f"image files over {MAX_FILE_BYTES // 2**20} MiB (the limit, docs/data.md)"


def is_utf8(name: str) -> bool:
    """Whether a file name read from the disk is UTF-8 (Python keeps other bytes as
    surrogate escapes, which TensorFlow's strings cannot hold)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass
class Found:
    """What ``find_files`` found: per folder its image files, then the other files, and the
    links it skipped, by reason."""

    images: list[list[str]]
    others: list[str] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(default_factory=dict)


def find_files(folders: list[Path], root: Path) -> Found:
    """The files under ``folders`` (recursively, in a fixed order), in the data folder ``root``.

    Every real folder is walked once, and every real image file counted once. Links to
    folders are followed after the folders themselves, only into a folder inside ``root``
    that is not walked and holds no walked folder: not ``self -> .`` or ``up -> ..`` (a
    loop), nor a second way into a folder, nor out of the data. A link to a file counts
    wherever it leads, unless its file is counted already (real files before links to them).
    Skipped links, names that are not UTF-8, and image names that are not regular files or
    are over ``MAX_FILE_BYTES`` are listed in ``skipped``: none of them is ever opened (a
    FIFO would wait for a writer, ``/dev/zero`` never ends). ``tf.io.read_file`` reads the
    files listed up to their end: a file replaced by another kind while it runs is not covered.
    Names starting with "." (e.g. .DS_Store, .ipynb_checkpoints) are ignored.
    """
    scan = _Scan(root, len(folders))
    for index, folder in enumerate(folders):
        if not folder.is_dir():
            raise DataError(f"{folder} is not a folder: expected {EXTENSIONS_TEXT} images there")
        if os.path.islink(folder):
            scan.links.append((index, str(folder)))
        else:
            scan.walk(index, str(folder), os.path.realpath(folder))
    scan.follow_links()
    return scan.count_once()


def _unreadable(entry: os.DirEntry) -> str | None:
    """Why the image file ``entry`` (links followed) is not to be read, or None."""
    try:
        info = entry.stat()
    except OSError:  # a broken link, or gone since listed
        return NOT_REGULAR
    if not stat.S_ISREG(info.st_mode):
        return NOT_REGULAR
    return TOO_LARGE if info.st_size > MAX_FILE_BYTES else None


class _Scan:
    """One ``find_files`` call: the folders walked, the links to folders left to follow, and
    the image files found as (folder index, path, real path, whether a link)."""

    def __init__(self, root: Path, count: int):
        self.root, self.real_root = root, os.path.realpath(root)
        self.walked: set[str] = set()
        self.holding: set[str] = set()  # the walked folders and the folders above them
        self.links: list[tuple[int, str]] = []
        self.images: list[tuple[int, str, str, bool]] = []
        self.found = Found([[] for _ in range(count)])

    def walk(self, index: int, folder: str, real: str) -> None:
        """Lists ``folder`` (real path ``real``) and its subfolders, not following links."""
        if real in self.walked:  # reached again inside a followed link
            return
        self.walked.add(real)
        above = real
        while above not in self.holding:
            self.holding.add(above)
            above = os.path.dirname(above)
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError:  # unreadable: skipped, as os.walk does
            return
        entries = [entry for entry in entries if not entry.name.startswith(".")]
        for entry in entries:
            if not is_utf8(entry.name):
                self.found.skipped.setdefault(NOT_UTF8, []).append(entry.path)
        entries = [entry for entry in entries if is_utf8(entry.name)]
        for entry in entries:
            if entry.is_dir():
                continue
            if not entry.name.lower().endswith(IMAGE_EXTENSIONS):
                self.found.others.append(entry.path)
            elif why := _unreadable(entry):
                self.found.skipped.setdefault(why, []).append(entry.path)
            elif entry.is_symlink():
                self.images.append((index, entry.path, os.path.realpath(entry.path), True))
            else:
                self.images.append((index, entry.path, os.path.join(real, entry.name), False))
        for entry in entries:
            if entry.is_dir() and entry.is_symlink():
                self.links.append((index, entry.path))
            elif entry.is_dir():
                self.walk(index, entry.path, os.path.join(real, entry.name))

    def follow_links(self) -> None:
        """Walks into the links to folders, in the order found, or records why not."""
        while self.links:
            index, link = self.links.pop(0)
            target = os.path.realpath(link)
            if os.path.commonpath([target, self.real_root]) != self.real_root:
                why = f"links to folders outside {self.root}"
            elif target in self.holding:
                why = "links to a folder read already or above one (a loop, or a second way in)"
            else:
                self.walk(index, link, target)
                continue
            self.found.skipped.setdefault(why, []).append(link)

    def count_once(self) -> Found:
        """``found`` with each real image file once: real files first, then the first link."""
        first: dict[str, int] = {}
        for order in sorted(range(len(self.images)), key=lambda i: (self.images[i][3], i)):
            first.setdefault(self.images[order][2], order)
        kept = set(first.values())
        for order, (index, path, _, _) in enumerate(self.images):
            if order in kept:
                self.found.images[index].append(path)
            else:
                self.found.skipped.setdefault("links to an image counted already",
                                              []).append(path)
        return self.found


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
