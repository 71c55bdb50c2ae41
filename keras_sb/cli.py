"""The ``keras-sb`` command line: ``keras-sb STAGE [options]``, a subcommand per stage and
``demo``. ``python train.py`` (and ``keras-sb-train``, ``python -m keras_sb``) take the same
command with the stage as an option, ``--stage STAGE`` (pretrain when left out).

A stage's options are the fields of its config dataclass (keras_sb/training/config.py), so
defaults and help live in one place; ``classifier`` also takes each part's options with the
part's name in front (``--finetune-epochs``). Parsing imports no TensorFlow: the stage's modules
load once the arguments are known (keras_sb/stage_runner.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import sys
from collections.abc import Sequence
from typing import NamedTuple

import keras_sb
from keras_sb import app_cli, commands
from keras_sb.training.config import (
    FEW_LABELS,
    FEW_LABELS_FINETUNE,
    PARTS,
    ClassifierPipelineConfig,
    EvaluateConfig,
    ExportConfig,
    FinetuneConfig,
    KnnConfig,
    LinprobeConfig,
    PretrainConfig,
    check_number,
    few_labels_flags,
    flag,
    flag_fields,
    part_options,
)


class Stage(NamedTuple):
    config: type
    run: str  # "module:function", imported once the arguments are parsed
    summary: str


STAGES = {
    "pretrain": Stage(PretrainConfig, "keras_sb.training.pretrain:pretrain_command",
                      "train the pretext model (split-brain autoencoder) on unlabelled images"),
    "finetune": Stage(FinetuneConfig, "keras_sb.training.supervised:train_classifier",
                      "train a classifier on labelled images from a pretraining run (or random "
                      "weights)"),
    "linprobe": Stage(LinprobeConfig, "keras_sb.training.supervised:train_classifier",
                      "train a linear classifier on a pretraining run's frozen features"),
    "knn": Stage(KnnConfig, "keras_sb.training.knn_probe:knn_probe",
                 "score a k-nearest-neighbour vote of frozen features (no training)"),
    "evaluate": Stage(EvaluateConfig, "keras_sb.training.evaluate:evaluate",
                      "score a classifier on labelled images: report.json, confusion.png"),
    "export": Stage(ExportConfig, "keras_sb.training.export_stage:export",
                    "write a classifier as a TensorFlow SavedModel for TF Serving"),
    "classifier": Stage(ClassifierPipelineConfig,
                        "keras_sb.training.classifier_pipeline:classifier_pipeline",
                        "pretrain, then finetune (or linprobe) from it: a classifier in one "
                        "command"),
}
DEMO = "demo"
DEMO_SUMMARY = "serve the web demo of a classifier or pretraining run"
PART_SEPARATOR = ":"  # in the parsed names of the classifier's part options: "finetune:epochs"


def shown(value) -> str:
    """A default value as the help shows it (floats without trailing zeros)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def shown_default(f: dataclasses.Field, otherwise: str = "") -> str:
    """`` (default: X)`` for the help of option ``f``, followed by ``otherwise`` (when the
    default changes with the inputs: ``; Y with ...``); nothing when its help text already
    says it or there is nothing to show (an empty string)."""
    if f.default == "" or "default" in f.metadata["help"]:
        return ""
    return f" (default: {shown(f.default)}{otherwise})"


def add_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup, f: dataclasses.Field,
               name: str = "", dest: str = "", otherwise: str = "") -> None:
    """Declare config field ``f`` as option ``name`` (default: from the field's name); left
    out, it stays out of the parsed arguments, so the config's default applies. ``otherwise``:
    see :func:`shown_default`."""
    required = " (required)" if f.metadata.get("required") else ""
    kwargs = {"default": argparse.SUPPRESS, "dest": dest or f.name,
              "help": f.metadata["help"] + shown_default(f, otherwise) + required}
    if f.type in ("bool", bool):
        kwargs["action"] = argparse.BooleanOptionalAction
    else:
        kwargs["type"] = {"int": int, "float": float, "str": str}[str(f.type)]
        kwargs["choices"] = f.metadata.get("choices")
        kwargs["metavar"] = None if kwargs["choices"] else f.name.upper()
    parser.add_argument(name or flag(f.name), **kwargs)


