"""Shared fixtures: small real-photo folders built from the shipped sample; and no process the
tests started outlives an interrupted run (Ctrl-C, SIGTERM)."""

import contextlib
import os
import shutil
import signal
from pathlib import Path

import pytest

import keras_sb  # noqa: F401  (imports TensorFlow quietly before anything else)

SAMPLE = Path(__file__).resolve().parent.parent / "keras_sb" / "sample_data"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_handlers_before: dict[int, object] = {}


def descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (its children, theirs, ...) that have not ended, from
    /proc (Linux; elsewhere none)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, parent = stat.read_text().rpartition(")")[2].split()[:2]
        except (OSError, ValueError):  # ended meanwhile
            continue
        if state != "Z":
            children.setdefault(int(parent), []).append(int(stat.parent.name))
    found, pending = [], [pid]
    while pending:
        below = children.get(pending.pop(), [])
        found += below
        pending += below
    return found


def kill_descendants() -> None:
    """SIGKILL every process this one started, and the ones those started."""
    for _ in range(3):  # again for any started meanwhile
        pids = descendants(os.getpid())
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _kill_descendants_first(signum: int, frame) -> None:
    """A stop signal's handler: the tests' processes end at once (a test waiting for one in a
    ``finally`` would otherwise keep the run alive), then the signal does what it did before
    (SIGINT: KeyboardInterrupt; SIGTERM: the process ends)."""
    kill_descendants()
    before = _handlers_before[signum]
    if callable(before):
        before(signum, frame)
    else:
        signal.signal(signum, before)
        os.kill(os.getpid(), signum)


def pytest_configure(config) -> None:
    for signum in STOP_SIGNALS:
        before = signal.getsignal(signum)
        if before not in (signal.SIG_IGN, None):  # None: a handler not set from Python
            _handlers_before[signum] = before
            signal.signal(signum, _kill_descendants_first)


def pytest_unconfigure(config) -> None:
    for signum, before in _handlers_before.items():
        signal.signal(signum, before)
    _handlers_before.clear()
    kill_descendants()  # e.g. after a KeyboardInterrupt raised by the code under test


@pytest.fixture(scope="session")
def tiny_unlabelled(tmp_path_factory) -> Path:
    """An ssl_data_96-style folder whose unsupervised/ holds 48 real 96x96 photos."""
    root = tmp_path_factory.mktemp("tiny_ssl")
    target = root / "unsupervised"
    target.mkdir()
    for path in sorted((SAMPLE / "unsupervised").glob("*.jpg"))[:48]:
        shutil.copy(path, target / path.name)
    return root
