"""Print a markdown table of the finished runs under a folder (default runs/results): for
each, the command that reproduces it, epochs, wall time and the result.

Usage: python scripts/results_table.py [FOLDER]
"""

import dataclasses
import json
import os
import sys
from pathlib import Path

import keras_sb  # noqa: F401
from keras_sb.cli import STAGES

SKIPPED = {"progress", "previews", "overwrite", "out"}  # not part of what a run measures
RESOLVED = {"data", "init"}  # stored resolved; shown relative to the current folder


def command(config: dict) -> str:
    """The train.py command line of a run, from its config.json (non-default flags only)."""
    stage = config.get("stage", "pretrain")
    config_cls = STAGES[stage][0]
    flags = [f"--stage {stage}"]
    from_run = stage != "pretrain" and config.get("init", "random") != "random"
    backbone = {"encoder", "width", "color_space", "l_bins", "ab_bins", "image_size"}
    for field in dataclasses.fields(config_cls):
        value = config.get(field.name, field.default)
        if field.name in SKIPPED or (value == field.default and field.name != "init"):
            continue
        if from_run and field.name in backbone:
            continue  # taken from the pretraining run's config
        if field.name in RESOLVED and value != "random":
            value = os.path.relpath(value)
        flags.append(f"--{field.name.replace('_', '-')} {value}")
    return "python train.py " + " ".join(flags)


def rows(folder: Path):
    for summary_path in sorted(folder.glob("*/summary.json")):
        run = summary_path.parent
        summary = json.loads(summary_path.read_text())
        config = json.loads((run / "config.json").read_text())
        if "val_top1" in summary:
            result = f"**{100 * summary['val_top1']:.1f}**"
        else:
            result = f"val loss {summary['best_val_loss']}"
        minutes = summary["wall_seconds_last_session"] / 60
        yield f"`{command(config)}`", summary["epochs"], f"{minutes:.1f}", result


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/results")
    print("| command | epochs | minutes | val top-1 % |")
    print("| --- | --- | --- | --- |")
    for row in rows(folder):
        print("| " + " | ".join(map(str, row)) + " |")


if __name__ == "__main__":
    main()
