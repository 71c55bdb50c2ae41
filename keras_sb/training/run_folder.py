"""A run folder: config, checkpoints, logs and previews of one training run, and resuming."""

from __future__ import annotations

import csv
import json
import logging
import shutil
from pathlib import Path

import keras


class RunFolderError(ValueError):
    """The run folder cannot be used as asked (names the folder and what to do)."""


class RunFolder:
    """Files of one run under ``path``: ``config.json``, ``best.keras``, ``last.keras``,
    ``log.csv``, ``tensorboard/``, ``backup/`` (resume state), ``previews/``, ``summary.json``.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.config = self.path / "config.json"
        self.best = self.path / "best.keras"
        self.last = self.path / "last.keras"
        self.log = self.path / "log.csv"
        self.tensorboard = self.path / "tensorboard"
        self.backup = self.path / "backup"
        self.previews = self.path / "previews"
        self.summary = self.path / "summary.json"

    @property
    def finished(self) -> bool:
        return self.summary.exists()

    @property
    def interrupted(self) -> bool:
        return self.backup.exists() and not self.finished

    def skip_finished(self, overwrite: bool) -> bool:
        """True (and says so) when the folder holds a finished run and ``overwrite`` is off."""
        if self.finished and not overwrite:
            logging.getLogger("keras_sb").info(
                "%s already holds a finished run (see %s); pass --overwrite to train again.",
                self.path, self.summary)
            return True
        return False

    def read_config(self) -> dict:
        return json.loads(self.config.read_text())

    def start(self, config: dict, resume_keys: tuple[str, ...], overwrite: bool) -> bool:
        """Prepare the folder for ``config``; return True when resuming an interrupted run.

        A folder holding a run with different ``resume_keys`` settings is refused unless
        ``overwrite``, which deletes the old run.
        """
        if overwrite and self.path.exists():
            shutil.rmtree(self.path)
        resuming = False
        if self.config.exists():
            old = self.read_config()
            changed = {k: (old.get(k), config.get(k)) for k in resume_keys
                       if old.get(k) != config.get(k)}
            if changed:
                details = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
                raise RunFolderError(
                    f"Run folder {self.path} holds a run with other settings ({details}). "
                    "Pass another --out, or --overwrite to delete that run."
                )
            resuming = self.interrupted
        self.path.mkdir(parents=True, exist_ok=True)
        self.config.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        return resuming

    def read_log(self) -> list[dict]:
        """Rows of ``log.csv`` (one per finished epoch, across resumed sessions)."""
        if not self.log.exists():
            return []
        with self.log.open() as f:
            return list(csv.DictReader(f))

    def best_logged(self, monitor: str, mode: str = "min") -> float | None:
        """Best value of ``monitor`` in ``log.csv`` so far (None when there is none)."""
        values = [float(row[monitor]) for row in self.read_log() if row.get(monitor)]
        if not values:
            return None
        return min(values) if mode == "min" else max(values)

    def write_summary(self, summary: dict) -> None:
        self.summary.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")


def load_checkpoint(path: str | Path, kind: type[keras.Model], flag: str = "--model"):
    """The ``kind`` model saved at ``path``: a .keras file, or a run folder's ``best.keras``
    (``last.keras`` when there is no best yet). Errors name ``flag`` and the path."""
    path = Path(path).expanduser()
    if path.is_dir():
        run = RunFolder(path)
        if not run.best.exists() and not run.last.exists():
            raise RunFolderError(f"{flag} {path} holds no best.keras or last.keras: give a "
                                 ".keras checkpoint or the folder of a run that has trained")
        path = run.best if run.best.exists() else run.last
    if not path.is_file():
        raise RunFolderError(f"{flag} {path} does not exist: give a .keras checkpoint or a run "
                             "folder holding best.keras")
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for a damaged or foreign file
        raise RunFolderError(f"{flag} {path} could not be loaded: {error}") from error
    if not isinstance(model, kind):
        raise RunFolderError(f"{flag} {path} holds a {type(model).__name__}, not a "
                             f"{kind.__name__}")
    return model
