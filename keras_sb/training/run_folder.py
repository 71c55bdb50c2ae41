"""A run folder: config, checkpoints, logs and previews of one training run, and resuming."""

from __future__ import annotations

import csv
import dataclasses
import fcntl
import io
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import h5py
import numpy as np

from keras_sb.safe_io import TEMP_PREFIX, remove_temporaries, write_text

log = logging.getLogger("keras_sb")

# Keys every config.json written by a training stage holds (RunConfig's fields): how a folder
# is recognised as a keras-sb run, also one written by an earlier version.
RUN_CONFIG_KEYS = frozenset({"data", "out", "epochs", "batch_size", "learning_rate", "lr_decay",
                             "patience", "seed", "strategy"})


# The lock file a process holds while it uses a folder (its PID and host inside).
LOCK_NAME = ".lock"
SETTING_TYPES = {"int": int, "float": float, "str": str, "bool": bool}
NO_STATE = {"epochs": 0, "complete": False}


class RunFolderError(ValueError):
    """The run folder cannot be used as asked (names the folder and what to do)."""


def damaged(path: Path, problem: str) -> RunFolderError:
    """The error for a run file that cannot be used: names it, the problem, and the ways out."""
    return RunFolderError(f"{path} is damaged: {problem}. Restore it from a copy, or pass "
                          "--overwrite to delete this run and train afresh")


def read_run_file(path: Path) -> str:
    """The text of run file ``path``; RunFolderError naming it when it is not UTF-8."""
    data = path.read_bytes()
    try:
        return data.decode()
    except UnicodeDecodeError as error:
        raise damaged(path, f"not UTF-8 text (byte {data[error.start]:#04x} at offset "
                      f"{error.start})") from None


def check_output_folder(path: str | Path, purpose: str) -> None:
    """Raise RunFolderError naming ``--out path`` and what to give instead (``purpose``: "a
    folder for ...") unless ``path`` is, or can be created as, a folder this process can write
    to. Tried by making (and removing) a temporary folder in it or in its nearest existing
    parent: permission bits tell nothing for root, read-only mounts or ``/proc``."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise RunFolderError(f"--out {path} is a file, not a folder: give {purpose}")
    existing = path if path.exists() else _existing_parent(path)
    if not existing.is_dir():
        raise RunFolderError(f"--out {path}: {existing} is a file, so no folder can be made "
                             f"there: give {purpose}")
    try:
        probe = tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=existing)
    except OSError as error:
        raise RunFolderError(f"--out {path}: {existing} is not writable ({error.strerror}): "
                             f"give another --out ({purpose})") from None
    with suppress(FileNotFoundError):  # a run starting there removed it
        os.rmdir(probe)


def setting_types(config) -> dict[str, type]:
    """The type of each field of the dataclass ``config``: what its config.json must hold."""
    return {f.name: SETTING_TYPES.get(f.type, f.type) for f in dataclasses.fields(config)}


def is_a(value, expected: type) -> bool:
    """``value`` fits a setting of type ``expected`` (an int fits a float; a bool only bool)."""
    if isinstance(value, bool) != (expected is bool):
        return False
    return isinstance(value, expected) or (expected is float and isinstance(value, int))


def read_state(path: Path) -> dict:
    """The resume state ``path`` ({"epochs": n, "weights": file, "complete": bool}; epochs 0
    when there is none), its keys and types checked."""
    if not path.exists():
        return dict(NO_STATE)
    text = read_run_file(path)
    try:
        state = json.loads(text)
    except ValueError as error:
        raise damaged(path, f"not JSON ({error})") from None
    weights = state.get("weights") if isinstance(state, dict) else None
    if not (isinstance(state, dict) and is_a(state.get("epochs"), int) and state["epochs"] >= 0
            and isinstance(state.get("complete"), bool)
            and (state["epochs"] == 0 or (isinstance(weights, str)
                                          and weights not in ("", ".", "..")
                                          and weights == Path(weights).name))):
        raise damaged(path, 'expected {"epochs": N, "weights": "FILE", "complete": true or '
                      f"false}}, got {text[:120]!r}")
    return state


def check_state_values(path: Path, state_file: Path) -> None:
    """Raise RunFolderError unless ``path`` (named by ``state_file``) holds resume values: an
    ``.npz`` of arrays ``arr_0``, ``arr_1``, ... that all read back, or the ``.weights.h5``
    of keras-sb 0.2."""
    if not path.is_file():
        raise damaged(state_file, f"the file it names, {path.name}, is missing")
    if path.name.endswith(".weights.h5"):  # 0.2: read until 0.5 (docs/run_folders.md)
        if not h5py.is_hdf5(path):
            raise damaged(path, "not an HDF5 file")
        return
    try:
        arrays = np.load(path, allow_pickle=False)
        if not isinstance(arrays, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive")
        with arrays:
            if not arrays.files or set(arrays.files) != {f"arr_{i}"
                                                         for i in range(len(arrays.files))}:
                raise ValueError(f"arrays {arrays.files}, not arr_0, arr_1, ...")
            for name in arrays.files:
                arrays[name]  # reads it whole: the archive's checksums are verified
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise damaged(path, str(error) or type(error).__name__) from None


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (an OS lock on its ``.lock`` file, which holds this
    process's PID) while the block runs; RunFolderError naming the holder when another
    process has it. The lock dies with its process: a killed run leaves no stale lock.

    Creates ``folder`` if needed, and removes the lock file (and the folders created here,
    if they are still empty) at the end.
    """
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    lock = folder / LOCK_NAME
    while True:
        folder.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # the folder was just removed by a holder that ended
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunFolderError(f"{folder} is in use by another keras-sb process "
                                 f"({lock_holder(lock)}): wait for it to end, or stop it, "
                                 "then rerun the command") from None
        try:  # still the lock file: a holder that ended may have removed the one locked
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)
        for path in created:
            try:
                path.rmdir()
            except OSError:  # not empty
                break


