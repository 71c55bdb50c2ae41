"""``train.py``: one entry point, one ``--stage`` per protocol.

Each stage's options are the fields of its config dataclass, so defaults and help live in
one place; a flag shared by several stages appears once.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Callable, Sequence

import tensorflow as tf

from keras_sb.data import DataError
from keras_sb.threads import share_cores_between_halves
from keras_sb.training.callbacks import TrainingDiverged
from keras_sb.training.classifier_pipeline import ClassifierPipelineConfig, classifier_pipeline
from keras_sb.training.distribute import Cluster
from keras_sb.training.evaluate import EvaluateConfig, evaluate
from keras_sb.training.export_stage import ExportConfig, export
from keras_sb.training.knn_probe import KnnConfig, knn_probe
from keras_sb.training.pretrain import PretrainConfig, pretrain
from keras_sb.training.run_folder import RunFolderError
from keras_sb.training.supervised import FinetuneConfig, LinprobeConfig, train_classifier

STAGES: dict[str, tuple[type, Callable]] = {
    "pretrain": (PretrainConfig, pretrain),
    "finetune": (FinetuneConfig, train_classifier),
    "linprobe": (LinprobeConfig, train_classifier),
    "knn": (KnnConfig, knn_probe),
    "evaluate": (EvaluateConfig, evaluate),
    "export": (ExportConfig, export),
    "classifier": (ClassifierPipelineConfig, classifier_pipeline),
}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def flag_fields(config_cls: type) -> list[dataclasses.Field]:
    """The fields of a stage's config that are flags (those with ``--help`` text)."""
    return [f for f in dataclasses.fields(config_cls) if "help" in f.metadata]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="train.py",
        description="keras-sb: split-brain autoencoder pretraining and evaluation. "
        "Defaults differing between stages are listed per stage.",
    )
    parser.add_argument("--stage", choices=list(STAGES), default="pretrain",
                        help="protocol to run (default: pretrain)")
    fields: dict[str, list[tuple[str, dataclasses.Field]]] = {}
    for stage, (config_cls, _) in STAGES.items():
        for f in flag_fields(config_cls):
            fields.setdefault(f.name, []).append((stage, f))
    for name, uses in fields.items():
        first = uses[0][1]
        defaults = {stage: f.default for stage, f in uses}
        if len(set(map(repr, defaults.values()))) == 1:
            shown = f"default: {first.default!r}"
        else:
            shown = "defaults: " + ", ".join(f"{s} {d!r}" for s, d in defaults.items())
        kwargs = {"default": argparse.SUPPRESS, "help": f"{first.metadata['help']} ({shown})"}
        if first.type in ("bool", bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = {"int": int, "float": float, "str": str}[first.type]
            kwargs["choices"] = first.metadata.get("choices")
        parser.add_argument(_flag(name), **kwargs)
    return parser


# The stages that train on several workers (TF_CONFIG); the others run once, on one machine.
DISTRIBUTED = ("pretrain", "finetune", "linprobe", "classifier")
# How TensorFlow's collective ops fail when a worker dies (its coordination service notices).
WORKER_LOST = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
               tf.errors.AbortedError, tf.errors.CancelledError)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the stage; returns the process exit code."""
    args = vars(build_parser().parse_args(argv))
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("tensorflow").setLevel(logging.WARNING)  # a line per collective op
    share_cores_between_halves()
    stage = args.pop("stage")
    config_cls, run_stage = STAGES[stage]
    unknown = sorted(set(args) - {f.name for f in flag_fields(config_cls)})
    try:
        if unknown:
            raise ValueError(f"{', '.join(map(_flag, unknown))} does not apply to --stage {stage}")
        if stage not in DISTRIBUTED and Cluster.from_environment().workers > 1:
            raise ValueError(f"--stage {stage} runs on one machine, but TF_CONFIG lists several "
                             "workers: run it once, without TF_CONFIG")
        config = config_cls(**args)
        run_stage(config)
    except (ValueError, DataError, RunFolderError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except TrainingDiverged as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # a full disk, a folder that became unwritable, ...
        print(f"error: {error}. What was saved before stays usable: rerun the same command "
              "to resume.", file=sys.stderr)
        return 1
    except WORKER_LOST as error:
        print(f"error: another worker of this multi-worker job stopped or cannot be reached "
              f"({type(error).__name__}: {str(error).splitlines()[0][:300]}). Rerun the same "
              "command on every worker to resume from the last finished epoch.",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nInterrupted. Rerun the same command to resume from the last finished epoch.",
              file=sys.stderr)
        return 130
    return 0
