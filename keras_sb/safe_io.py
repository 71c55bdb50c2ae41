"""Safe file reading and crash-safe writing.

Reading (``read_regular_file``): only regular files, of a bounded size, without waiting on a
FIFO or a device. Writing: a file is written beside its destination, flushed to disk, then
renamed over it, so a kill or a full disk at any moment leaves either the old file or the new
one, never a partial one."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

TEMP_PREFIX = ".tmp-"
SPACE_MARGIN = 16 * 2**20  # bytes kept free beyond what a write needs
# The largest image file read (docs/data.md): a 24-bit BMP of the most pixels decoded,
# 8192 x 8192, is 192 MiB.
MAX_FILE_BYTES = 256 * 2**20


def read_regular_file(path: str | os.PathLike, limit: int, follow_links: bool = False) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes, else an
    ``OSError`` naming it.

    Opened without waiting (a FIFO or a device opens at once, and is refused), checked on the
    opened file (no race with a rename), and read for at most ``limit`` + 1 bytes, so neither
    ``/dev/zero`` nor a file that grows is read without end. A symbolic link is refused unless
    ``follow_links``.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_links else os.O_NOFOLLOW)
    with open(os.open(path, flags), "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a FIFO, a device or a folder)",
                          str(path))
        if info.st_size > limit:
            raise OSError(errno.EFBIG, f"{info.st_size:,} bytes, more than the limit of "
                          f"{limit:,}", str(path))
        contents = file.read(limit + 1)
    if len(contents) > limit:  # grew since fstat
        raise OSError(errno.EFBIG, f"more than the limit of {limit:,} bytes", str(path))
    return contents


class DiskFullError(OSError):
    """Not enough free space for a write; the message names the folder and what is needed."""


def temp_name(path: Path) -> Path:
    """A temporary name in ``path``'s folder, unique to this process and thread, that keeps
    its suffix (Keras checks suffixes)."""
    return path.with_name(f"{TEMP_PREFIX}{os.getpid()}-{threading.get_ident()}-{path.name}")


def fsync_path(path: Path) -> None:
    """Flush ``path`` (a file or a folder's entries) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` (fsynced), on error
    it is removed and ``path`` is left as it was."""
    path = Path(path)
    temp = temp_name(path)
    try:
        yield temp
        for written in [temp, *temp.rglob("*")] if temp.is_dir() else [temp]:
            fsync_path(written)
        os.replace(temp, path)
        fsync_path(path.parent)
    finally:
        if temp.is_dir():
            shutil.rmtree(temp, ignore_errors=True)
        else:
            temp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    ensure_space(Path(path).parent, len(text.encode()))
    with atomic_path(path) as temp:
        temp.write_text(text)


def save_model(model, path: str | os.PathLike) -> None:
    """Save a Keras ``model`` atomically: the whole model to a ``.keras`` path, or its weights
    and optimizer state to a ``.weights.h5`` path."""
    path = Path(path)
    weights = sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in model.weights)
    ensure_space(path.parent, 3 * weights)  # weights and Adam's two moments
    with atomic_path(path) as temp:
        if path.name.endswith(".weights.h5"):
            model.save_weights(temp)
        else:
            model.save(temp)


def save_arrays(arrays: list[np.ndarray], path: str | os.PathLike) -> None:
    """Save ``arrays`` to an ``.npz`` ``path`` (``arr_0``, ``arr_1``, ...) atomically."""
    path = Path(path)
    ensure_space(path.parent, sum(a.nbytes for a in arrays))
    with atomic_path(path) as temp:
        np.savez(temp, *arrays)


def ensure_space(folder: Path, needed: int) -> None:
    """Raise DiskFullError unless ``folder``'s disk has ``needed`` bytes plus a margin free.

    Checked before large writes: HDF5 and TensorFlow do not always fail cleanly on a full disk.
    """
    free = shutil.disk_usage(folder).free
    if free < needed + SPACE_MARGIN:
        raise DiskFullError(
            errno.ENOSPC,
            f"not enough free disk space in {folder}: {free / 2**20:.0f} MiB free, "
            f"{(needed + SPACE_MARGIN) / 2**20:.0f} MiB needed; free some space and rerun the "
            "same command",
        )


def remove_temporaries(folder: Path) -> None:
    """Delete what an interrupted atomic write left in ``folder`` (its own temporaries only)."""
    for leftover in folder.glob(f"{TEMP_PREFIX}*"):
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover)
        else:
            leftover.unlink()
