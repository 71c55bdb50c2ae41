"""Starting a multi-worker job safely: this worker's port checked before TensorFlow binds it,
a bounded wait for the other workers, and the same settings on every worker.

Without these, a port in use ends the chief with "Could not start gRPC server" (no port
named) while the other workers wait for it without end, and workers started with different
commands fail later with a shape mismatch in one worker's log.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import numpy as np

TIMEOUT_VARIABLE = "KERAS_SB_WORKER_TIMEOUT"
DEFAULT_TIMEOUT = 120.0  # seconds for every worker of TF_CONFIG to start
LOCAL_SETTINGS = ("out", "data", "progress")  # may differ between workers


def start_timeout() -> float:
    """Seconds to wait for the other workers (``KERAS_SB_WORKER_TIMEOUT``, default 120)."""
    text = os.environ.get(TIMEOUT_VARIABLE, "")
    try:
        seconds = float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        seconds = -1
    if not seconds > 0:
        raise ValueError(f"{TIMEOUT_VARIABLE} must be a number of seconds above 0, got {text!r}")
    return seconds


def check_port_free(address: str, task: str) -> None:
    """Raise ValueError naming ``address`` (this worker's ``host:port`` in TF_CONFIG) when
    another process holds its port: TensorFlow's own error does not name it."""
    port = int(address.rsplit(":", 1)[1])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("", port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            raise ValueError(f"port {port} of this worker ({task}, {address} in TF_CONFIG) is in "
                             "use by another process: stop it, or give this worker a free port "
                             "in TF_CONFIG (the same on every worker)") from None


def listening(address: str) -> bool:
    """Whether something accepts connections at ``host:port``."""
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=2):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def start_deadline(seconds: float, others: dict[str, str]) -> Iterator[None]:
    """Ends the process with a message naming the workers of ``others`` ({task: address})
    that do not listen, unless the block is done within ``seconds``.

    TensorFlow waits for every worker of TF_CONFIG without end, in native code that holds
    the GIL and catches SIGTERM: neither a thread nor a signal handler of this process can
    end it, so a small watcher process (this file run as a script) does, with SIGKILL.
    """
    tasks = [f"{task}={address}" for task, address in others.items()]
    watcher = subprocess.Popen([sys.executable, __file__, str(os.getpid()), str(seconds),
                                *tasks], stdin=subprocess.PIPE)
    try:
        yield
    finally:
        watcher.stdin.close()  # done: the watcher sees the end of its input and exits
        watcher.wait()


def watch(parent: int, seconds: float, others: dict[str, str]) -> None:
    """The watcher: unless its input ends within ``seconds``, says which of ``others``
    do not listen and kills ``parent``."""
    if select.select([sys.stdin], [], [], seconds)[0]:
        return
    silent = [f"{task} ({address})" for task, address in others.items()
              if not listening(address)]
    cause = (f"nothing listens at {', '.join(silent)}" if silent else
             "they listen, but did not join (started with another TF_CONFIG?)")
    print(f"error: the other workers of this multi-worker job did not start within "
          f"{seconds:g} s: {cause}. Start the same command on every worker of TF_CONFIG (a "
          f"worker that failed says why in its own log); {TIMEOUT_VARIABLE} sets the wait.",
          file=sys.stderr, flush=True)
    os.kill(parent, signal.SIGKILL)


def settings_digests(settings: dict) -> tuple[list[str], np.ndarray]:
    """(names, digests): each setting but the ``LOCAL_SETTINGS`` as a 48-bit number (exact
    in the float64 that workers exchange), in name order."""
    names = sorted(set(settings) - set(LOCAL_SETTINGS))
    digests = [int.from_bytes(hashlib.sha256(json.dumps(settings[name], sort_keys=True,
                                                        default=str).encode()).digest()[:6])
               for name in names]
    return names, np.array(digests, np.int64)


def differences(names: list[str], digests: np.ndarray) -> dict[str, list[int]]:
    """{flag: workers whose value differs from the chief's} from every worker's ``digests``
    (one row per worker, the chief's first)."""
    found: dict[str, list[int]] = {}
    for worker, row in enumerate(digests[1:], start=1):
        for name, ours, chiefs in zip(names, row, digests[0], strict=True):
            if ours != chiefs:
                found.setdefault("--" + name.replace("_", "-"), []).append(worker)
    return found


def mismatch_message(found: dict[str, list[int]]) -> str:
    listed = "; ".join(f"{flag} on worker(s) {', '.join(map(str, workers))}"
                       for flag, workers in found.items())
    return (f"the workers of this multi-worker job were started with different settings "
            f"(differing from the chief's: {listed}). Start the same command on every worker "
            f"(only {', '.join('--' + name for name in LOCAL_SETTINGS)} may differ).")


if __name__ == "__main__":  # the watcher of start_deadline
    watch(int(sys.argv[1]), float(sys.argv[2]),
          dict(task.split("=", 1) for task in sys.argv[3:]))
