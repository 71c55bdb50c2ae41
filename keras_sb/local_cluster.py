"""``python -m keras_sb.local_cluster N STAGE [options]``: N training workers on this
machine (127.0.0.1), each a ``python -m keras_sb`` process with its ``TF_CONFIG``.

The same job as N machines running the same command (docs/distributed.md), to try
multi-worker training or test it. Each worker's output lines start with ``[worker i]``;
Ctrl-C reaches every worker; the exit code is the first failing worker's (0 when all
succeed). Once a worker fails the others get ``GRACE_SECONDS`` to stop on their own
(TensorFlow's health check stops them) before they are terminated.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

GRACE_SECONDS = 120


def free_ports(count: int) -> list[int]:
    """``count`` TCP ports on 127.0.0.1 that are free now."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def tf_config(ports: Sequence[int], index: int) -> str:
    """The ``TF_CONFIG`` of worker ``index`` of a cluster on 127.0.0.1 ``ports``."""
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def start_workers(count: int, train_args: Sequence[str], threads: int = 0
                  ) -> list[subprocess.Popen]:
    """``count`` workers running ``python -m keras_sb train_args``, output piped.
    ``threads`` > 0 caps each worker's TensorFlow threads (sharing a machine's cores)."""
    ports = free_ports(count)
    workers = []
    for index in range(count):
        env = dict(os.environ, TF_CONFIG=tf_config(ports, index))
        if threads:
            env.update(TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS=str(threads))
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "keras_sb", *train_args], env=env, text=True, bufsize=1,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True))
    return workers


def relay(worker: subprocess.Popen, index: int) -> threading.Thread:
    """A thread printing ``worker``'s output lines prefixed with ``[worker index]``."""

    def copy() -> None:
        for line in worker.stdout:
            sys.stdout.write(f"[worker {index}] {line}")
            sys.stdout.flush()

    thread = threading.Thread(target=copy, daemon=True)
    thread.start()
    return thread


def wait_for(workers: list[subprocess.Popen], grace: float = GRACE_SECONDS) -> int:
    """Wait for every worker; once one fails, terminate those still running after
    ``grace`` seconds. Returns the first non-zero exit code, else 0."""
    failed_at = None
    while any(w.poll() is None for w in workers):
        failed = [w.returncode for w in workers if w.returncode not in (None, 0)]
        if failed and failed_at is None:
            failed_at = time.monotonic()
        if failed_at is not None and time.monotonic() - failed_at > grace:
            signal_all(workers, signal.SIGTERM)
        time.sleep(0.2)
    return next((w.returncode for w in workers if w.returncode), 0)


def signal_all(workers: list[subprocess.Popen], signum: int) -> None:
    for worker in workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m keras_sb.local_cluster",
        description="Run N multi-worker training processes on 127.0.0.1; the remaining "
                    "arguments go to every worker's keras-sb command (e.g. pretrain --data "
                    "DIR ..., or --stage pretrain ... as for train.py).")
    parser.add_argument("workers", type=int, help="number of workers (at least 2)")
    parser.add_argument("--threads-per-worker", type=int, default=0,
                        help="TensorFlow threads per worker (default: TensorFlow's choice)")
    args, train_args = parser.parse_known_args(argv)
    if args.workers < 2:
        parser.error("workers: give at least 2 (one worker is plain `keras-sb STAGE ...`)")
    workers = start_workers(args.workers, train_args, args.threads_per_worker)
    relays = [relay(w, i) for i, w in enumerate(workers)]
    previous = signal.signal(signal.SIGINT, lambda *_: signal_all(workers, signal.SIGINT))
    try:
        code = wait_for(workers)
    finally:
        signal.signal(signal.SIGINT, previous)
    for thread in relays:
        thread.join(timeout=5)
    return code


if __name__ == "__main__":
    sys.exit(main())