def lock_holder(lock: Path) -> str:
    """"PID n on HOST", as the holder of ``lock`` wrote it once it had locked it."""
    for _ in range(20):
        try:
            pid, _, host = lock.read_text(errors="replace").strip().partition(" ")
        except FileNotFoundError:  # it has just ended
            break
        if pid:
            return f"PID {pid} on {host}"
        time.sleep(0.05)  # locked a moment ago: the PID is being written
    return "PID unknown"

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
        """The entries of the folder that a run writes (those ``--overwrite`` may delete; not
        the lock file, which the process holds)."""
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

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's lock (:func:`folder_lock`), creating the folder if needed: one
        process at a time uses a run folder."""
        self.check_writable()
        with folder_lock(self.path):
            yield

    def check_writable(self) -> None:
        """Raise RunFolderError unless ``path`` is (or can become) a folder this process can
        write to."""
        check_output_folder(self.path, "the path of a run folder (new, or one a training "
                            "stage wrote)")

    def check_usable(self) -> None:
        """Raise RunFolderError unless ``path`` is (or can become) a folder this run may use:
        not a file, writable, and empty (but for a lock file) or holding a keras-sb run."""
        self.check_writable()
        if (self.path.is_dir() and any(e.name != LOCK_NAME for e in self.path.iterdir())
                and not self.is_run()):
            raise RunFolderError(
                f"--out {self.path} is a folder that does not hold a keras-sb run (no "
                "config.json written by keras-sb, or it cannot be read): runs are only "
                "written to a new or empty folder, and --overwrite only deletes run folders. "
                "Restore a damaged config.json from a copy, or give another --out.")

    def check_files(self, types: dict[str, type]) -> None:
        """Raise RunFolderError naming the file and what to do unless every file a rerun reads
        back is sound: ``config.json`` (each setting of its type in ``types``),
        ``summary.json`` (:meth:`check_summary`), the resume state (``backup/state.json`` and
        the values it names) and ``log.csv`` (UTF-8, a row for each committed epoch, in order,
        and at most one more, of an epoch not yet committed)."""
        if not self.config.exists():
            return
        config = self.read_config()
        for key, value in config.items():
            if key in types and not is_a(value, types[key]):
                raise damaged(self.config, f"{key!r} is {value!r}, not of type "
                              f"{types[key].__name__}")
        if self.finished:
            self.check_summary()
        # keras-sb 0.1's (refused by check_settings): read until 0.5, removed after
        if "objective" not in config:
            return
        state_file = self.backup / "state.json"
        try:
            state = read_state(state_file)
            if state["epochs"]:
                check_state_values(self.backup / state["weights"], state_file)
        except RunFolderError as error:
            if not self.finished:
                raise
            raise RunFolderError(f"{error}; or delete {self.backup} to keep the finished run "
                                 "as it is, without the means to extend it") from None
        # Without a state, a finished run's epochs are unknown (keras-sb 0.2 removed it):
        # read until 0.5, removed after (docs/run_folders.md).
        committed = state["epochs"] if state_file.exists() or not self.finished else None
        self.check_log(committed, state["complete"] or self.finished, state_file)

    def check_summary(self) -> None:
        """Raise RunFolderError unless ``summary.json`` holds a JSON object (what marks the
        run finished is then a summary a stage wrote, not a damaged file)."""
        text = read_run_file(self.summary)
        try:
            summary = json.loads(text)
        except ValueError as error:
            raise damaged(self.summary, f"not JSON ({error})") from None
        if not isinstance(summary, dict):
            raise damaged(self.summary, f"expected the run's summary (a JSON object), got "
                          f"{text[:80]!r}")

    def check_log(self, committed: int | None, ended: bool, state_file: Path) -> None:
        """Raise RunFolderError unless ``log.csv`` has a header, then one row per epoch in
        order: ``committed`` of them (when known), and, unless the run has ``ended``, perhaps
        one more (an epoch logged but not committed when the run was stopped)."""
        if not self.log.exists():
            if committed:
                raise damaged(self.log, f"it is missing, but {state_file} records {committed} "
                              "finished epochs")
            return
        reader = csv.reader(io.StringIO(read_run_file(self.log), newline=""))
        header = next(reader, [])
        rows = [(reader.line_num, row) for row in reader]
        if rows and header[:1] != ["epoch"]:
            raise damaged(self.log, f"its first line is {','.join(header)[:80]!r}, not the "
                          "header (epoch,...)")
        most = None if committed is None else committed + (0 if ended else 1)
        for epoch, (line, row) in enumerate(rows):
            if most is not None and epoch >= most:
                raise damaged(self.log, f"line {line} ({','.join(row)[:80]!r}) comes after "
                              f"the {committed} epochs that {state_file} records")
            if not (len(row) == len(header) and row[0] == str(epoch)
                    and all(map(_is_number, row[1:]))):
                raise damaged(self.log, f"line {line} is not the row of epoch {epoch} "
                              f"({','.join(row)[:80]!r})")
        if committed is not None and len(rows) < committed:
            raise damaged(self.log, f"it has rows for {len(rows)} epochs, but {state_file} "
                          f"records {committed} finished epochs")

    def check_settings(self, config: dict, resume_keys: dict[str, object]) -> None:
        """Raise RunFolderError when the folder holds a run whose ``resume_keys`` differ (a
        setting its config.json lacks, added by a later release, counts as its default)."""
        if not self.config.exists():
            return
        old = self.read_config()
        if "objective" not in old:  # 0.1: read until 0.5 (docs/run_folders.md)
            raise RunFolderError(
                f"Run folder {self.path} holds a run of keras-sb 0.1, which cannot be resumed "
                "or extended (its checkpoints still load, e.g. as --init). Pass another --out, "
                "or --overwrite to delete that run.")
        changed = {k: (old.get(k, default), config.get(k))
                   for k, default in resume_keys.items() if old.get(k, default) != config.get(k)}
        if changed:
            details = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
            state = "a finished" if self.finished else "an unfinished"
            raise RunFolderError(
                f"Run folder {self.path} holds {state} run with other settings ({details}). "
                "Pass another --out, or --overwrite to delete that run.")

    def already_finished(self, config: dict, resume_keys: dict[str, object], overwrite: bool,
                         types: dict[str, type]) -> bool:
        """True (and says so) when the folder holds this finished run and ``overwrite`` is off;
        False when ``config`` asks a finished run for more epochs (and, if it stopped early,
        a higher patience): it is extended from its last epoch.

        Checks the folder first, changing nothing: a folder that is not a run, other
        settings, or a damaged file (:meth:`check_files`; ``types``: each setting's) are
        errors.
        """
        self.check_usable()
        if overwrite:
            return False
        self.check_files(types)
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

    def start(self, config: dict, resume_keys: dict[str, object], overwrite: bool) -> None:
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
        epoch; without this its row would appear twice. (Checked by :meth:`check_log`; other
        workers than the chief have no log.)
        """
        if not self.log.exists():
            return
        with self.log.open(newline="") as f:
            header, *rows = csv.reader(f)
        if len(rows) <= epochs:
            return
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows([header, *rows[:epochs]])
        write_text(self.log, text.getvalue())

    def logged(self, monitor: str) -> list[float]:
        """The values of ``monitor`` in ``log.csv``, one per finished epoch."""
        return [float(row[monitor]) for row in self.read_log() if row.get(monitor)]

    def write_summary(self, summary: dict) -> None:
        """Write ``summary.json``, which marks the run finished (the resume state stays, to
        extend the run with more epochs)."""
        write_text(self.summary, json.dumps(summary, indent=2, sort_keys=True) + "\n")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _existing_parent(path: Path) -> Path:
    """The nearest existing folder above ``path`` (where it would be created)."""
    for parent in path.absolute().parents:
        if parent.exists():
            return parent
    return Path.cwd()
