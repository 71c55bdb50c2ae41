"""A run folder: config, checkpoints, logs and previews of one training run, and resuming."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import shutil
from pathlib import Path

from keras_sb.safe_io import remove_temporaries, write_text

log = logging.getLogger("keras_sb")

# Keys every config.json written by a training stage holds (RunConfig's fields): how a folder
# is recognised as a keras-sb run, also one written by an earlier version.
RUN_CONFIG_KEYS = frozenset({"data", "out", "epochs", "batch_size", "learning_rate", "lr_decay",
                             "patience", "seed", "strategy"})


class RunFolderError(ValueError):
    """The run folder cannot be used as asked (names the folder and what to do)."""



class RunFolder:
    """Files of one run under ``path``: ``config.json``, ``best.keras``, ``last.keras``,
    ``log.csv``, ``tensorboard/``, ``backup/`` (resume state), ``previews/``, ``summary.json``,
    and the classifier stages' ``report.json``, ``confusion.png`` and ``eval-*/``.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        self.config = self.path / "config.json"
        self.best = self.path / "best.keras"
        self.last = self.path / "last.keras"
        self.log = self.path / "log.csv"
        self.tensorboard = self.path / "tensorboard"
        self.backup = self.path / "backup"
        self.previews = self.path / "previews"
        self.summary = self.path / "summary.json"
        self.snapshot = self.path / "epoch_{epoch}.keras"

    def written_by_runs(self) -> list[Path]:
        """The entries of the folder that a run writes (those ``--overwrite`` may delete)."""
        names = {"config.json", "best.keras", "last.keras", "log.csv", "tensorboard", "backup",
                 "previews", "summary.json", "report.json", "confusion.png"}
        return [entry for entry in self.path.iterdir()
                if entry.name in names or entry.name.startswith("eval-")
                or re.fullmatch(r"epoch_\d{3,}\.keras", entry.name)]

    @property
    def finished(self) -> bool:
        return self.summary.exists()

    def is_run(self) -> bool:
        """True when ``config.json`` is one a keras-sb training stage wrote."""
        try:
            config = self.read_config()
        except (OSError, ValueError):
            return False
        return isinstance(config, dict) and config.keys() >= RUN_CONFIG_KEYS

    def read_config(self) -> dict:
        return json.loads(self.config.read_text())

    def check_usable(self) -> None:
        """Raise RunFolderError unless ``path`` is (or can become) a folder this run may use:
        not a file, writable, and empty or holding a keras-sb run."""
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"--out {self.path} is a file, not a folder: give the path of "
                                 "a run folder (new, or one a training stage wrote)")
        existing = self.path if self.path.exists() else _existing_parent(self.path)
        if not os.access(existing, os.W_OK | os.X_OK):
            raise RunFolderError(f"--out {self.path}: {existing} is not writable; give a folder "
                                 "you can write to")
        if self.path.is_dir() and any(self.path.iterdir()) and not self.is_run():
            raise RunFolderError(
                f"--out {self.path} is a folder that does not hold a keras-sb run (no "
                "config.json written by train.py): runs are only written to a new or empty "
                "folder, and --overwrite only deletes run folders. Give another --out.")

    def check_settings(self, config: dict, resume_keys: tuple[str, ...]) -> None:
        """Raise RunFolderError when the folder holds a run whose ``resume_keys`` differ."""
        if not self.config.exists():
            return
        old = self.read_config()
        if "objective" not in old:
            raise RunFolderError(
                f"Run folder {self.path} holds a run of keras-sb 0.1, which cannot be resumed "
                "or extended (its checkpoints still load, e.g. as --init). Pass another --out, "
                "or --overwrite to delete that run.")
        changed = {k: (old.get(k), config.get(k)) for k in resume_keys
                   if old.get(k) != config.get(k)}
        if changed:
            details = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
            state = "a finished" if self.finished else "an unfinished"
            raise RunFolderError(
                f"Run folder {self.path} holds {state} run with other settings ({details}). "
                "Pass another --out, or --overwrite to delete that run.")

    def already_finished(self, config: dict, resume_keys: tuple[str, ...],
                         overwrite: bool) -> bool:
        """True (and says so) when the folder holds this finished run and ``overwrite`` is off;
        False when ``config`` asks a finished run for more epochs (and, if it stopped early,
        a higher patience): it is extended from its last epoch.

        Checks the folder first: other settings, or a folder that is not a run, are errors.
        """
        self.check_usable()
        if overwrite:
            return False
        self.check_settings(config, resume_keys)
        if not self.finished:
            return False
        old, done = self.read_config(), len(self.read_log())
        stopped_early = done < old["epochs"]
        if (config["epochs"] > done and (self.backup / "state.json").exists()
                and (not stopped_early or config["patience"] > old["patience"])):
            log.info("%s: extending the finished run from %d to %d epochs.", self.path, done,
                     config["epochs"])
            return False
        more = ""
        if config["epochs"] > done:
            more = (f" It stopped early after {done} of {old['epochs']} epochs (--patience "
                    f"{old['patience']}): to train on, raise --patience as well."
                    if stopped_early else " It has no resume state to extend (an earlier "
                    "keras-sb version removed it).")
        log.info("%s already holds this finished run of %d epochs (see %s); pass more --epochs "
                 "to extend it, or --overwrite to train again.%s", self.path, done,
                 self.summary, more)
        return True

    def start(self, config: dict, resume_keys: tuple[str, ...], overwrite: bool) -> None:
        """Prepare the folder for ``config`` (call once the run's inputs have been checked).

        With ``overwrite``, deletes what an earlier run wrote here (and nothing else);
        otherwise a run with other ``resume_keys`` settings is refused.
        """
        self.check_usable()
        if overwrite and self.path.is_dir():
            for entry in self.written_by_runs():
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        else:
            self.check_settings(config, resume_keys)
        self.path.mkdir(parents=True, exist_ok=True)
        remove_temporaries(self.path)
        write_text(self.config, json.dumps(config, indent=2, sort_keys=True) + "\n")
        self.summary.unlink(missing_ok=True)  # a finished run being extended

    def read_log(self) -> list[dict]:
        """Rows of ``log.csv`` (one per finished epoch, across resumed sessions)."""
        if not self.log.exists():
            return []
        with self.log.open(newline="") as f:
            return list(csv.DictReader(f))

    def trim_log(self, epochs: int) -> None:
        """Keep the log's rows of the first ``epochs`` epochs: those the resume state holds.

        A kill after an epoch's row was written but before its state was saved reruns that
        epoch; without this its row would appear twice.
        """
        rows = self.read_log()
        kept = [row for row in rows if int(row["epoch"]) < epochs]
        if len(kept) == len(rows):
            return
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
        write_text(self.log, text.getvalue())

    def logged(self, monitor: str) -> list[float]:
        """The values of ``monitor`` in ``log.csv``, one per finished epoch."""
        return [float(row[monitor]) for row in self.read_log() if row.get(monitor)]

    def write_summary(self, summary: dict) -> None:
        """Write ``summary.json``, which marks the run finished (the resume state stays, to
        extend the run with more epochs)."""
        write_text(self.summary, json.dumps(summary, indent=2, sort_keys=True) + "\n")


def _existing_parent(path: Path) -> Path:
    """The nearest existing folder above ``path`` (where it would be created)."""
    for parent in path.absolute().parents:
        if parent.exists():
            return parent
    return Path.cwd()
