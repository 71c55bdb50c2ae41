"""Stage ``classifier``: from a folder of unlabelled photos and labelled ``<class>/`` folders
to a trained, calibrated and scored classifier in one command: ``pretrain``, then
``finetune`` (or ``linprobe``) from it, each in its own run folder under ``--out``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from keras_sb.data import SAMPLE_DATA
from keras_sb.models import BACKBONES
from keras_sb.training.config import (
    DATA_HELP,
    LABELS_PER_CLASS_HELP,
    PROGRESS_HELP,
    SEED_HELP,
    STRATEGY_HELP,
    check_numbers,
    opt,
)
from keras_sb.training.distribute import STRATEGIES
from keras_sb.training.pretrain import PretrainConfig, pretrain
from keras_sb.training.supervised import FinetuneConfig, LinprobeConfig, train_classifier

log = logging.getLogger("keras_sb")

THEN = {"finetune": FinetuneConfig, "linprobe": LinprobeConfig}


@dataclass
class ClassifierPipelineConfig:
    """The two stages' settings; every other option takes its stage's default."""

    data: str = opt(SAMPLE_DATA, DATA_HELP)
    labelled: str = opt("", "classifier: the labelled images (<class>/ subfolders, or a "
                        "layout with supervised/train/) when --data holds only unlabelled "
                        "ones (default: --data)")
    out: str = opt("", "classifier: folder for the two runs, OUT/pretrain and OUT/finetune "
                   "(or OUT/linprobe) (default runs/classifier)")
    then: str = opt("finetune", "classifier: the stage trained on the labelled images after "
                    "pretraining", choices=tuple(THEN))
    pretrain_epochs: int = opt(40, "classifier: pretraining epochs", minimum=1)
    encoder: str = opt("simple", "backbone architecture of every network", choices=BACKBONES)
    labels_per_class: int = opt(0, LABELS_PER_CLASS_HELP, minimum=0)
    seed: int = opt(0, SEED_HELP, minimum=0)
    strategy: str = opt("auto", STRATEGY_HELP, choices=STRATEGIES)
    progress: bool = opt(True, PROGRESS_HELP)

    def __post_init__(self):
        self.out = self.out or "runs/classifier"
        self.labelled = self.labelled or self.data
        check_numbers(self)

    def pretraining(self) -> PretrainConfig:
        return PretrainConfig(data=self.data, out=str(Path(self.out) / "pretrain"),
                              encoder=self.encoder, epochs=self.pretrain_epochs,
                              seed=self.seed, strategy=self.strategy, progress=self.progress)

    def classifier(self, pretrained: str) -> FinetuneConfig | LinprobeConfig:
        """The second stage's settings (read from the pretraining run, which must exist)."""
        return THEN[self.then](data=self.labelled, out=str(Path(self.out) / self.then),
                               init=pretrained, labels_per_class=self.labels_per_class,
                               seed=self.seed, strategy=self.strategy, progress=self.progress)


def classifier_pipeline(config: ClassifierPipelineConfig) -> dict:
    """Pretrain, then train the classifier; returns the classifier's summary. Rerunning the
    same command resumes whichever stage was interrupted."""
    pretraining = config.pretraining()
    pretrain(pretraining)
    classifier = config.classifier(pretraining.out)
    summary = train_classifier(classifier)
    best = Path(classifier.out) / "best.keras"
    log.info("Classifier ready: %s. Try it: python app.py --model %s; serve it: python "
             "train.py --stage export --model %s --out models/keras_sb/1.", best, best,
             classifier.out)
    return summary
