"""Mean and standard deviation of the kNN probe runs of scripts/knn_probe_sweep.sh.

Usage: python scripts/knn_summary.py RUNS_DIR  (prints a markdown table and the JSON)
"""

import json
import sys
from pathlib import Path

import numpy as np


def main(runs: Path) -> None:
    rows = {}
    for report in sorted(runs.glob("knn-*-s*/report.json")):
        init, labels, _ = report.parent.name.removeprefix("knn-").rsplit("-", 2)
        rows.setdefault((init, int(labels)), []).append(json.loads(report.read_text())["top1"])
    summary = {f"{init}-{labels}": {"top1": [round(v, 4) for v in values],
                                    "mean": round(float(np.mean(values)) * 100, 1),
                                    "std": round(float(np.std(values, ddof=1)) * 100, 1)}
               for (init, labels), values in sorted(rows.items())}
    print("| labels / class | pretrained | random | difference |\n| --- | --- | --- | --- |")
    for labels in sorted({labels for _, labels in rows}):
        pre, rnd = summary[f"pretrained-{labels}"], summary[f"random-{labels}"]
        print(f"| {labels} | {pre['mean']} ± {pre['std']} | {rnd['mean']} ± {rnd['std']} | "
              f"{pre['mean'] - rnd['mean']:+.1f} |")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
