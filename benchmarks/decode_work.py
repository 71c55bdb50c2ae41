"""Decoding time of a "black bomb" (many full scans, every one within the limits) in the demo,
training and serving paths, and of normal photos: figures, no pass/fail.

Usage: ``python benchmarks/decode_work.py [--repo PATH] [--json PATH]``. ``--repo`` is the
checkout whose ``keras_sb`` is measured (default: this one; an exported older commit measures
the code before a change).

The bomb is ``scan_bomb.black_bomb()``: a black 8192 x 8192 progressive JPEG (4:4:4) whose
last scan is repeated up to 100 scans, 778 KiB. Each path is timed from the encoded bytes (or
the file) to the decoded image or the refusal, whichever comes first:

* ``demo``: ``keras_sb.demo.read_image`` of the upload (eager ``decode_image``, centre crop);
* ``training_check``: ``keras_sb.data.files.decodable``, the check of labelled splits and of
  the pretraining hold-out;
* ``training_epoch``: one epoch of a training pipeline (``FileImageSource.dataset``) over the
  bomb and one small photo (the images it gave and skipped), against ``training_epoch_photo``,
  the same over the photo alone (the pipeline's own start-up);
* ``serving``: ``keras_sb.export.preprocess``, the SavedModel's in-graph decoding, traced as
  in the export, on a request of the bomb alone, and ``serving_request`` on a request of
  ``--request`` (8) bombs.

``at_limit_demo``: the demo path on the same image with 13 scans, at the work limit.

Photos (smooth gradients with noise, about a photo's compression), decoded in the demo path
and in serving: a 3000 x 2000 progressive JPEG and a 6000 x 4000 baseline JPEG (4:2:0), and
96 x 96 JPEGs through a tf.data map (``jpeg_96x96_cpu_us_per_image``: the process's CPU time
per image, the per-image cost of training's decoding, less sensitive to a shared machine's
load than wall time). Each figure is the median of ``--repeats`` runs (one run for those
over 3 s).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from scan_bomb import black_bomb  # noqa: E402


def photo(width: int, height: int, progressive: bool) -> bytes:
    """A JPEG (4:2:0, quality 90) of smooth gradients with noise, tiled from 512 x 512."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:512, 0:512]
    tile = np.stack([x // 2, y // 2, (x + y) // 4], -1) + rng.normal(0, 12, (512, 512, 3))
    tile = np.clip(tile, 0, 255).astype(np.uint8)
    rgb = np.tile(tile, (height // 512 + 1, width // 512 + 1, 1))[:height, :width]
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=90, progressive=progressive)
    return buffer.getvalue()


def timed(call: Callable[[], object], repeats: int) -> dict:
    """Median seconds of ``call()`` and its outcome ("decoded" or the error's first line)."""
    times, outcome = [], "decoded"
    for _ in range(repeats):
        start = time.perf_counter()
        try:
            result = call()
            outcome = result if isinstance(result, str) else outcome
        except Exception as error:  # noqa: BLE001 - the refusal is the figure
            outcome = f"refused: {str(error).strip().splitlines()[0][:160]}"
        times.append(time.perf_counter() - start)
        if times[-1] > 3:
            break
    return {"seconds": round(float(np.median(times)), 4), "outcome": outcome}


def epoch(source) -> str:
    """One training epoch over ``source``: what it gave and skipped."""
    images = list(source.dataset(96, training=True, seed=0))
    skipped = [os.path.basename(path) for path in source.skipped_images()]
    return f"{len(images)} of {len(source)} images, skipped: {skipped}"


def checked(decodable: Callable[[list[str]], np.ndarray], path: str) -> None:
    """Raises, as a refusal, if ``decodable`` leaves ``path`` out."""
    if not len(decodable([path])):
        raise ValueError("left out by the check (skipped with a warning)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=ROOT)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--request", type=int, default=8,
                        help="bombs in the second serving request (default 8)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    sys.path.insert(0, str(args.repo.resolve()))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import tensorflow as tf

    import keras_sb
    from keras_sb.data import FileImageSource
    from keras_sb.data.decode import decode_image
    from keras_sb.data.files import decodable
    from keras_sb.demo import Upload, read_image
    from keras_sb.export import preprocess

    serve = tf.function(lambda batch: preprocess(batch, 96))
    bomb, at_limit = black_bomb(), black_bomb(13)
    photos = {"photo_3000x2000_progressive": photo(3000, 2000, True),
              "photo_6000x4000_baseline": photo(6000, 4000, False)}
    small = photo(96, 96, False)
    with tempfile.TemporaryDirectory() as folder:
        paths = [os.path.join(folder, "bomb.jpg"), os.path.join(folder, "small.jpg")]
        for path, contents in zip(paths, (bomb, small), strict=True):
            Path(path).write_bytes(contents)
        source = FileImageSource(folder, np.array(paths), np.full(2, -1), [])
        photo_only = source.subset([1])
        serve(tf.constant([small]))  # warm-up: tracing, for both request sizes
        serve(tf.constant([small] * args.request))
        read_image(Upload(small, "small.jpg"), 96)
        bomb_figures = {
            "demo": timed(lambda: read_image(Upload(bomb, "bomb.jpg"), 96), args.repeats),
            "training_check": timed(lambda: checked(decodable, paths[0]), args.repeats),
            "training_epoch": timed(lambda: epoch(source), args.repeats),
            "training_epoch_photo": timed(lambda: epoch(photo_only), args.repeats),
            "serving": timed(lambda: serve(tf.constant([bomb])), args.repeats),
            "serving_request": timed(lambda: serve(tf.constant([bomb] * args.request)), 1),
            "at_limit_demo": timed(lambda: read_image(Upload(at_limit, "limit.jpg"), 96),
                                   args.repeats),
        }
    photo_figures = {name: {"bytes": len(contents),
                            "demo": timed(lambda c=contents: read_image(Upload(c, "p.jpg"), 96),
                                          args.repeats),
                            "serving": timed(lambda c=contents: serve(tf.constant([c])),
                                             args.repeats)}
                     for name, contents in photos.items()}
    smalls = tf.data.Dataset.from_tensors(tf.constant(small)).repeat(2000)
    per_image = tf.data.Dataset.map(smalls, lambda c: tf.shape(decode_image(c)))
    count = tf.function(lambda: per_image.reduce(0, lambda total, _: total + 1))
    count()
    cpu = []
    for _ in range(args.repeats):
        start = time.process_time()
        count()
        cpu.append(time.process_time() - start)
    commit = subprocess.run(["git", "-C", str(args.repo), "log", "-1", "--format=%h"],
                            capture_output=True, text=True).stdout.strip()
    figures = {
        "command": " ".join(["python", *sys.argv]), "keras_sb": keras_sb.__file__,
        "commit": commit or "unknown (not a git checkout)",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "bomb": {"bytes": len(bomb), "scans": bomb.count(b"\xff\xda"),
                 "serving_request_images": args.request, **bomb_figures},
        "photos": photo_figures,
        "jpeg_96x96_cpu_us_per_image": round(1e6 * float(np.median(cpu)) / 2000, 1),
    }
    print(f"black bomb, {len(bomb):,} bytes, {figures['bomb']['scans']} scans, 8192x8192:")
    for name, figure in bomb_figures.items():
        print(f"  {name:20s} {figure['seconds']:8.3f} s  {figure['outcome']}")
    for name, figure in photo_figures.items():
        print(f"{name} ({figure['bytes']:,} bytes): demo {figure['demo']['seconds']:.3f} s, "
              f"serving {figure['serving']['seconds']:.3f} s, {figure['demo']['outcome']}")
    print(f"96x96 JPEG through tf.data: {figures['jpeg_96x96_cpu_us_per_image']} us of CPU "
          "per image")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