def part_option(part: str, f: dataclasses.Field) -> tuple[str, str]:
    """(parsed name, option) of the classifier's option for field ``f`` of part ``part``:
    ("finetune:epochs", "--finetune-epochs")."""
    return f"{part}{PART_SEPARATOR}{f.name}", flag(f"{part}_{f.name}")


def add_part_options(parser: argparse.ArgumentParser) -> None:
    """The classifier command's options for its parts: ``--PART-NAME`` for each option of the
    part's stage that the command does not set itself (``part_options``)."""
    for part in PARTS:
        then = "" if part == "pretrain" else f", with --then {part}"
        description = (f"passed on to the {part} part (defaults: those of "
                       f"{commands.command(part)}){then}")
        if part == "finetune":
            description += (f"; with at most {FEW_LABELS} labelled training images per class, "
                            f"{few_labels_flags()} where not given (fine-tuning also on the "
                            "unlabelled photos, longer)")
        group = parser.add_argument_group(f"{part} options", description)
        for f in part_options(part):
            dest, option = part_option(part, f)
            otherwise = (f"; {shown(FEW_LABELS_FINETUNE[f.name])} with at most {FEW_LABELS} "
                         "labelled training images per class"
                         if part == "finetune" and f.name in FEW_LABELS_FINETUNE else "")
            add_option(group, f, option, dest, otherwise)


def stage_options(stage: str) -> dict[str, tuple[str, dataclasses.Field]]:
    """The options of ``stage`` (one of STAGES) by parsed name: (option, config field)."""
    options = {f.name: (flag(f.name), f) for f in flag_fields(STAGES[stage].config)}
    if stage == "classifier":
        for part in PARTS:
            for f in part_options(part):
                dest, option = part_option(part, f)
                options[dest] = (option, f)
    return options


def as_subcommand(argv: list[str]) -> list[str]:
    """``train.py``'s form, ``[--stage STAGE] options``, as ``STAGE options``."""
    if not argv or not argv[0].startswith("-") or argv[0] in ("-h", "--help", "--version"):
        return argv  # a stage first (argparse names an unknown one)
    for i, arg in enumerate(argv):
        if arg == "--stage" and i + 1 < len(argv):
            return [argv[i + 1], *argv[:i], *argv[i + 2:]]
        if arg.startswith("--stage="):
            return [arg.partition("=")[2], *argv[:i], *argv[i + 1:]]
    return ["pretrain", *argv]


class CommandParser(argparse.ArgumentParser):
    """The top-level parser: takes ``train.py``'s form too (:func:`as_subcommand`)."""

    def parse_known_args(self, args=None, namespace=None):
        argv = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(as_subcommand(argv), namespace)


def build_parsers() -> tuple[CommandParser, dict[str, argparse.ArgumentParser]]:
    """The command's parser and its stages' (``demo`` included), spelled as the current
    command (:func:`keras_sb.commands.spelled`)."""
    spelling = commands.current()
    stage_arg = "--stage STAGE" if spelling.stage_flag else "STAGE"
    parser = CommandParser(
        prog=spelling.stages, usage=f"%(prog)s {stage_arg} [options]\n       %(prog)s --version",
        description="keras-sb: split-brain autoencoder pretraining, classifiers on few labels, "
        f"and their demo. '{commands.command('STAGE')} --help' lists a stage's options.")
    parser.add_argument("--version", action="version", version=f"keras-sb {keras_sb.__version__}")
    subparsers = parser.add_subparsers(dest="stage", title="stages", metavar="STAGE",
                                       parser_class=argparse.ArgumentParser)
    parsers = {}
    for name, stage in STAGES.items():
        parsers[name] = subparsers.add_parser(
            name, help=stage.summary, description=stage.summary[0].upper() + stage.summary[1:],
            prog=commands.command(name), usage="%(prog)s [options]")
        for f in flag_fields(stage.config):
            add_option(parsers[name], f)
    add_part_options(parsers["classifier"])
    parsers[DEMO] = app_cli.add_arguments(subparsers.add_parser(
        DEMO, help=DEMO_SUMMARY, description=app_cli.DESCRIPTION,
        prog=commands.command(DEMO), usage="%(prog)s [options]"))
    return parser, parsers


