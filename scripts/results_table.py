"""Print a markdown table of the finished runs under a folder (default runs/results).

Usage: python scripts/results_table.py [FOLDER]
"""

import json
import sys
from pathlib import Path


def rows(folder: Path):
    for summary_path in sorted(folder.glob("*/summary.json")):
        run = summary_path.parent
        summary = json.loads(summary_path.read_text())
        config = json.loads((run / "config.json").read_text())
        if "val_top1" in summary:
            result = f"{100 * summary['val_top1']:.1f}"
            extra = f"{summary['train_images']} labelled"
        else:
            result = f"val loss {summary['best_val_loss']}"
            extra = "unlabelled"
        yield (run.name, config.get("stage", "pretrain"), config["encoder"], config["width"],
               extra, summary["epochs"], f"{summary['wall_seconds_last_session'] / 60:.1f}",
               result)


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/results")
    print("| run | stage | encoder | width | images | epochs | minutes | val top-1 % |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows(folder):
        print("| " + " | ".join(map(str, row)) + " |")


if __name__ == "__main__":
    main()
