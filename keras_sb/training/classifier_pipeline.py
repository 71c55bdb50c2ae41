"""Stage ``classifier``: from a folder of unlabelled photos and labelled ``<class>/`` folders
to a trained, calibrated and scored classifier in one command: ``pretrain``, then
``finetune`` (or ``linprobe``) from it, each in its own run folder under ``--out``."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from keras_sb.commands import command
from keras_sb.data import DataError, ImageSource, has_split
from keras_sb.data.labelled import labelled_splits
from keras_sb.evaluation import accuracy_phrase
from keras_sb.models.split_brain import LOGITS
from keras_sb.training.config import (
    FEW_LABELS,
    FEW_LABELS_FINETUNE,
    ClassifierPipelineConfig,
    FinetuneConfig,
    LinprobeConfig,
    few_labels_flags,
    part_options,
)
from keras_sb.training.pretrain import pretrain
from keras_sb.training.run_folder import RunFolder
from keras_sb.training.supervised import check_feature_layer, train_classifier

log = logging.getLogger("keras_sb")


def recipe_for_label_count(config: ClassifierPipelineConfig, train: ImageSource
                           ) -> ClassifierPipelineConfig:
    """``config`` with the fine-tuning recipe for its labelled training images ``train``:
    with at most FEW_LABELS per class, FEW_LABELS_FINETUNE's settings where the command sets
    none. Logs the choice and why."""
    if config.then != "finetune":
        return config
    per_class = len(train) / len(train.class_names)
    given = config.settings.get("finetune", {})
    if per_class > FEW_LABELS:
        log.info("%.0f labelled training images per class (more than %d): plain fine-tuning, "
                 "the best measured with many labels.", per_class, FEW_LABELS)
        return config
    recipe = {name: value for name, value in FEW_LABELS_FINETUNE.items() if name not in given}
    log.info("%.0f labelled training images per class (at most %d): fine-tuning also trains on "
             "the unlabelled photos of %s, the best measured with few labels (%s). Pass "
             "--finetune-pretext-weight 0 --finetune-pseudo-label-threshold 0 for plain "
             "fine-tuning.", per_class, FEW_LABELS, config.data,
             few_labels_flags(recipe) or "as set")
    return dataclasses.replace(config, settings={**config.settings,
                                                 "finetune": {**recipe, **given}})


def check_inputs(config: ClassifierPipelineConfig) -> ImageSource:
    """Raise ValueError or DataError, before pretraining starts, for what would stop a part:
    either part's settings (a feature layer the backbone lacks included), no unlabelled
    images, fewer than 2 classes, or fewer labelled images per class than
    ``--labels-per-class`` once the held-out part is set aside. Returns the labelled
    training images."""
    if not has_split(config.data, "unlabelled"):
        raise DataError(f"--data {config.data} has no unsupervised/ folder of images to "
                        "pretrain on")
    pretraining = config.pretraining()
    classifier = config.classifier("random")  # the pretraining run does not exist yet
    with part_flags(config.then):
        check_feature_layer(classifier.feature_layer, pretraining.encoder,
                            pretraining.image_size)
        train, _, _ = labelled_splits(classifier.data, classifier.val_fraction,
                                      classifier.labels_per_class, classifier.seed)
    return train


def flag_renamer(part: str) -> Callable[[str], str]:
    """A function that rewrites the options of stage ``part`` in a text the way the classifier
    command takes them: ``--epochs`` -> ``--finetune-epochs``."""
    names = "|".join(re.escape(f.name.replace("_", "-")) for f in part_options(part))
    pattern = re.compile(rf"--({names})(?![\w-])")
    return lambda text: pattern.sub(rf"--{part}-\1", text)


class _RenameFlags(logging.Filter):
    def __init__(self, rename: Callable[[str], str]):
        super().__init__()
        self.rename = rename

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.rename(record.getMessage()), ()
        return True


@contextlib.contextmanager
def part_flags(part: str) -> Iterator[None]:
    """While stage ``part`` runs, its log lines and errors name its options as the classifier
    command takes them (advice such as "pass more --epochs" becomes "--finetune-epochs")."""
    rename = flag_renamer(part)
    renaming = _RenameFlags(rename)
    log.addFilter(renaming)
    try:
        yield
    except Exception as error:
        if error.args and isinstance(error.args[0], str):
            error.args = (rename(error.args[0]), *error.args[1:])
        raise
    finally:
        log.removeFilter(renaming)


def classifier_pipeline(config: ClassifierPipelineConfig) -> dict:
    """Check the inputs, pretrain, then train the classifier; returns the classifier's summary.
    Rerunning the same command resumes whichever stage was interrupted."""
    config = recipe_for_label_count(config, check_inputs(config))
    pretraining = config.pretraining()
    with part_flags("pretrain"):
        pretrain(pretraining)
    with part_flags(config.then):
        classifier = config.classifier(pretraining.out)
        # A run finished before returns {}: its summary.json says how it did.
        summary = train_classifier(classifier) or json.loads(
            RunFolder(classifier.out).summary.read_text())
    report_ready(classifier, summary)
    return summary


def report_ready(classifier: FinetuneConfig | LinprobeConfig, summary: dict) -> None:
    """Log the trained classifier's held-out top-1 (with its 95 % interval when the held-out
    images are few) and the commands that try, serve and score it."""
    if "holdout_top1" in summary:  # older runs' summaries may lack it
        log.info("Held-out top-1 %s.", accuracy_phrase(summary["holdout_top1"],
                                                       summary["holdout_images"]))
    best = Path(classifier.out) / "best.keras"
    # Without the pretext heads the classifier cannot draw colorizations: the demo and the
    # export's colorize signature take them from the pretraining run.
    pretext = "" if classifier.feature_layer == LOGITS else f" --pretext {classifier.init}"
    log.info("Classifier ready: %s. Try it: %s --model %s%s; serve it: %s --model %s%s --out "
             "models/keras_sb/1; score it on labelled images it has not seen (<class>/ folders "
             "of some or all of its classes): %s --model %s --data TESTFOLDER.", best,
             command("demo"), best, pretext, command("export"), classifier.out, pretext,
             command("evaluate"), classifier.out)
