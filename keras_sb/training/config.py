"""Settings shared by the training stages. Each dataclass field is a ``train.py`` flag."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from keras_sb.color import COLOR_SPACES
from keras_sb.data import SAMPLE_DATA
from keras_sb.models.encoders import ENCODERS
from keras_sb.models.split_brain import SplitBrain
from keras_sb.targets import TargetCodec
from keras_sb.training.distribute import STRATEGIES


def opt(default, help: str, **extra):
    """A config field with its ``--help`` text (and argparse ``choices`` if given)."""
    return field(default=default, metadata={"help": help, **extra})


@dataclass
class BackboneConfig:
    """How the split-brain pair is built (when it is not loaded from a run)."""

    encoder: str = opt("simple", "architecture of both halves", choices=sorted(ENCODERS))
    width: float = opt(1.0, "channel multiplier (1 = seed widths, 0.5 = the paper's halves)")
    color_space: str = opt("lab", "how the image is split in two", choices=COLOR_SPACES)
    l_bins: int = opt(100, "classes for L (channel 0)")
    ab_bins: str = opt("grid:10", "classes for ab: grid:N (N*N cells) or gamut (in-gamut "
                       "Lab cells of step 10; needs --color-space lab)")
    image_size: int = opt(96, "input side in pixels (multiple of 8); targets match the "
                          "encoders' output side (12x12 at 96)")

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
    epochs: int = opt(20, "maximum epochs")
    batch_size: int = opt(64, "images per device per step (global batch = this x devices)")
    learning_rate: float = opt(1e-3, "Adam learning rate of the first epoch")
    lr_decay: float = opt(0.95, "per-epoch LR multiplier (LR of epoch e = lr * decay^e)")
    patience: int = opt(5, "early stopping: epochs without improvement before stopping")
    seed: int = opt(0, "seed for data sampling, shuffling and initial weights")
    strategy: str = opt("auto", "device strategy (auto: mirrored when >1 GPU)",
                        choices=STRATEGIES)
    progress: bool = opt(True, "show a progress bar (otherwise one line per epoch)")
    overwrite: bool = opt(False, "delete an existing run in --out and start afresh")

    def check_run(self) -> None:
        """Raise ValueError naming the flag for settings that cannot work."""
        self.data = str(Path(self.data).expanduser().resolve())
        for name in ("epochs", "batch_size", "image_size"):
            if getattr(self, name, 1) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be positive")
        if self.learning_rate <= 0 or self.lr_decay <= 0:
            raise ValueError("--learning-rate and --lr-decay must be positive")

