"""The stages' settings: each dataclass field declared with ``opt`` is a command-line option.

Imports no TensorFlow (what needs it is imported where it is used), so that the command line
builds its parser, and answers ``--help`` and argument errors, before TensorFlow loads.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from keras_sb.constants import (
    COLOR_SPACES,
    DEFAULT_FEATURE_DIMS,
    DEFAULT_FEATURE_LAYER,
    HEADS,
    SAMPLE_DATA,
    STRATEGIES,
)

if TYPE_CHECKING:
    from keras_sb.models.split_brain import SplitBrain


def opt(default, help: str, resume: bool = False, **extra):
    """A config field that is a command-line option, with its ``--help`` text and, if given,
    argparse ``choices`` and the bounds :func:`check_numbers` enforces: ``minimum``
    (inclusive), ``above`` and ``below`` (exclusive). ``resume``: the setting changes the
    result, so a run folder holding other values of it is not resumed (:func:`resume_keys`)."""
    return field(default=default, metadata={"help": help, "resume": resume, **extra})


def fixed(default, resume: bool = True):
    """A config field that is not a flag: a stage's fixed setting, recorded in config.json."""
    return field(default=default, metadata={"resume": resume})


def resume_keys(config) -> dict[str, object]:
    """The fields of ``config`` declared with ``resume=True``, with their defaults (the value
    of a setting that a run folder of an older release does not record)."""
    return {f.name: f.default for f in dataclasses.fields(config) if f.metadata.get("resume")}


def flag(name: str) -> str:
    """The command-line spelling of setting ``name``: ``learning_rate`` -> --learning-rate."""
    return "--" + name.replace("_", "-")


