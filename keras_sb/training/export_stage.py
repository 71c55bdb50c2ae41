"""Stage ``export``: a classifier checkpoint as a TensorFlow SavedModel for TF Serving."""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

from keras_sb.checkpoints import check_pretext, choose_pretext, load_checkpoint, load_pretext
from keras_sb.export import export_saved_model
from keras_sb.models.classifier import SplitBrainClassifier
from keras_sb.models.split_brain import SplitBrain
from keras_sb.safe_io import TEMP_PREFIX, atomic_path
from keras_sb.training.config import ExportConfig

log = logging.getLogger("keras_sb")


# What atomic_path writes a SavedModel to before renaming it: .tmp-PID-THREAD-VERSION.
_TEMPORARY = re.compile(rf"{re.escape(TEMP_PREFIX)}(\d+)-\d+-.")


def remove_killed_exports(folder: Path) -> None:
    """Delete the temporary SavedModel folders in ``folder`` of exports whose process has
    ended (killed before they renamed them), keeping those of exports still running."""
    for leftover in folder.iterdir():
        found = _TEMPORARY.match(leftover.name)
        if found and leftover.is_dir() and not leftover.is_symlink() \
                and not _running(int(found[1])):
            log.info("Removing %s, left by an interrupted export", leftover)
            shutil.rmtree(leftover)


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (signal 0 only checks)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's
    return True


def load_colorizer(model: SplitBrainClassifier, config: ExportConfig) -> SplitBrain | None:
    """The pretraining model that draws ``model``'s colorize signature, chosen as the demo
    does (``choose_pretext``): ``--pretext``, or the shipped one for the shipped classifier;
    None when ``model`` draws its own colours (a ``--pretext`` given is then noted unused)."""
    if model.has_pretext_heads:
        if config.pretext:
            log.info("--pretext %s is not used: --model %s draws its own colorizations",
                     config.pretext, config.model)
        return None
    path = choose_pretext(config.model, config.pretext or None)
    if path is None:
        return None
    pretext = load_pretext(path)
    check_pretext(model, pretext, config.model, path)
    log.info("Colorize signature: the colour network of %s", path)
    return pretext


def export(config: ExportConfig) -> Path:
    """Load ``config.model`` (and the pretraining model that draws its colours, if any) and
    write its SavedModel to ``config.out``; first remove what killed exports left beside it."""
    model = load_checkpoint(config.model, SplitBrainClassifier)
    pretext = load_colorizer(model, config)
    out = Path(config.out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_killed_exports(out.parent)
    with atomic_path(out) as temp:  # TF Serving never sees a half-written version folder
        export_saved_model(model, temp, config.temperature, pretext)
    log.info("Exported %s (%d classes) to %s", config.model, model.num_classes, out)
    return out
