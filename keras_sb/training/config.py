"""Settings shared by the training stages. Each dataclass field is a ``train.py`` flag."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

from keras_sb.color import COLOR_SPACES
from keras_sb.data import SAMPLE_DATA
from keras_sb.models import BACKBONES, OBJECTIVES
from keras_sb.models.split_brain import SplitBrain
from keras_sb.targets import TargetCodec
from keras_sb.training.distribute import STRATEGIES


def opt(default, help: str, resume: bool = False, **extra):
    """A config field that is a ``train.py`` flag, with its ``--help`` text and, if given,
    argparse ``choices`` and the bounds :func:`check_numbers` enforces: ``minimum``
    (inclusive), ``above`` and ``below`` (exclusive). ``resume``: the setting changes the
    result, so a run folder holding other values of it is not resumed (:func:`resume_keys`)."""
    return field(default=default, metadata={"help": help, "resume": resume, **extra})


def fixed(default, resume: bool = True):
    """A config field that is not a flag: a stage's fixed setting, recorded in config.json."""
    return field(default=default, metadata={"resume": resume})


def resume_keys(config) -> tuple[str, ...]:
    """The fields of ``config`` declared with ``resume=True``."""
    return tuple(f.name for f in dataclasses.fields(config) if f.metadata.get("resume"))


def check_numbers(config) -> None:
    """Raise ValueError naming the flag for a numeric field that is NaN, infinite or out of
    the bounds declared in its ``opt``."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        flag = "--" + f.name.replace("_", "-")
        if not math.isfinite(value):
            raise ValueError(f"{flag} must be a finite number, got {value}")
        bounds = f.metadata
        if "minimum" in bounds and value < bounds["minimum"]:
            raise ValueError(f"{flag} must be at least {bounds['minimum']}, got {value}")
        if "above" in bounds and value <= bounds["above"]:
            raise ValueError(f"{flag} must be greater than {bounds['above']}, got {value}")
        if "below" in bounds and value >= bounds["below"]:
            raise ValueError(f"{flag} must be less than {bounds['below']}, got {value}")


@dataclass
class BackboneConfig:
    """How the pretext model is built (when it is not loaded from a run): its constructor
    arguments (``SplitBrain``)."""

    encoder: str = opt("simple", "backbone architecture of every network", resume=True,
                       choices=BACKBONES)
    width: float = opt(1.0, "channel multiplier (1 = the original system's widths, 0.5 = the "
                       "paper's halves)", resume=True, above=0)
    color_space: str = opt("lab", "how the image is split in two", resume=True,
                           choices=COLOR_SPACES)
    l_bins: int = opt(100, "classes for L (channel 0)", resume=True, minimum=2)
    ab_bins: str = opt("grid:10", "classes for ab: grid:N (N*N cells) or gamut (in-gamut "
                       "Lab cells of step 10; needs --color-space lab)", resume=True)
    image_size: int = opt(96, "input side in pixels (multiple of 8); targets match the "
                          "backbones' output side (12x12 at 96)", resume=True, minimum=8)
    objective: str = opt("split_brain", "pretext objective: split_brain (L->ab and ab->L "
                         "classification), split_brain_regression (both, L2), colorization "
                         "(L->ab), lightness (ab->L)", resume=True, choices=OBJECTIVES)

    def check_backbone(self) -> None:
        """Raise ValueError naming the flag for bins that cannot work."""
        TargetCodec(self.color_space, self.l_bins, self.ab_bins)

    def backbone_settings(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(BackboneConfig)}

    def build_backbone(self) -> SplitBrain:
        return SplitBrain(**self.backbone_settings())


EPOCHS_HELP = "maximum epochs"
DATA_HELP = ("image folder: ssl_data_96 layout, STL-10 binaries, or any folder of images; "
             "default: the shipped sample")
SEED_HELP = "seed for data sampling, shuffling and initial weights"
STRATEGY_HELP = ("device strategy (auto: multi_worker when TF_CONFIG lists several workers, "
                 "else mirrored when >1 GPU; docs/distributed.md)")
PROGRESS_HELP = "show a progress bar (otherwise one line per epoch)"
LABELS_PER_CLASS_HELP = ("finetune/linprobe/knn/classifier: train on exactly N labelled images "
                         "per class, stratified and seeded (0: all)")
PATIENCE_HELP = "early stopping: epochs without improvement before stopping"
LEARNING_RATE_HELP = "Adam learning rate of the first epoch"


@dataclass
class RunConfig:
    """Data, optimisation and bookkeeping of a run."""

    data: str = opt(SAMPLE_DATA, DATA_HELP, resume=True)
    out: str = opt("", "training stages: run folder (default runs/STAGE-...), where "
                   "rerunning the same command resumes an interrupted run; evaluate: report "
                   "folder; export: SavedModel folder (required)")
    epochs: int = opt(20, EPOCHS_HELP, minimum=1)
    batch_size: int = opt(64, "images per device per step (global batch = this x devices)",
                          resume=True, minimum=1)
    learning_rate: float = opt(1e-3, LEARNING_RATE_HELP, resume=True, above=0)
    lr_decay: float = opt(0.95, "per-epoch LR multiplier (LR of epoch e = lr * decay^e)",
                          resume=True, above=0)
    patience: int = opt(5, PATIENCE_HELP, minimum=0)
    seed: int = opt(0, SEED_HELP, resume=True, minimum=0)
    snapshot_every: int = opt(0, "also keep epoch_NNN.keras after every N-th epoch (0: none)",
                              minimum=0)
    strategy: str = opt("auto", STRATEGY_HELP, choices=STRATEGIES)
    progress: bool = opt(True, PROGRESS_HELP)
    mixed_precision: bool = opt(False, "pretrain/finetune/linprobe: layers compute in bfloat16 "
                                "(CPUs with AVX512-BF16 or AMX) or float16 (GPUs); weights, "
                                "losses and logits stay float32 (docs/training.md)")
    overwrite: bool = opt(False, "delete the run in --out (only the files a run writes) and "
                          "start afresh")

    def check_run(self) -> None:
        """Raise ValueError naming the flag for settings that cannot work."""
        self.data = str(Path(self.data).expanduser().resolve())
        check_numbers(self)

