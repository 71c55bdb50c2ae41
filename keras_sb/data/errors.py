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
    if not paths:
        return
    names = [os.path.relpath(path, root) for path in paths[:_NAMES_SHOWN]]
    more = f" and {len(paths) - _NAMES_SHOWN} more" if len(paths) > _NAMES_SHOWN else ""
    LOGGER.warning("Skipped %d %s in %s: %s%s", len(paths), what, root, ", ".join(names), more)