def check_numbers(config) -> None:
    """Raise ValueError naming the flag for a numeric field that is NaN, infinite or out of
    the bounds declared in its ``opt``."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            check_number(flag(f.name), value, f.metadata)


def check_number(flag: str, value: float, bounds) -> None:
    """Raise ValueError naming ``flag`` when ``value`` is NaN, infinite or out of ``bounds``
    (an ``opt``'s metadata; the command line checks its options with it as it parses)."""
    if not math.isfinite(value):
        raise ValueError(f"{flag} must be a finite number, got {value}")
    if "minimum" in bounds and value < bounds["minimum"]:
        raise ValueError(f"{flag} must be at least {bounds['minimum']}, got {value}")
    if "maximum" in bounds and value > bounds["maximum"]:
        raise ValueError(f"{flag} must be at most {bounds['maximum']}, got {value}")
    if "above" in bounds and value <= bounds["above"]:
        raise ValueError(f"{flag} must be greater than {bounds['above']}, got {value}")
    if "below" in bounds and value >= bounds["below"]:
        raise ValueError(f"{flag} must be less than {bounds['below']}, got {value}")


ENCODER_HELP = ("backbone architecture of every network: simple, compact, alex, resnet, googl, "
                "or one added with keras_sb.models.register_backbone")


@dataclass
class PretextConfig:
    """How the pretext model is built (when it is not loaded from a run): its constructor
    arguments (``SplitBrain``)."""

    encoder: str = opt("simple", ENCODER_HELP, resume=True)
    width: float = opt(1.0, "channel multiplier (1 = the original system's widths, 0.5 = the "
                       "paper's halves)", resume=True, above=0)
    color_space: str = opt("lab", "how the image is split in two", resume=True,
                           choices=COLOR_SPACES)
    l_bins: int = opt(100, "classes for L (channel 0)", resume=True, minimum=2)
    ab_bins: str = opt("grid:10", "classes for ab: grid:N (N*N cells) or gamut (in-gamut "
                       "Lab cells of step 10; needs --color-space lab)", resume=True)
    image_size: int = opt(96, "input side in pixels, a multiple of 8 up to 512 (at least 56 "
                          "for simple); targets match the backbones' output side (12x12 at "
                          "96)", resume=True)
    objective: str = opt("split_brain", "pretext objective: split_brain (L->ab and ab->L "
                         "classification), split_brain_regression (both, L2), colorization "
                         "(L->ab), lightness (ab->L), or one added with "
                         "keras_sb.models.register_objective", resume=True)
    depth: int = opt(1, "convolutions per stage, for backbones with a depth option (compact)",
                     resume=True, minimum=1)
    center_inputs: bool = opt(False, "shift and scale each network's input to about zero "
                              "mean and unit spread before its first conv (the zero padding "
                              "at the border is then no large step)", resume=True)

    def check_pretext_settings(self) -> None:
        """Raise ValueError naming the flag for an unknown encoder or objective, or bins that
        cannot work."""
        from keras_sb.models import BACKBONES, OBJECTIVES  # registries, filled as they import
        from keras_sb.targets import TargetCodec

        for flag, value, known in (("--encoder", self.encoder, BACKBONES),
                                   ("--objective", self.objective, OBJECTIVES)):
            if value not in known:
                raise ValueError(f"{flag} must be one of {', '.join(known)}, got {value!r}")
        BACKBONES[self.encoder].check_image_size(self.image_size)
        BACKBONES[self.encoder].check_depth(self.depth)
        TargetCodec(self.color_space, self.l_bins, self.ab_bins)

    def pretext_settings(self) -> dict:
        """The constructor arguments of ``SplitBrain``."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(PretextConfig)}

    def build_pretext_model(self) -> SplitBrain:
        """A new ``SplitBrain`` of these settings (random weights)."""
        from keras_sb.models.split_brain import SplitBrain

        return SplitBrain(**self.pretext_settings())


EPOCHS_HELP = "maximum epochs"
DATA_HELP = ("image folder: ssl_data_96 layout, STL-10 binaries, or any folder of images; "
             "default: the shipped sample")
SEED_HELP = "seed for data sampling, shuffling and initial weights"
STRATEGY_HELP = ("device strategy (auto: multi_worker when TF_CONFIG lists several workers, "
                 "else mirrored when >1 GPU; docs/distributed.md)")
PROGRESS_HELP = "show a progress bar (otherwise one line per epoch)"
LABELS_PER_CLASS_HELP = ("train on exactly N labelled images per class, stratified and seeded "
                         "(0: all)")
PATIENCE_HELP = "early stopping: epochs without improvement before stopping"
LEARNING_RATE_HELP = "Adam learning rate of the first epoch"


@dataclass
class RunConfig:
    """Data, optimisation and bookkeeping of a run."""

    data: str = opt(SAMPLE_DATA, DATA_HELP, resume=True)
    out: str = opt("", "run folder (default: runs/STAGE-...); rerunning the same command "
                   "resumes an interrupted run")
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
    mixed_precision: bool = opt(False, "layers compute in bfloat16 "
                                "(CPUs with AVX512-BF16 or AMX) or float16 (GPUs); weights, "
                                "losses and logits stay float32 (docs/training.md)")
    overwrite: bool = opt(False, "delete the run in --out (only the files a run writes) and "
                          "start afresh")

    def check_run(self) -> None:
        """Raise ValueError naming the flag for settings that cannot work."""
        self.data = str(Path(self.data).expanduser().resolve())
        check_numbers(self)



def check_output_folder(path: str | Path, purpose: str) -> None:
    """keras_sb.training.run_folder.check_output_folder (imported when a config is made)."""
    from keras_sb.training.run_folder import check_output_folder

    check_output_folder(path, purpose)


def flag_fields(config_cls: type) -> list[dataclasses.Field]:
    """The fields of a stage's config that are command-line options (declared with ``opt``)."""
    return [f for f in dataclasses.fields(config_cls) if "help" in f.metadata]


LABELLED_HELP = ("labelled images: <class>/ subfolders, the ssl_data_96 layout "
                 "(supervised/train/<class>/, optionally supervised/val/<class>/) or STL-10 "
                 "binaries; default: the shipped sample")
FEATURE_LAYER_HELP = ("backbone stage whose average-pooled output feeds the classifier (simple: "
                      "conv1..conv4; alex: conv1..conv5, fc6, fc7; resnet: stem, stage1..stage4, "
                      "pool; googl: stem, inception3..5), or logits: the pretext heads' 12x12 "
                      "outputs")
FEATURE_DIMS_HELP = ("average-pool the backbones' features to at most this many values in total "
                     "(the paper uses about 9k)")
TOP_K_HELP = "also report top-k accuracy"
CHECKPOINT_HELP = "classifier checkpoint (.keras) from finetune or linprobe, or its run folder " \
                  "(uses best.keras)"


@dataclass
class PretrainConfig(PretextConfig, RunConfig):
    """Settings of a pretraining run."""

    val_fraction: float = opt(0.05, "share of the images held out (at random) to choose the "
                              "best epoch", resume=True, above=0, below=1)
    previews: bool = opt(True, "write previews/epoch_NNN.png after each epoch")
    ab_rebalance: float = opt(0.0, "class rebalancing of the ab classification (Zhang et al. "
                              "2016): each class weighs 1 / ((1 - x) p + x / Q), p its "
                              "smoothed frequency; 0: off, 0.5: the paper's, 1: equal",
                              resume=True, minimum=0, maximum=1)
    crop_area: float = opt(1.0, "training images are random resized crops keeping at least "
                           "this share of the image's area (1: the whole image, flipped at "
                           "random)", resume=True, above=0, maximum=1)
    soft_targets: float = opt(0.0, "soft encoding of the classification targets (Zhang et "
                              "al. 2016): each pixel's target spreads over the bins near its "
                              "class, a Gaussian of this many Lab units; 0: one-hot",
                              resume=True, minimum=0)
    # The held-out loss is noisy and the features keep improving to 40 epochs
    # (docs/results.md), so early stopping is off unless --patience is lowered.
    epochs: int = opt(40, EPOCHS_HELP, minimum=1)
    patience: int = opt(40, PATIENCE_HELP, minimum=0)

    def __post_init__(self):
        self.out = self.out or f"runs/pretrain-{self.encoder}"
        self.check_run()
        self.check_pretext_settings()
        if self.soft_targets and self.color_space != "lab":
            raise ValueError(f"--soft-targets is a distance in Lab units: use --color-space "
                             f"lab, not {self.color_space!r}, or --soft-targets 0")


def pretrained_settings(init: str) -> dict:
    """The constructor arguments of the pretext model ``--init`` names (run folder or .keras
    file), read from its config without loading weights."""
    from keras_sb.checkpoints import checkpoint_config, checkpoint_path
    from keras_sb.training.run_folder import RunFolderError

    config = checkpoint_config(checkpoint_path(init, "--init"), "--init")
    if config.get("class_name") != "SplitBrain":
        raise RunFolderError(f"--init {init} holds a {config.get('class_name')}, not a "
                             "pretraining checkpoint (SplitBrain)")
    return config["config"]


@dataclass
class InitConfig(PretextConfig):
    """Where the backbones come from: a pretraining run or checkpoint, or random weights."""

    init: str = opt("random", "a pretraining run folder (or its .keras checkpoint) to start "
                    "from, or 'random' (uses --encoder etc.)", resume=True)

    def resolve_init(self) -> None:
        """Check the pretext model's flags, then take the pretrained settings from --init."""
        self.check_pretext_settings()
        if self.init != "random":
            self.take_pretrained_settings(pretrained_settings(self.init))

    def take_pretrained_settings(self, pretrained: dict) -> None:
        """Record the pretrained model's settings; a flag given with another value is an
        error naming both (a flag left at its default takes the pretrained value)."""
        for f in dataclasses.fields(PretextConfig):
            ours, theirs = getattr(self, f.name), pretrained.get(f.name, f.default)
            if ours not in (f.default, theirs):
                raise ValueError(f"--{f.name.replace('_', '-')} {ours} conflicts with --init "
                                 f"{self.init}, which was trained with {theirs}: leave the "
                                 "flag out (the pretrained setting is used)")
            setattr(self, f.name, theirs)

    def load_pretext_model(self) -> SplitBrain:
        """The pretext model of ``--init``: a run folder's best checkpoint, a .keras file,
        or a freshly initialised one."""
        if self.init == "random":
            return self.build_pretext_model()
        from keras_sb.checkpoints import load_checkpoint
        from keras_sb.models.split_brain import SplitBrain

        return load_checkpoint(self.init, SplitBrain, "--init")

    def default_out(self, stage: str, labels_per_class: int) -> str:
        origin = "random" if self.init == "random" else Path(self.init).name
        labels = f"{labels_per_class}pc" if labels_per_class else "all"
        return f"runs/{stage}-{origin}-{labels}"


@dataclass
class SupervisedConfig(InitConfig, RunConfig):
    """Settings shared by fine-tuning and the linear probe."""

    data: str = opt(SAMPLE_DATA, LABELLED_HELP, resume=True)
    labels_per_class: int = opt(0, LABELS_PER_CLASS_HELP, resume=True,
                                minimum=0)
    val_fraction: float = opt(0.1, "held-out share of each class: it chooses the best epoch "
                              "and fits the calibration (and is scored when the data has no "
                              "val split)", resume=True, above=0, below=1)
    top_k: int = opt(5, TOP_K_HELP, minimum=1)
    stage: str = fixed("")
    head: str = fixed("shallow")
    feature_layer: str = opt(DEFAULT_FEATURE_LAYER, FEATURE_LAYER_HELP, resume=True)
    feature_dims: int = opt(DEFAULT_FEATURE_DIMS, FEATURE_DIMS_HELP, resume=True, minimum=1)
    freeze_encoders: bool = fixed(False)

    def __post_init__(self):
        self.out = self.out or self.default_out(self.stage, self.labels_per_class)
        self.check_run()
        self.resolve_init()

    @property
    def uses_unlabelled(self) -> bool:
        """Whether unlabelled photos join the training (``FinetuneConfig``'s options)."""
        return False


@dataclass
class FinetuneConfig(SupervisedConfig):
    """The whole model trained: a head on the backbones' conv3 features at a lower learning
    rate than the probe's (the recipe measured best in docs/results.md); the original system's
    protocol is ``--feature-layer logits --learning-rate 1e-3``."""

    head: str = opt("shallow", "classifier on the features", resume=True, choices=HEADS)
    freeze_encoders: bool = opt(False, "keep the pretrained backbones fixed", resume=True)
    learning_rate: float = opt(3e-4, LEARNING_RATE_HELP, resume=True, above=0)
    epochs: int = opt(30, EPOCHS_HELP, minimum=1)
    patience: int = opt(8, PATIENCE_HELP, minimum=0)
    stage: str = fixed("finetune")
    # keras_sb.training.semi_supervised
    unlabelled: str = opt("", "unlabelled photos also trained on with --pretext-weight or "
                          "--pseudo-label-threshold: a folder of images or a layout with "
                          "unsupervised/ (default: --data's unsupervised/, when it has one; in "
                          "the classifier command, the photos it pretrains on); keep the "
                          "held-out and val images out of it", resume=True)
    pretext_weight: float = opt(0.0, "weight of the split-brain pretext loss on each step's "
                                "labelled and unlabelled images, added to the classification "
                                "loss (S4L; 0: off)", resume=True, minimum=0)
    pseudo_label_threshold: float = opt(0.0, "confidence from which the prediction on an "
                                        "unlabelled image's weak view (crop, flip) labels its "
                                        "strong view (FixMatch uses 0.95; 0: off)",
                                        resume=True, minimum=0, below=1)
    pseudo_label_weight: float = opt(1.0, "weight of the pseudo-label loss", resume=True,
                                     minimum=0)
    unlabelled_ratio: int = opt(1, "unlabelled images per labelled image in each step "
                                "(FixMatch's mu)", resume=True, minimum=1)

    def __post_init__(self):
        super().__post_init__()
        self.resolve_unlabelled()

    @property
    def uses_unlabelled(self) -> bool:
        return self.pretext_weight > 0 or self.pseudo_label_threshold > 0

    def resolve_unlabelled(self) -> None:
        """Check the semi-supervised options; ``--unlabelled`` becomes an absolute path
        (``--data`` when that has an unsupervised/ folder and none is given)."""
        if not self.uses_unlabelled:
            if self.unlabelled:
                raise ValueError("--unlabelled is only used with --pretext-weight or "
                                 "--pseudo-label-threshold")
            return
        if self.freeze_encoders:
            raise ValueError("--pretext-weight and --pseudo-label-threshold train the "
                             "backbones: they do not go with --freeze-encoders")
        if not self.unlabelled:
            if not (Path(self.data) / "unsupervised").is_dir():
                raise ValueError(f"--pretext-weight and --pseudo-label-threshold need "
                                 f"unlabelled photos, and --data {self.data} has no "
                                 "unsupervised/ folder: give --unlabelled FOLDER")
            self.unlabelled = self.data
        self.unlabelled = str(Path(self.unlabelled).expanduser().resolve())


@dataclass
class LinprobeConfig(SupervisedConfig):
    """The paper's protocol: a linear classifier on frozen intermediate conv features."""

    epochs: int = opt(100, EPOCHS_HELP, minimum=1)
    patience: int = opt(10, PATIENCE_HELP, minimum=0)
    stage: str = fixed("linprobe")
    freeze_encoders: bool = fixed(True)


@dataclass
class KnnConfig(InitConfig):
    """A kNN probe: features of the labelled training images less the held-out part (or N per
    class of it) vote for the classes of the val split, or of the held-out part when the data
    has no val split."""

    data: str = opt(SAMPLE_DATA, LABELLED_HELP)
    out: str = opt("", "folder for report.json, confusion.png and config.json (default: "
                   "runs/knn-INIT-LABELS)")
    labels_per_class: int = opt(0, LABELS_PER_CLASS_HELP, minimum=0)
    val_fraction: float = opt(0.1, "held-out share of each class: left out of the neighbours "
                              "(the images the other stages train on), and scored when the "
                              "data has no val split", above=0, below=1)
    seed: int = opt(0, SEED_HELP, minimum=0)
    feature_layer: str = opt(DEFAULT_FEATURE_LAYER, FEATURE_LAYER_HELP)
    feature_dims: int = opt(DEFAULT_FEATURE_DIMS, FEATURE_DIMS_HELP, minimum=1)
    k: int = opt(20, "neighbours that vote (cosine similarity, weighted exp(sim/0.07))",
                 minimum=1)
    top_k: int = opt(5, TOP_K_HELP, minimum=1)
    batch_size: int = opt(64, "images per step", minimum=1)

    def __post_init__(self):
        self.data = str(Path(self.data).expanduser().resolve())
        self.out = self.out or self.default_out("knn", self.labels_per_class)
        check_numbers(self)
        self.resolve_init()
        check_output_folder(self.out, "a folder for the report")


PACKAGE = Path(__file__).resolve().parents[1]  # the installed keras_sb


def safe_name(name: str) -> str:
    """``name`` as one plain folder name: runs of characters other than letters, digits,
    ``.``, ``_`` and ``-`` become ``_``, none of those three at either end (``data`` if
    nothing is left)."""
    return re.sub(r"[^\w.-]+", "_", name).strip("._-") or "data"


def writable(folder: Path) -> bool:
    """Whether this process can make files in ``folder`` (tried, as ``check_output_folder``
    does: the permission bits tell nothing for root or read-only mounts)."""
    try:
        check_output_folder(folder, "")
    except ValueError:
        return False
    return True


def default_eval_out(model: str, data_name: str) -> str:
    """Where evaluate writes the report of ``model`` on the data named ``data_name``: in the
    run folder (RUN/eval-DATA/, beside the checkpoint), or runs/eval-MODEL-DATA/ when that
    folder is part of the installed package (the shipped model) or not writable."""
    path = Path(model).expanduser()
    folder = path if path.is_dir() else path.parent
    if folder.resolve().is_relative_to(PACKAGE) or not writable(folder):
        name = path.name if path.is_dir() else f"{folder.name}-{path.stem}"
        return str(Path("runs") / f"eval-{safe_name(name)}-{safe_name(data_name)}")
    return str(folder / f"eval-{safe_name(data_name)}")


@dataclass
class EvaluateConfig:
    """What to evaluate, on which images: the val split of a layout that has one, else every
    image of the ``<class>/`` folders (a separate test set)."""

    model: str = opt("", CHECKPOINT_HELP, required=True)
    data: str = opt(SAMPLE_DATA, "labelled test images: <class>/ subfolders (scored whole), "
                    "the ssl_data_96 layout or STL-10 binaries; default: the shipped sample")
    split: str = opt("", "split of a layout to score (default: val when the data has one, "
                     "else every labelled image)", choices=("train", "val"))
    top_k: int = opt(5, TOP_K_HELP, minimum=1)
    batch_size: int = opt(64, "images per step", minimum=1)
    out: str = opt("", "folder for report.json and confusion.png (default: in the run folder, "
                   "RUN/eval-SPLIT/ or RUN/eval-FOLDER/ for a <class>/ folder; "
                   "runs/eval-MODEL-FOLDER/ for the shipped model or a checkpoint in a "
                   "read-only folder)")

    def __post_init__(self):
        if not self.model:
            raise ValueError("--model is required: a .keras checkpoint or run folder from "
                             "finetune or linprobe")
        check_numbers(self)
        from keras_sb.data import has_split

        named = self.split or ("val" if has_split(self.data, "val") else "")
        self.split = named or "train"  # a <class>/ folder: all of it
        self.out = self.out or default_eval_out(self.model,
                                                named or Path(self.data).resolve().name)
        check_output_folder(self.out, "a folder for report.json and confusion.png")


@dataclass
class ExportConfig:
    """Which checkpoint to export, and where."""

    model: str = opt("", CHECKPOINT_HELP, required=True)
    out: str = opt("", "SavedModel folder, e.g. models/keras_sb/1 (TF Serving expects "
                   "MODEL_DIR/VERSION)", required=True)
    temperature: float = opt(0.38, "annealed-mean temperature of the colorize signature "
                             "(lower: more saturated)", above=0)
    pretext: str = opt("", "pretraining run or checkpoint whose colour network gives the "
                       "colorize signature when the classifier has no pretext heads "
                       "(--feature-layer other than logits), as in the demo (default: for the "
                       "shipped model, pretext.keras next to it; else none)")

    def __post_init__(self):
        if not self.model:
            raise ValueError("--model is required: a .keras checkpoint or run folder from "
                             "finetune or linprobe")
        if not self.out:
            raise ValueError("--out is required: the folder to write the SavedModel to "
                             "(TF Serving expects MODEL_DIR/VERSION, e.g. models/keras_sb/1)")
        check_numbers(self)
        out = Path(self.out).expanduser()
        if out.exists() and not (out.is_dir() and not any(out.iterdir())):
            raise ValueError(f"--out {out} already exists: a SavedModel is written to a new "
                             "(or empty) folder, e.g. the next version, MODEL_DIR/2")
        check_output_folder(out, "a new folder for the SavedModel, e.g. models/keras_sb/1")


# At or below this many labelled training images per class, the classifier command fine-tunes
# with FEW_LABELS_FINETUNE where it is given no value: also on the unlabelled photos, with the
# longer schedule measured at 20 per class (docs/results.md, "Fine-tuning with the unlabelled
# photos"). Above it, plain fine-tuning, the best measured with all labels.
FEW_LABELS = 50
FEW_LABELS_FINETUNE = {"pretext_weight": 1.0, "pseudo_label_threshold": 0.95, "epochs": 300,
                       "patience": 75, "lr_decay": 0.994}


def few_labels_flags(names: Iterable[str] = tuple(FEW_LABELS_FINETUNE)) -> str:
    """The classifier command's options that set FEW_LABELS_FINETUNE's ``names``."""
    return " ".join(f"--finetune-{name.replace('_', '-')} {FEW_LABELS_FINETUNE[name]}"
                    for name in names)

# The parts of the classifier command: pretraining, then the stage ``--then`` names.
PARTS = {"pretrain": PretrainConfig, "finetune": FinetuneConfig, "linprobe": LinprobeConfig}


@dataclass
class ClassifierPipelineConfig:
    """The classifier command: pretraining, then fine-tuning (or the linear probe) from it.

    ``settings`` holds each part's other settings by part ({"pretrain": {"epochs": 5},
    "finetune": {"learning_rate": 1e-4}}): on the command line ``--pretrain-epochs 5
    --finetune-learning-rate 1e-4`` (:func:`part_options`); the rest take the part's defaults.
    """

    data: str = opt(SAMPLE_DATA, DATA_HELP)
    labelled: str = opt("", "the labelled images (<class>/ subfolders, or a layout with "
                        "supervised/train/) when --data holds only unlabelled ones (default: "
                        "--data)")
    out: str = opt("", "folder for the two run folders, OUT/pretrain and OUT/finetune (or "
                   "OUT/linprobe) (default: runs/classifier)")
    then: str = opt("finetune", "the stage trained on the labelled images after pretraining",
                    choices=("finetune", "linprobe"))
    encoder: str = opt("simple", ENCODER_HELP)
    labels_per_class: int = opt(0, LABELS_PER_CLASS_HELP, minimum=0)
    seed: int = opt(0, SEED_HELP, minimum=0)
    strategy: str = opt("auto", STRATEGY_HELP, choices=STRATEGIES)
    progress: bool = opt(True, PROGRESS_HELP)
    settings: dict[str, dict] = field(default_factory=dict)

    def __post_init__(self):
        self.out = self.out or "runs/classifier"
        self.labelled = self.labelled or self.data
        check_numbers(self)
        for part, values in self.settings.items():
            if part not in PARTS:
                raise ValueError(f"settings: no part {part!r}; the parts are {', '.join(PARTS)}")
            flags = ", ".join(f"--{part}-{name.replace('_', '-')}" for name in values)
            if part not in ("pretrain", self.then) and values:
                raise ValueError(f"{flags} apply to --then {part}, not --then {self.then}")
            unknown = set(values) - {f.name for f in part_options(part)}
            if unknown:
                raise ValueError(f"{', '.join(sorted(unknown))}: not settings of the {part} part "
                                 "that the classifier command passes on")

    def pretraining(self) -> PretrainConfig:
        return PretrainConfig(data=self.data, out=str(Path(self.out) / "pretrain"),
                              encoder=self.encoder, seed=self.seed, strategy=self.strategy,
                              progress=self.progress, **self.settings.get("pretrain", {}))

    def classifier(self, pretrained: str) -> FinetuneConfig | LinprobeConfig:
        """The second stage's settings (read from the pretraining run ``pretrained``, which
        must exist; "random" checks them before it does). Unlabelled photos trained on while
        fine-tuning are the pretraining photos unless ``--finetune-unlabelled`` says."""
        settings = dict(self.settings.get(self.then, {}))
        if (settings.get("pretext_weight", 0) > 0 or settings.get("pseudo_label_threshold", 0)
                > 0) and not settings.get("unlabelled"):
            settings["unlabelled"] = self.data
        return PARTS[self.then](data=self.labelled, out=str(Path(self.out) / self.then),
                                init=pretrained, labels_per_class=self.labels_per_class,
                                seed=self.seed, strategy=self.strategy, progress=self.progress,
                                **settings)


def part_options(part: str) -> list[dataclasses.Field]:
    """The options of ``part`` that the classifier command takes as ``--PART-NAME``: all but
    those it sets itself (its own options, where the data and run folders go, and for the
    classifier the pretext model's settings, which come from the pretraining)."""
    own = {f.name for f in flag_fields(ClassifierPipelineConfig)} | {"init"}
    if part != "pretrain":
        own |= {f.name for f in dataclasses.fields(PretextConfig)}
    return [f for f in flag_fields(PARTS[part]) if f.name not in own]
