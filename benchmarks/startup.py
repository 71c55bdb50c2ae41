"""Start-up on large folders: seconds to open the pretraining data and to the first training
batch, and peak memory, for folders of N generated JPEGs.

Usage: ``python benchmarks/startup.py [--files 10000 100000] [--dir DIR] [--batch-size 64]
[--skip-old] [--json]``. Writes N 96x96 JPEGs (~2.4 KB each) into ``DIR/N/``: with
``--dir`` they are kept, and reused by later runs; otherwise DIR is a temporary folder,
removed at the end. Each figure comes from a fresh Python process that opens the folder as
pretraining does:

* ``listed`` (now): ``open_images(..., validate=False)`` lists the files, ``split`` holds out
  ``VAL_FRACTION``, and only the held-out images are decoded (``decodable()``); the training
  pipeline skips bad images as it meets them.
* ``decoded`` (before, left out with ``--skip-old``): ``open_images(...)`` decodes every
  image once before training.

Prints a table; with ``--json`` the last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
WAYS = ("listed", "decoded")
VAL_FRACTION = 0.05  # pretraining's default --val-fraction
SEED = 0
SIDE = 96
QUIET = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="startup.py", description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, nargs="+", default=[10_000, 100_000],
                        help="image counts to measure (default: %(default)s)")
    parser.add_argument("--dir", help="where the images are written and kept (default: a "
                        "temporary folder, removed at the end)")
    parser.add_argument("--batch-size", type=int, default=64, help="default: %(default)s")
    parser.add_argument("--skip-old", action="store_true",
                        help="leave out the 'decoded' way (every image decoded first)")
    parser.add_argument("--json", action="store_true", help="print a JSON object last")
    parser.add_argument("--measure", choices=WAYS, help=argparse.SUPPRESS)  # one measurement
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.files + [args.batch_size]) < 2:
        parser.error("--files and --batch-size must be at least 2")
    return args


def make_images(folder: Path, count: int) -> Path:
    """``folder`` holding ``count`` small JPEGs (smooth random colours, ~2.4 KB each),
    writing only those missing."""
    folder.mkdir(parents=True, exist_ok=True)
    present = set(os.listdir(folder))
    rng = np.random.default_rng(count)
    for index in range(count):
        name = f"img{index:06d}.jpg"
        if name not in present:
            coarse = Image.fromarray(rng.integers(0, 256, (6, 6, 3), np.uint8))
            coarse.resize((SIDE, SIDE), Image.BICUBIC).save(folder / name, quality=90)
    return folder


def measure(way: str, folder: str, batch_size: int) -> dict:
    """One measurement, in this process: seconds to import, to open the pretraining data
    (``open_images``, then the hold-out and its check) and to the first training batch, and
    the peak resident memory."""
    started = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    import keras_sb  # noqa: F401  (imports TensorFlow quietly, so before tensorflow)

    # isort: split
    import tensorflow as tf

    from keras_sb.data import open_images
    from keras_sb.models.objectives import PretextTask
    from keras_sb.targets import TargetCodec
    from keras_sb.threads import share_cores_between_halves
    from keras_sb.training.pretrain import pretraining_dataset

    share_cores_between_halves()  # as train.py does
    imported, imported_rss = time.perf_counter(), peak_rss_mb()
    source = open_images(folder, "unlabelled", validate=way == "decoded")
    listed = time.perf_counter()
    train, val = source.split(VAL_FRACTION, SEED)
    if way == "listed":
        val = val.decodable()
    opened = time.perf_counter()
    task = PretextTask("split_brain", TargetCodec("lab", 100, "grid:10"))  # SplitBrain's
    batches = pretraining_dataset(train, task, SIDE, batch_size, training=True, seed=SEED)
    next(iter(batches))
    first = time.perf_counter()
    return {"way": way, "files": len(train) + len(val), "import_s": round(imported - started, 3),
            "open_images_s": round(listed - imported, 3), "hold_out_s": round(opened - listed, 3),
            "open_s": round(opened - imported, 3), "first_batch_s": round(first - opened, 3),
            "to_first_batch_s": round(first - imported, 3), "import_rss_mb": imported_rss,
            "peak_rss_mb": peak_rss_mb(), "tensorflow": tf.__version__}


def peak_rss_mb() -> int:
    """This process's peak resident memory (``ru_maxrss``, KB on Linux) in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10


def measured(way: str, folder: Path, batch_size: int) -> dict:
    """``measure`` run in a fresh Python process (its own peak memory, nothing cached)."""
    command = [sys.executable, __file__, "--measure", way, "--folder", str(folder),
               "--batch-size", str(batch_size)]
    result = subprocess.run(command, capture_output=True, text=True, env=QUIET, check=False)
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.splitlines()[-1])


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo, else the architecture."""
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info
                        if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.machine()


def table(rows: list[dict]) -> str:
    lines = ["files    way      open_images (s)  hold-out (s)  first batch (s)  total (s)  "
             "peak RSS (MB)  after import (MB)"]
    lines += [f"{r['files']:<8} {r['way']:<8} {r['open_images_s']:>15.2f}  "
              f"{r['hold_out_s']:>12.2f}  {r['first_batch_s']:>15.2f}  "
              f"{r['to_first_batch_s']:>9.2f}  {r['peak_rss_mb']:>13}  {r['import_rss_mb']:>17}"
              for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.folder, args.batch_size)))
        return
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="keras-sb-startup-"))
    ways = WAYS[:1] if args.skip_old else WAYS
    rows = []
    try:
        for count in args.files:
            folder = make_images(base / str(count), count)
            size_kb = sum(path.stat().st_size for path in folder.iterdir()) / count / 1024
            rows += [{**measured(way, folder, args.batch_size), "mean_file_kb": round(size_kb, 1)}
                     for way in ways]
    finally:
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)
    print(table(rows))
    if args.json:
        print(json.dumps({"rows": rows, "batch_size": args.batch_size,
                          "val_fraction": VAL_FRACTION, "cpus": os.cpu_count(),
                          "cpu": cpu_name(), "python": platform.python_version(),
                          "tensorflow": rows[0]["tensorflow"]}))


if __name__ == "__main__":
    main()
