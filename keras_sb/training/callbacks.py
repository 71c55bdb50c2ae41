"""Keras callbacks shared by the training stages."""

from __future__ import annotations

import keras
import numpy as np

from keras_sb.training.run_folder import RunFolder
from keras_sb.visualize import reconstructions, save_grid


def epoch_decay(learning_rate: float, decay: float) -> keras.callbacks.LearningRateScheduler:
    """LR of epoch e (0-based) is ``learning_rate * decay**e``: a pure function of the epoch,
    so a resumed run continues the same schedule."""
    return keras.callbacks.LearningRateScheduler(lambda epoch, _: learning_rate * decay**epoch)


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


def run_callbacks(run: RunFolder, monitor: str, mode: str, patience: int, learning_rate: float,
                  decay: float, resuming: bool, restore_best: bool = False
                  ) -> list[keras.callbacks.Callback]:
    """Resume state, LR decay, early stopping, best/last checkpoints, CSV and TensorBoard logs.

    With ``restore_best``, early stopping puts back the weights of the best epoch.

    ``BackupAndRestore`` comes first so that a resumed run restores before anything else.
    """
    best_so_far = run.best_logged(monitor, mode) if resuming else None
    return [
        keras.callbacks.BackupAndRestore(str(run.backup)),
        epoch_decay(learning_rate, decay),
        keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=patience,
                                      restore_best_weights=restore_best, verbose=1),
        keras.callbacks.ModelCheckpoint(str(run.best), monitor=monitor, mode=mode,
                                        save_best_only=True, initial_value_threshold=best_so_far),
        keras.callbacks.ModelCheckpoint(str(run.last)),
        keras.callbacks.CSVLogger(str(run.log), append=resuming),
        keras.callbacks.TensorBoard(str(run.tensorboard), update_freq="epoch"),
    ]
