"""The error raised for unusable data, and warnings about files that are skipped."""

from __future__ import annotations

import logging
import os

LOGGER = logging.getLogger("keras_sb")
_NAMES_SHOWN = 5


class DataError(ValueError):
    """A data folder, file or argument that cannot be used; the message says what to fix."""


def warn_skipped(what: str, paths: list[str], root: str | os.PathLike) -> None:
    """Log one warning naming up to five of ``paths`` (relative to ``root``) and the count."""
    if paths:
        LOGGER.warning("Skipped %d %s in %s: %s", len(paths), what, printable(str(root)),
                       some_names(paths, root))


def some_names(paths: list[str], root: str | os.PathLike) -> str:
    """Up to five of ``paths`` (those that are absolute relative to ``root``), printable,
    and how many more."""
    names = [printable(os.path.relpath(path, root) if os.path.isabs(path) else path)
             for path in paths[:_NAMES_SHOWN]]
    more = f" and {len(paths) - _NAMES_SHOWN} more" if len(paths) > _NAMES_SHOWN else ""
    return ", ".join(names) + more


def printable(name: str) -> str:
    """``name`` with bytes that are not UTF-8 (kept by Python as surrogate escapes) shown as
    ``\\xNN``, so that it can be logged."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")
