"""Keras callbacks shared by the training stages."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from keras_sb.safe_io import save_model
from keras_sb.training.config import RunConfig, flag
from keras_sb.training.resume import ResumeState
from keras_sb.training.run_folder import RunFolder
from keras_sb.visualize import reconstructions, save_grid


class TrainingDiverged(RuntimeError):
    """The loss or the weights became NaN or infinite; the message says what to change."""


def epoch_decay(learning_rate: float, decay: float) -> keras.callbacks.LearningRateScheduler:
    """LR of epoch e (0-based) is ``learning_rate * decay**e``: a pure function of the epoch,
    so a resumed run continues the same schedule."""
    return keras.callbacks.LearningRateScheduler(lambda epoch, _: learning_rate * decay**epoch)


# Settings that can make training diverge, and when their value is a likely cause: loss
# weights above the classification loss's 1, a learning rate above the stage's default, a
# learning rate that grows, lower-precision arithmetic.
DIVERGENCE_CAUSES: dict[str, Callable[[object, object], bool]] = {
    "pretext_weight": lambda value, default: value > 1,
    "pseudo_label_weight": lambda value, default: value > 1,
    "learning_rate": lambda value, default: value > default,
    "lr_decay": lambda value, default: value > 1,
    "mixed_precision": lambda value, default: value and not default,
}


def divergence_advice(config: RunConfig) -> str:
    """What to change after ``config``'s run diverged: the settings of DIVERGENCE_CAUSES it
    sets to a likely cause, else (and besides) a lower ``--learning-rate``."""
    causes = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name in DIVERGENCE_CAUSES and DIVERGENCE_CAUSES[f.name](value, f.default):
            causes.append(f"{flag(f.name)} (off by default)" if isinstance(value, bool)
                          else f"{flag(f.name)} {value:g} (default {f.default:g})")
    lower = f"lower --learning-rate (now {config.learning_rate:g})"
    if not causes:
        return lower[0].upper() + lower[1:] + "."
    advice = (f"Likely cause: {causes[0]}; bring it back towards its default" if len(causes) == 1
              else f"Likely causes: {', '.join(causes)}; bring them back towards their defaults")
    return advice + ("." if "--learning-rate" in advice else f", or {lower}.")


class StopOnNonFinite(keras.callbacks.Callback):
    """Raises TrainingDiverged on the first non-finite loss (each batch), epoch metric or
    weight (each epoch), naming the settings of ``config`` that likely caused it.

    Raising (rather than ``stop_training``, as Keras' ``TerminateOnNaN`` does) ends ``fit``
    before the epoch-end callbacks, so no NaN checkpoint or resume state is written. Keep it
    before them in the callback list.
    """

    def __init__(self, config: RunConfig):
        super().__init__()
        self.advice = divergence_advice(config)

    def on_train_batch_end(self, batch: int, logs=None):
        self._check((logs or {}).get("loss"), f"loss at step {batch + 1}")

    def on_epoch_end(self, epoch: int, logs=None):
        for name, value in (logs or {}).items():
            self._check(value, f"{name} of epoch {epoch + 1}")
        if not all(np.isfinite(w).all() for w in self.model.get_weights()):
            self._diverged(f"non-finite weights after epoch {epoch + 1}")

    def _check(self, value, what: str) -> None:
        if value is not None and not math.isfinite(float(value)):
            self._diverged(f"{what} is {float(value)}")

    def _diverged(self, what: str) -> None:
        raise TrainingDiverged(
            f"training diverged: {what}. Nothing of this epoch was saved; the run folder keeps "
            f"the last good epoch. {self.advice} Then start again with --overwrite (or another "
            "--out).")


class AtomicCheckpoint(keras.callbacks.Callback):
    """After each epoch, saves the model (``saved``, or the one being trained) to ``path``
    (when ``monitor`` is given: only when it improves on ``best``) through a temporary file and
    a rename; a ``{epoch}`` in ``path`` is replaced by the 3-digit epoch number.

    Keras' ``ModelCheckpoint`` writes in place: a kill or a full disk while it writes leaves a
    broken checkpoint. (``StopOnNonFinite``, earlier in the list, keeps non-finite weights
    from reaching it.)
    """

    def __init__(self, path: str | Path, monitor: str | None = None, mode: str = "min",
                 best: float | None = None, saved: keras.Model | None = None):
        super().__init__()
        self.path = Path(path)
        self.saved = saved
        self.monitor = monitor
        self.better = np.less if mode == "min" else np.greater
        self.best = best

    def on_epoch_end(self, epoch: int, logs=None):
        if self.monitor:
            value = float((logs or {})[self.monitor])
            if self.best is not None and not self.better(value, self.best):
                return
            self.best = value
        save_model(self.saved or self.model, str(self.path).replace("{epoch}", f"{epoch + 1:03d}"))


class EveryNthEpoch(keras.callbacks.Callback):
    """Runs ``callback``'s ``on_epoch_end`` after every ``n``-th epoch only."""

    def __init__(self, n: int, callback: keras.callbacks.Callback):
        super().__init__()
        self.n = n
        self.callback = callback

    def set_model(self, model):
        super().set_model(model)
        self.callback.set_model(model)

    def on_epoch_end(self, epoch: int, logs=None):
        if (epoch + 1) % self.n == 0:
            self.callback.on_epoch_end(epoch, logs)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping that, in a resumed run, counts the epochs logged before the interruption
    (``history``: the monitored value of each), as if training had not stopped."""

    def __init__(self, history: list[float], **kwargs):
        super().__init__(**kwargs)
        self.history = history

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._set_monitor_op()
        for epoch, value in enumerate(self.history):
            self.wait += 1
            if self._is_improvement(value, self.best):
                self.best, self.best_epoch, self.wait = value, epoch, 0


class PreviewGrid(keras.callbacks.Callback):
    """After each epoch, writes ``previews/epoch_NNN.png``: inputs, targets and predictions."""

    def __init__(self, images: np.ndarray, folder, every: int = 1):
        super().__init__()
        self.images = images
        self.folder = folder
        self.every = every

    def on_epoch_end(self, epoch: int, logs=None):
        if (epoch + 1) % self.every == 0:
            panels = reconstructions(self.model, self.images)
            save_grid(panels, self.folder / f"epoch_{epoch + 1:03d}.png", scale=2)


def run_callbacks(run: RunFolder, state: ResumeState, config: RunConfig, monitor: str,
                  mode: str, resuming: bool, history: list[float],
                  extra: list[keras.callbacks.Callback], saved: keras.Model
                  ) -> list[keras.callbacks.Callback]:
    """Divergence check, LR decay, early stopping, best/last (and every
    ``config.snapshot_every``-th epoch's) checkpoints of ``saved``, CSV and TensorBoard logs,
    ``extra`` callbacks, and last the resume state, so that an epoch is committed only once
    everything else of it is written. ``history``: the monitored value of each epoch logged
    before this session."""
    best_so_far = (min(history) if mode == "min" else max(history)) if history else None
    every = config.snapshot_every
    snapshots = [EveryNthEpoch(every, AtomicCheckpoint(run.snapshot, saved=saved))
                 ] if every else []
    return [
        StopOnNonFinite(config),
        epoch_decay(config.learning_rate, config.lr_decay),
        ResumableEarlyStopping(history, monitor=monitor, mode=mode, patience=config.patience,
                               verbose=1),
        AtomicCheckpoint(run.best, monitor, mode, best_so_far, saved),
        AtomicCheckpoint(run.last, saved=saved),
        *snapshots,
        keras.callbacks.CSVLogger(str(run.log), append=resuming),
        keras.callbacks.TensorBoard(str(run.tensorboard), update_freq="epoch"),
        *extra,
        state,
    ]
