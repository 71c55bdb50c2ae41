"""The resume state of a run: weights and optimizer state after the last finished epoch.

Keras' ``BackupAndRestore`` overwrites its weights file and its epoch file in place, one after
the other: a kill while it writes leaves a state that cannot be loaded, or weights of one epoch
with the count of another (and on several workers every worker writes the same file). Here
each epoch's values go to a new file, and ``state.json``, replaced atomically after the values
are on disk, is the single commit point.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras
import numpy as np

from keras_sb.safe_io import remove_temporaries, save_arrays, write_text
from keras_sb.training.run_folder import read_state

log = logging.getLogger("keras_sb")


class ResumeState(keras.callbacks.Callback):
    """``folder/state.json`` ({"epochs": n, "weights": file, "complete": bool}) and the
    file it names: the values of the model's and its optimizer's variables, in their order
    (an ``.npz``). Saved at the end of every epoch (keep this callback last, after the
    checkpoints and the log) and marked complete when training ends.

    The values are read and assigned as arrays, not with ``load_weights``: under
    MultiWorkerMirroredStrategy Keras' loading creates variables, a collective step only the
    chief (the one with a state) would take.
    """

    def __init__(self, folder: str | Path):
        super().__init__()
        self.folder = Path(folder)
        self.state_file = self.folder / "state.json"

    def read(self) -> dict:
        """The committed state ({"epochs": 0} when there is none); RunFolderError naming
        ``state.json`` when it is damaged."""
        return read_state(self.state_file)

    @staticmethod
    def variables(model: keras.Model) -> list:
        """What the state holds: ``model``'s variables, then its optimizer's (built here)."""
        with model.distribute_strategy.scope():
            if not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
        return model.variables + model.optimizer.variables

    def values(self, state: dict) -> list[np.ndarray]:
        """The committed values of :meth:`variables` (``state["epochs"]`` > 0)."""
        with np.load(self.folder / state["weights"], allow_pickle=False) as arrays:
            return [arrays[f"arr_{i}"] for i in range(len(arrays.files))]

    def restore(self, model: keras.Model) -> dict:
        """Load the committed weights and optimizer state into ``model``; return the state."""
        state = self.read()
        path = self.folder / state.get("weights", "")
        # keras-sb 0.2's .weights.h5: read until 0.5, removed after (docs/run_folders.md)
        if state["epochs"] and path.name.endswith(".weights.h5"):
            self.variables(model)
            model.load_weights(path)
        elif state["epochs"]:
            assign(self.variables(model), self.values(state), path)
        return state

    def reopen(self) -> None:
        """Mark the committed state unfinished, so that training goes on from it."""
        state = self.read()
        write_text(self.state_file, json.dumps({**state, "complete": False}) + "\n")

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
            weights = f"epoch_{epochs:04d}.npz"
            save_arrays([np.asarray(v) for v in self.variables(self.model)],
                        self.folder / weights)
        write_text(self.state_file, json.dumps(
            {"epochs": epochs, "weights": weights, "complete": complete}) + "\n")
        for old in self.folder.glob("epoch_*"):
            if old.name != weights:
                old.unlink()


def assign(variables: list, values: list[np.ndarray], source: Path | str) -> None:
    """Set ``variables`` to ``values`` (from ``source``, named in the error when they do not
    fit: another model's state)."""
    shapes = [tuple(v.shape) for v in variables]
    if shapes != [np.shape(x) for x in values]:
        raise ValueError(f"the resume state {source} does not fit this model ({len(values)} "
                         f"arrays for {len(variables)} variables); pass --overwrite to start "
                         "afresh")
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)