def build_parser() -> CommandParser:
    return build_parsers()[0]


def unknown_options(extras: list[str], stage: str, parser: argparse.ArgumentParser) -> str:
    """The error message for arguments ``stage`` (parsed by ``parser``) does not take: the
    stages they belong to, or the closest of its own options."""
    own = [option for action in parser._actions for option in action.option_strings]
    name = extras[0].partition("=")[0]
    elsewhere = [other for other, s in STAGES.items()
                 if name in (flag(f.name) for f in flag_fields(s.config))]
    if elsewhere:
        hint = f"{name} does not apply to {stage} (an option of {', '.join(elsewhere)})"
        return hint + (": the classifier's parts take --PART" + name[1:]
                       if stage == "classifier" else "")
    close = difflib.get_close_matches(name, own, n=1)
    return f"unrecognized arguments: {' '.join(extras)}" + (
        f" (did you mean {close[0]}?)" if close else "")


class UsageError(Exception):
    """Arguments the stage's parser (``args[0]``) refuses, with a message (``args[1]``)."""


def parse(argv: Sequence[str]) -> tuple[str, dict]:
    """``(stage, settings)``: the stage's config fields given on the command line; the
    classifier's part options gathered in ``settings['settings']``. Values argparse refuses
    exit (status 2); options the stage does not take, a required one left out, or a number
    out of its option's bounds raise UsageError."""
    parser, parsers = build_parsers()
    args, extras = parser.parse_known_args(argv)
    settings = vars(args)
    stage = settings.pop("stage")
    if extras:
        raise UsageError(parsers[stage], unknown_options(extras, stage, parsers[stage]))
    options = stage_options(stage) if stage in STAGES else {}  # demo: argparse checks its own
    for name, (option, f) in options.items():
        value = settings.get(name)
        if name not in settings and f.metadata.get("required"):
            raise UsageError(parsers[stage], f"{option} is required: {f.metadata['help']}")
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                check_number(option, value, f.metadata)
            except ValueError as error:
                raise UsageError(parsers[stage], str(error)) from None
    for name in [name for name in settings if PART_SEPARATOR in name]:
        part, _, field = name.partition(PART_SEPARATOR)
        settings.setdefault("settings", {}).setdefault(part, {})[field] = settings.pop(name)
    return stage, settings


def main(argv: Sequence[str] | None = None, spelling: str = "keras-sb") -> int:
    """Parse ``argv`` (the command's arguments) and run the stage; returns the exit status.
    ``spelling``: how the user ran the command (keras_sb.commands.SPELLINGS), which usage
    lines and printed next steps repeat. No arguments: the help."""
    with commands.spelled(commands.SPELLINGS[spelling]):
        return run(list(sys.argv[1:] if argv is None else argv))


def run(argv: list[str]) -> int:
    if not argv:
        build_parser().print_help()
        return 0
    try:
        stage, settings = parse(argv)
    except UsageError as error:
        stage_parser, message = error.args
        stage_parser.print_usage(sys.stderr)
        print(f"{stage_parser.prog}: error: {message}", file=sys.stderr)
        return 2
    if stage == DEMO:
        return app_cli.serve_demo(argparse.Namespace(**settings))
    keras_sb.load()  # TensorFlow, quietly
    from keras_sb import stage_runner

    return stage_runner.run(stage, STAGES[stage].config, STAGES[stage].run, settings)
