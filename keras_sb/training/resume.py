"""The resume state of a run: weights and optimizer state after the last finished epoch.

Keras' ``BackupAndRestore`` overwrites its weights file and its epoch file in place, one after
the other: a kill while it writes leaves a state that cannot be loaded, or weights of one epoch
with the count of another. Here each epoch's weights go to a new file, and ``state.json``,
replaced atomically after the weights are on disk, is the single commit point.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras

from keras_sb.safe_io import remove_temporaries, save_model, write_text

log = logging.getLogger("keras_sb")


class ResumeState(keras.callbacks.Callback):
    """``folder/state.json`` ({"epochs": n, "weights": file, "complete": bool}) and the
    weights file it names. Saved at the end of every epoch (keep this callback last, after
    the checkpoints and the log) and marked complete when training ends."""

    def __init__(self, folder: str | Path):
        super().__init__()
        self.folder = Path(folder)
        self.state_file = self.folder / "state.json"

    def read(self) -> dict:
        """The committed state ({"epochs": 0} when there is none)."""
        if self.state_file.exists():
            return json.loads(self.state_file.read_text())
        return {"epochs": 0, "complete": False}

    def restore(self, model: keras.Model) -> dict:
        """Load the committed weights and optimizer state into ``model``; return the state."""
        state = self.read()
        if state["epochs"]:
            with model.distribute_strategy.scope():
                if model.optimizer is not None and not model.optimizer.built:
                    model.optimizer.build(model.trainable_variables)
                model.load_weights(self.folder / state["weights"])
        return state

    def on_epoch_end(self, epoch: int, logs=None):
        self._commit(epoch + 1, complete=False)

    def on_train_end(self, logs=None):
        state = self.read()
        if state["epochs"]:
            self._commit(state["epochs"], complete=True, weights=state["weights"])

    def _commit(self, epochs: int, complete: bool, weights: str | None = None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        remove_temporaries(self.folder)
        if weights is None:
            weights = f"epoch_{epochs:04d}.weights.h5"
            save_model(self.model, self.folder / weights)
        write_text(self.state_file, json.dumps(
            {"epochs": epochs, "weights": weights, "complete": complete}) + "\n")
        for old in self.folder.glob("epoch_*.weights.h5"):
            if old.name != weights:
                old.unlink()

