"""Copy a fine-tuning run's best classifier into the package as the default demo model.

Usage: python scripts/ship_default_model.py RUN_DIR

Writes keras_sb/default_model/classifier.keras (weights only, no optimizer state) and
metrics.json (the run's report.json, summary.json and config.json).
"""

import json
import sys
from pathlib import Path

import keras

import keras_sb  # noqa: F401
from keras_sb.models import DEFAULT_MODEL


def main(run: Path) -> None:
    model = keras.saving.load_model(run / "best.keras", compile=False)  # drops the optimizer
    target = Path(DEFAULT_MODEL)
    target.parent.mkdir(parents=True, exist_ok=True)
    model.save(target)
    metrics = {name: json.loads((run / f"{name}.json").read_text())
               for name in ("report", "summary", "config")}
    (target.parent / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"{target}: {target.stat().st_size / 1e6:.1f} MB, val top-1 "
          f"{metrics['report']['top1']:.4f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
