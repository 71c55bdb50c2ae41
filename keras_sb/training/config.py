"""Settings shared by the training stages. Each dataclass field is a ``train.py`` flag."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

from keras_sb.color import COLOR_SPACES
from keras_sb.data import SAMPLE_DATA
from keras_sb.models.encoders import ENCODERS
from keras_sb.models.split_brain import SplitBrain
from keras_sb.targets import TargetCodec
from keras_sb.training.distribute import STRATEGIES


def opt(default, help: str, **extra):
    """A config field with its ``--help`` text and, if given, argparse ``choices`` and the
    bounds :func:`check_numbers` enforces: ``minimum`` (inclusive), ``above`` and ``below``
    (exclusive)."""
    return field(default=default, metadata={"help": help, **extra})


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
    """How the split-brain pair is built (when it is not loaded from a run)."""

    encoder: str = opt("simple", "architecture of both halves", choices=sorted(ENCODERS))
    width: float = opt(1.0, "channel multiplier (1 = seed widths, 0.5 = the paper's halves)",
                       above=0)
    color_space: str = opt("lab", "how the image is split in two", choices=COLOR_SPACES)
    l_bins: int = opt(100, "classes for L (channel 0)", minimum=2)
    ab_bins: str = opt("grid:10", "classes for ab: grid:N (N*N cells) or gamut (in-gamut "
                       "Lab cells of step 10; needs --color-space lab)")
    image_size: int = opt(96, "input side in pixels (multiple of 8); targets match the "
                          "encoders' output side (12x12 at 96)", minimum=8)

    def check_backbone(self) -> None:
        """Raise ValueError naming the flag for bins that cannot work."""
        TargetCodec(self.color_space, self.l_bins, self.ab_bins)

    def build_backbone(self) -> SplitBrain:
        return SplitBrain(self.encoder, self.width, self.color_space, self.l_bins, self.ab_bins,
                          self.image_size)


@dataclass
class RunConfig:
    """Data, optimisation and bookkeeping of a run."""

    data: str = opt(SAMPLE_DATA, "image folder: ssl_data_96 layout, STL-10 binaries, or any "
                    "folder of images; default: the shipped sample")
    out: str = opt("", "training stages: run folder (default runs/STAGE-...), where "
                   "rerunning the same command resumes an interrupted run; evaluate: report "
                   "folder; export: SavedModel folder (required)")
    epochs: int = opt(20, "maximum epochs", minimum=1)
    batch_size: int = opt(64, "images per device per step (global batch = this x devices)",
                          minimum=1)
    learning_rate: float = opt(1e-3, "Adam learning rate of the first epoch", above=0)
    lr_decay: float = opt(0.95, "per-epoch LR multiplier (LR of epoch e = lr * decay^e)",
                          above=0)
    patience: int = opt(5, "early stopping: epochs without improvement before stopping",
                        minimum=0)
    seed: int = opt(0, "seed for data sampling, shuffling and initial weights", minimum=0)
    strategy: str = opt("auto", "device strategy (auto: mirrored when >1 GPU)",
                        choices=STRATEGIES)
    progress: bool = opt(True, "show a progress bar (otherwise one line per epoch)")
    overwrite: bool = opt(False, "delete the run in --out (only the files a run writes) and "
                          "start afresh")

    def check_run(self) -> None:
        """Raise ValueError naming the flag for settings that cannot work."""
        self.data = str(Path(self.data).expanduser().resolve())
        check_numbers(self)

