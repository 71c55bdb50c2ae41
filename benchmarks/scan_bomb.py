"""Decoding time of a progressive JPEG "scan bomb", and what the scan limit costs other JPEGs.

Usage: ``python benchmarks/scan_bomb.py [--scans 20000] [--side 8192] [--skip-old] [--json]``.

A scan bomb is a small progressive JPEG whose last scan is repeated ``--scans`` times, under a
frame header that declares ``--side`` x ``--side`` pixels: each scan makes libjpeg pass over
the whole declared image. Figures, each the median of several runs (one for the slow ones):

* ``old_bomb_s``: ``tf.io.decode_jpeg``, what ``decode_image`` called before it counted scans
  (minutes at the defaults; left out with ``--skip-old``).
* ``new_bomb_s``: ``decode_image`` refusing the bomb.
* ``max_scans_s``: ``decode_image`` on a bomb of exactly ``MAX_JPEG_SCANS`` scans: within the
  scan limit, refused by ``MAX_DECODE_WORK`` at sides over 3,645 (``max_scans_message``).
* ``photo_ms`` / ``photo_count_ms``: ``decode_image`` and its header checks alone
  (``decoding_work``: the scans counted and sized) on a 3000 x 2000 progressive photo-like
  JPEG; ``photo_jpeg_ms``: ``tf.io.decode_jpeg`` on it.

``benchmarks/decode_work.py`` times ``black_bomb``, which the scan limit alone let through.

Prints a table; with ``--json`` the last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import struct
import time
from collections.abc import Callable

import numpy as np
from PIL import Image

TILE = 16  # side of the image actually encoded


def scan_bomb(scans: int, side: int = 8192) -> bytes:
    """A progressive JPEG with ``scans`` scan headers whose frame declares ``side`` x ``side``.

    The scans after the encoder's own (about 10) repeat its last one, a refinement scan of a
    few bytes; the file is about 50 bytes per scan. Only a 16 x 16 tile is encoded: libjpeg
    stops each scan where the data ends.
    """
    noise = np.random.default_rng(0).integers(0, 256, (TILE, TILE, 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "JPEG", progressive=True, quality=90)
    data = repeat_last_scan(buffer.getvalue(), scans)
    at = data.index(b"\xff\xc2") + 5  # SOF2: length (2), precision (1), then height and width
    return data[:at] + struct.pack(">HH", side, side) + data[at + 4:]


def black_bomb(scans: int = 100, side: int = 8192) -> bytes:
    """A black ``side`` x ``side`` progressive JPEG (4:4:4, quality 95) whose last scan, its
    smallest (a luma AC refinement of 99 bytes), is repeated up to ``scans`` scans.

    Unlike ``scan_bomb``, every scan has data for the whole image: at the defaults (777 KB,
    within the size and scan limits) each scan is a full pass over 67 million samples.
    """
    buffer = io.BytesIO()
    Image.new("RGB", (side, side)).save(buffer, "JPEG", progressive=True, quality=95,
                                        subsampling=0)
    return repeat_last_scan(buffer.getvalue(), scans)


def repeat_last_scan(data: bytes, scans: int) -> bytes:
    """The progressive JPEG ``data`` with its last scan repeated until it has ``scans``."""
    last, end = data.rindex(b"\xff\xda"), data.rindex(b"\xff\xd9")
    own = data.count(b"\xff\xda")
    if scans < own:
        raise ValueError(f"--scans must be at least {own}, the encoder's own")
    return data[:end] + data[last:end] * (scans - own) + data[end:]


def photo_jpeg(width: int = 3000, height: int = 2000) -> bytes:
    """A progressive JPEG of smooth gradients with noise, compressed about like a photo."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], -1)
    rgb = np.clip(rgb + rng.normal(0, 12, rgb.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", progressive=True, quality=90)
    return buffer.getvalue()


def seconds(call: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``call()``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def refused(contents) -> str:
    """``decode_image``'s message refusing ``contents`` (a tf.string scalar)."""
    message = decoded_or_refused(contents)
    if message == "decoded":
        raise AssertionError("the scan bomb was decoded")
    return message


def decoded_or_refused(contents) -> str:
    """"decoded", or ``decode_image``'s message refusing ``contents`` (a tf.string scalar)."""
    import tensorflow as tf

    from keras_sb.data.decode import decode_image

    try:
        decode_image(contents)
    except tf.errors.InvalidArgumentError as error:
        return error.message.split("[")[1].split("]")[0]
    return "decoded"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scans", type=int, default=20000)
    parser.add_argument("--side", type=int, default=8192)
    parser.add_argument("--skip-old", action="store_true", help="do not time tf.io.decode_jpeg")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import tensorflow as tf

    from keras_sb.data.decode import MAX_JPEG_SCANS, decode_image, decoding_work

    bomb = tf.constant(scan_bomb(args.scans, args.side))
    allowed = tf.constant(scan_bomb(MAX_JPEG_SCANS, args.side))
    photo = tf.constant(photo_jpeg())
    count_only = tf.function(decoding_work)
    decode_image(photo)  # warm-up
    count_only(photo)
    figures = {
        "scans": args.scans, "side": args.side, "bomb_mb": len(bomb.numpy()) / 1e6,
        "max_jpeg_scans": MAX_JPEG_SCANS,
        "new_bomb_s": seconds(lambda: refused(bomb), 5),
        "message": refused(bomb),
        "max_scans_s": seconds(lambda: decoded_or_refused(allowed), 1),
        "max_scans_message": decoded_or_refused(allowed),
        "photo_ms": 1e3 * seconds(lambda: decode_image(photo), 9),
        "photo_jpeg_ms": 1e3 * seconds(lambda: tf.io.decode_jpeg(photo, channels=3), 9),
        "photo_count_ms": 1e3 * seconds(lambda: count_only(photo), 9),
        "photo_mb": len(photo.numpy()) / 1e6,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
    if not args.skip_old:
        figures["old_bomb_s"] = seconds(lambda: tf.io.decode_jpeg(bomb, channels=3), 1)
    print(f"scan bomb: {args.scans} scans, {args.side}x{args.side}, "
          f"{figures['bomb_mb']:.2f} MB")
    if "old_bomb_s" in figures:
        print(f"  tf.io.decode_jpeg (before):      {figures['old_bomb_s']:8.2f} s")
    print(f"  decode_image refuses it (now):   {figures['new_bomb_s']:8.4f} s: "
          f"{figures['message']}")
    print(f"  {MAX_JPEG_SCANS} scans (the scan limit):       {figures['max_scans_s']:8.4f} s: "
          f"{figures['max_scans_message']}")
    print(f"3000x2000 progressive JPEG, {figures['photo_mb']:.2f} MB:")
    print(f"  decode_image:                    {figures['photo_ms']:8.1f} ms")
    print(f"  tf.io.decode_jpeg:               {figures['photo_jpeg_ms']:8.1f} ms")
    print(f"  its header checks alone:         {figures['photo_count_ms']:8.2f} ms")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
