"""Copy a classifier run's best model into the package as the default demo model.

Usage: python scripts/ship_default_model.py RUN_DIR

Writes keras_sb/default_model/classifier.keras (calibrated, no optimizer state) and
metrics.json (the run's report.json, summary.json and config.json). A classifier on an
intermediate stage (conv3, ...) cannot draw colorizations: the pretraining checkpoint it
started from (its ``--init``) is then shipped as pretext.keras, which the demo uses for the
reconstructions.
"""

import json
import sys
from pathlib import Path

import keras

import keras_sb  # noqa: F401
from keras_sb.checkpoints import checkpoint_path
from keras_sb.models import DEFAULT_MODEL

LIMIT_MB = 20


def ship(source: Path, target: Path) -> keras.Model:
    model = keras.saving.load_model(source, compile=False)  # drops the optimizer
    target.parent.mkdir(parents=True, exist_ok=True)
    model.save(target)
    return model


def main(run: Path) -> None:
    metrics = {name: json.loads((run / f"{name}.json").read_text())
               for name in ("report", "summary", "config")}
    target = Path(DEFAULT_MODEL)
    model = ship(run / "best.keras", target)
    pretext = target.with_name("pretext.keras")
    if model.has_pretext_heads:
        pretext.unlink(missing_ok=True)
    elif metrics["config"]["init"] == "random":
        sys.exit(f"{run} started from random weights: there is no pretraining model to draw "
                 "its colorizations")
    else:
        ship(checkpoint_path(metrics["config"]["init"], "--init"), pretext)
    (target.parent / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    size = sum(p.stat().st_size for p in (target, pretext) if p.exists()) / 2**20
    print(f"{target.parent}: {size:.1f} MiB, val top-1 {metrics['report']['top1']:.4f}, "
          f"temperature {model.temperature:.3f}")
    if size > LIMIT_MB:
        sys.exit(f"the shipped models take {size:.1f} MiB, over the {LIMIT_MB} MiB limit")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
