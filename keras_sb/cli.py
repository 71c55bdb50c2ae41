"""``train.py``: one entry point, one ``--stage`` per protocol.

Each stage's options are the fields of its config dataclass, so defaults and help live in
one place.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Callable, Sequence

from keras_sb.data import DataError
from keras_sb.training.pretrain import PretrainConfig, pretrain
from keras_sb.training.run_folder import RunFolderError

STAGES: dict[str, tuple[type, Callable]] = {
    "pretrain": (PretrainConfig, pretrain),
}


def _add_config_flags(parser: argparse.ArgumentParser, config_cls: type, title: str,
                      seen: set[str]) -> None:
    """Add one flag per config field not already added by an earlier stage."""
    group = parser.add_argument_group(title)
    for f in dataclasses.fields(config_cls):
        flag = "--" + f.name.replace("_", "-")
        if flag in seen:
            continue
        seen.add(flag)
        kwargs = {"default": argparse.SUPPRESS, "help": f"{f.metadata['help']} "
                  f"(default: {f.default!r})"}
        if f.type in ("bool", bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = {"int": int, "float": float, "str": str}.get(f.type, f.type)
            if "choices" in f.metadata:
                kwargs["choices"] = f.metadata["choices"]
        group.add_argument(flag, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="train.py",
        description="keras-sb: split-brain autoencoder pretraining and evaluation.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--stage", choices=sorted(STAGES), default="pretrain",
                        help="protocol to run")
    seen: set[str] = set()
    for name, (config_cls, _) in STAGES.items():
        _add_config_flags(parser, config_cls, f"--stage {name}", seen)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the stage; returns the process exit code."""
    args = vars(build_parser().parse_args(argv))
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config_cls, run_stage = STAGES[args.pop("stage")]
    names = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(args) - names)
    if unknown:
        flags = ", ".join("--" + n.replace("_", "-") for n in unknown)
        print(f"error: {flags} does not apply to this stage", file=sys.stderr)
        return 2
    try:
        config = config_cls(**args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        run_stage(config)
    except (DataError, RunFolderError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nInterrupted. Rerun the same command to resume from the last finished epoch.",
              file=sys.stderr)
        return 130
    return 0
