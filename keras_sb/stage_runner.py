"""Runs a stage the command line parsed: TensorFlow's set-up, the stage's config and function,
and its errors as exit statuses with a message (imports TensorFlow: after ``keras_sb.load()``,
to keep its start-up lines muted)."""

from __future__ import annotations

import importlib
import logging
import signal
import sys

import tensorflow as tf

from keras_sb.commands import command
from keras_sb.data import DataError
from keras_sb.threads import share_cores_between_halves
from keras_sb.training.callbacks import TrainingDiverged
from keras_sb.training.distribute import Cluster
from keras_sb.training.run_folder import RunFolderError

# The stages that train on several workers (TF_CONFIG); the others run once, on one machine.
DISTRIBUTED = ("pretrain", "finetune", "linprobe", "classifier")
# How TensorFlow's collective ops fail when a worker dies (its coordination service notices).
WORKER_LOST = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
               tf.errors.AbortedError, tf.errors.CancelledError)


class Terminated(BaseException):
    """SIGTERM arrived while a stage ran (raised as Ctrl-C raises KeyboardInterrupt)."""


def _terminate(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    raise Terminated


def run(stage: str, config_cls: type, function: str, settings: dict) -> int:
    """Build ``config_cls(**settings)`` and call ``function`` ("module:name") with it;
    returns the exit status (docs/run_folders.md#exit-codes-of-keras-sb): 0, 2 for settings
    or inputs that cannot work, 1 for a failure while running, 130 when interrupted (Ctrl-C),
    143 when stopped by SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("tensorflow").setLevel(logging.WARNING)  # a line per collective op
    share_cores_between_halves()
    # Not on several workers, where a worker waits for the others in native code that a
    # Python handler cannot interrupt (SIGTERM must end it there), nor when the process has a
    # SIGTERM handler of its own (e.g. a test runner's).
    try:
        single = Cluster.from_environment().workers <= 1
    except ValueError:  # a TF_CONFIG that cannot be read: reported by _run
        single = False
    handled = single and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    if handled:
        signal.signal(signal.SIGTERM, _terminate)
    try:
        return _run(stage, config_cls, function, settings)
    finally:
        if handled:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _run(stage: str, config_cls: type, function: str, settings: dict) -> int:
    module, _, name = function.partition(":")
    try:
        if stage not in DISTRIBUTED and Cluster.from_environment().workers > 1:
            raise ValueError(f"{command(stage)} runs on one machine, but TF_CONFIG lists "
                             "several workers: run it once, without TF_CONFIG")
        getattr(importlib.import_module(module), name)(config_cls(**settings))
    except (ValueError, DataError, RunFolderError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except TrainingDiverged as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # a full disk, a folder that became unwritable, ...
        print(f"error: {error}. What was saved before stays usable: rerun the same command "
              "to resume.", file=sys.stderr)
        return 1
    except WORKER_LOST as error:
        print(f"error: another worker of this multi-worker job stopped or cannot be reached "
              f"({type(error).__name__}: {str(error).splitlines()[0][:300]}). Rerun the same "
              "command on every worker to resume from the last finished epoch.",
              file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Terminated) as stop:
        print(f"\n{'Stopped by SIGTERM' if isinstance(stop, Terminated) else 'Interrupted'}. "
              "Rerun the same command to resume from the last finished epoch.", file=sys.stderr)
        return 143 if isinstance(stop, Terminated) else 130
    return 0
