"""decode_image's size limits: hostile images are refused from their headers, in bounded memory.

The hostile files are made here in a few KB each: an all-black image compresses about 1000:1
in PNG and GIF, and a JPEG or BMP header can declare any size over a small image's data.
"""

import importlib.util
import io
import json
import logging
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_sb.data import open_images
from keras_sb.data.decode import (
    MAX_ASPECT_RATIO,
    MAX_JPEG_SCANS,
    MAX_PIXELS,
    center_crop,
    decode_image,
)
from keras_sb.data.files import decodable
from keras_sb.demo import ImageError, read_image
from keras_sb.export import preprocess

SCAN_BOMB = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "scan_bomb.py")
QUIET = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
GROWTH_LIMIT_MB = 800  # over a process's peak once it has decoded a small image each way


def png(width: int, height: int, colour: bool = False) -> bytes:
    """An all-black PNG, 1-bit grey (or 8-bit RGB), written row by row through zlib."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    bits, colour_type, channels = (8, 2, 3) if colour else (1, 0, 1)
    row = bytes(1 + (width * bits * channels + 7) // 8)
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, bits, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data)
            + chunk(b"IEND", b""))


def _lzw_black(pixels: int) -> bytes:
    """GIF LZW data (code size 2) for ``pixels`` of colour 0: after a clear code, each code is
    the longest run of 0s in the table, which grows by one code per code up to 4096."""
    out, bits, used, width, emitted = bytearray(), 4, 3, 3, 0  # bits: not yet written, LSB first
    while pixels:
        run = min(pixels, emitted + 1, 4091)
        bits |= (0 if run == 1 else run + 4) << used  # run n > 1 is code n + 4 (6 is "00")
        used += width
        pixels -= run
        emitted += 1
        if 6 + emitted > 1 << width and width < 12:
            width += 1
        while used >= 8:
            out.append(bits & 255)
            bits, used = bits >> 8, used - 8
    bits |= 5 << used  # end of data
    return bytes(out) + bits.to_bytes((used + width + 7) // 8, "little")


def gif(frames: list[tuple[int, int]], screen: tuple[int, int] | None = None) -> bytes:
    """A GIF of all-black (width, height) frames at (0, 0); the logical screen is the first
    frame's size unless given."""
    out = b"GIF89a" + struct.pack("<HHBBB", *(screen or frames[0]), 0x81, 0, 0)
    out += bytes([0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0, 255])  # 4 colours
    for width, height in frames:
        data = _lzw_black(width * height)
        out += b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02"
        out += b"".join(bytes([len(data[i:i + 255])]) + data[i:i + 255]
                        for i in range(0, len(data), 255)) + b"\0"
    return out + b";"


def encoded(image: Image.Image, kind: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind, **kwargs)
    return buffer.getvalue()


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small JPEG whose frame header (SOF0) declares ``width`` x ``height``."""
    data = encoded(Image.new("RGB", (64, 48), "red"), "JPEG")
    at = data.index(b"\xff\xc0") + 5
    return data[:at] + struct.pack(">HH", height, width) + data[at + 4:]


def bmp_declaring(width: int, height: int, mode: str = "RGB") -> bytes:
    data = encoded(Image.new(mode, (64, 48)), "BMP")
    return data[:18] + struct.pack("<ii", width, height) + data[26:]


HOSTILE = {  # name: (contents, width, height)
    "thin.png": (lambda: png(30000, 1, colour=True), 30000, 1),
    "13k.png": (lambda: png(13000, 13000), 13000, 13000),
    "16k.png": (lambda: png(16000, 16000), 16000, 16000),
    "16k.gif": (lambda: gif([(16000, 16000)]), 16000, 16000),
    "frame_over_screen.gif": (lambda: gif([(16000, 16000)], screen=(16, 16)), 16000, 16000),
    "13k.jpg": (lambda: jpeg_declaring(13000, 13000), 13000, 13000),
    "wide.jpg": (lambda: jpeg_declaring(20000, 150), 20000, 150),
    "top_down.bmp": (lambda: bmp_declaring(10000, -10000), 10000, 10000),
    "palette.bmp": (lambda: bmp_declaring(20000, 20000, "P"), 20000, 20000),
}


def write_hostile(folder) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (contents, _, _) in HOSTILE.items():
        (folder / name).write_bytes(contents())


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """The hostile files, written once."""
    folder = tmp_path_factory.mktemp("hostile")
    write_hostile(folder)
    return folder


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_images_are_refused_naming_the_limit(hostile, name):
    _, width, height = HOSTILE[name]
    contents = tf.io.read_file(str(hostile / name))
    expected = rf"image is {width}x{height} pixels: .*the limit"
    with pytest.raises(tf.errors.InvalidArgumentError, match=expected):
        decode_image(contents)  # eagerly, as in the demo
    in_graph = tf.function(lambda contents: center_crop(decode_image(contents), 96))
    with pytest.raises(tf.errors.InvalidArgumentError, match=expected):
        in_graph(contents)  # as in tf.data
    serving = tf.function(lambda batch: preprocess(batch, 96))  # the SavedModel's graph
    with pytest.raises(tf.errors.InvalidArgumentError, match=expected):
        serving(tf.stack([tf.constant(png(10, 10)), contents]))


def test_the_limits_themselves_pass():
    assert (MAX_PIXELS, MAX_ASPECT_RATIO) == (8192 * 8192, 100)
    assert decode_image(png(MAX_ASPECT_RATIO, 1)).shape == (1, MAX_ASPECT_RATIO, 3)
    assert decode_image(png(2, 2 * MAX_ASPECT_RATIO)).shape == (2 * MAX_ASPECT_RATIO, 2, 3)
    for width, height in [(MAX_ASPECT_RATIO + 1, 1), (2, 2 * MAX_ASPECT_RATIO + 1)]:
        with pytest.raises(tf.errors.InvalidArgumentError, match="100 times"):
            decode_image(png(width, height))
    with pytest.raises(tf.errors.InvalidArgumentError, match="67,108,864 pixels"):
        decode_image(jpeg_declaring(8193, 8192))
    assert center_crop(decode_image(jpeg_declaring(960, 10)), 96).shape == (96, 96, 3)


def scan_bomb(scans: int, side: int) -> bytes:
    """benchmarks/scan_bomb.py's progressive JPEG of ``scans`` scans, declaring side x side."""
    spec = importlib.util.spec_from_file_location("scan_bomb", SCAN_BOMB)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.scan_bomb(scans, side)


def test_a_scan_bomb_is_refused_before_decoding(tmp_path):
    """One scan over the limit, under an 8192 x 8192 header: refused in training, the demo and
    serving without decoding (decoded, its 101 scans take over a second)."""
    (tmp_path / "bomb.jpg").write_bytes(scan_bomb(MAX_JPEG_SCANS + 1, 8192))
    (tmp_path / "good.jpg").write_bytes(scan_bomb(MAX_JPEG_SCANS, 64))
    paths = [str(tmp_path / name) for name in ("bomb.jpg", "good.jpg")]
    assert decodable(paths).tolist() == [1]  # training's check
    message = f"JPEG has more than {MAX_JPEG_SCANS} scans \\(the limit\\)"
    with pytest.raises(ImageError, match=f"^bomb.jpg is not a readable image: {message}$"):
        read_image(paths[0], 96)  # the demo
    serving = tf.function(lambda batch: preprocess(batch, 96))
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        serving(tf.stack([tf.io.read_file(path) for path in paths]))
    assert decode_image(tf.io.read_file(paths[1])).shape == (64, 64, 3)  # at the limit


def test_short_headers_are_refused_without_quoting_their_bytes():
    # tf.strings.substr's error quotes the bytes; Python then fails on the message with
    # UnicodeDecodeError, which neither the demo nor training's error handling catches.
    header = encoded(Image.new("P", (4, 4)), "BMP")[:40]  # a palette BMP cut in its header
    for contents in (b"\x89PNG\r\n\x1a\n\x00\x00", b"BM\xff\xfe", header):
        with pytest.raises(tf.errors.InvalidArgumentError):
            decode_image(contents)


def test_a_gif_is_decoded_up_to_its_first_frame():
    # tf.io sizes a GIF's canvas by its largest frame, and reads them all: a later frame of
    # 16000 x 16000 would take 1 GB. Only the first one is decoded, at its own size.
    image = decode_image(gif([(64, 48), (16000, 16000)]))
    assert image.shape == (48, 64, 3) and int(tf.reduce_max(image)) == 0
    # The logical screen (here 16 x 16) plays no part: tf.io ignores it too.
    assert decode_image(gif([(64, 48)], screen=(16, 16))).shape == (48, 64, 3)


def test_gif_extensions_and_long_first_frames_decode_like_pillow():
    noise = np.random.default_rng(0).integers(0, 256, (700, 650, 3), np.uint8)
    first = Image.fromarray(noise).quantize(256)  # over 1,024 full sub-blocks of LZW data
    frames = [first, Image.new("RGB", (650, 700), "blue").quantize(4)]
    contents = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], loop=0,
                       duration=40, comment=b"long comment " * 100, interlace=True)
    assert len(contents) > 1024 * 256
    expected = np.asarray(Image.open(io.BytesIO(contents)).convert("RGB"))
    np.testing.assert_array_equal(decode_image(contents).numpy(), expected)
    np.testing.assert_array_equal(tf.function(decode_image)(contents).numpy(), expected)


def test_a_cut_gif_is_refused():
    contents = gif([(300, 300)])
    with pytest.raises(tf.errors.InvalidArgumentError, match="GIF ends before"):
        decode_image(contents[: len(contents) // 2])


@pytest.mark.parametrize("contents", [b"", b"text with an image's name",
                                      encoded(Image.new("RGB", (8, 8)), "WEBP")],
                         ids=["empty", "text", "webp"])
def test_other_formats_are_refused(contents):
    with pytest.raises(tf.errors.InvalidArgumentError, match="not a JPEG, PNG, GIF or BMP"):
        decode_image(contents)


def test_palette_bmp_indices_past_the_colour_table_are_black():
    # 8 x 2, 8 bits per pixel, a table of one colour (red, as BGRX), rows bottom-up: index 0
    # at the bottom left, index 1 (past the table) everywhere else.
    info = struct.pack("<IiiHHIIiiII", 40, 8, 2, 1, 8, 0, 16, 0, 0, 1, 0)
    pixels = bytes([0] + [1] * 15)
    contents = (b"BM" + struct.pack("<IHHI", 58 + len(pixels), 0, 0, 58) + info
                + b"\x00\x00\xff\x00" + pixels)
    image = decode_image(contents).numpy()
    assert image[1, 0].tolist() == [255, 0, 0] and image.sum() == 255


def test_training_skips_hostile_files_naming_them(tmp_path, caplog):
    data = tmp_path / "data"
    write_hostile(data)
    Image.new("RGB", (120, 96), "red").save(data / "good.jpg")
    Image.new("RGB", (96, 300), "blue").save(data / "good.png")
    with caplog.at_level(logging.WARNING, logger="keras_sb"):
        source = open_images(data, "unlabelled")
    assert sorted(os.path.basename(path) for path in source.items) == ["good.jpg", "good.png"]
    skipped = f"Skipped {len(HOSTILE)} image files that could not be decoded or are over the"
    assert skipped in caplog.text and "and 4 more" in caplog.text  # five are named
    assert all(name in caplog.text for name in sorted(HOSTILE)[:5])


def test_serving_decodes_one_image_at_a_time():
    # Each image's memory is bounded; map_fn's default would decode ten of a request at once.
    serving = tf.function(lambda batch: preprocess(batch, 96))
    graph = serving.get_concrete_function(tf.TensorSpec([None], tf.string)).graph
    loops = [op for op in graph.get_operations() if op.type in ("While", "StatelessWhile")]
    assert [op.get_attr("parallel_iterations") for op in loops] == [1, 1]  # headers, decoding


MEASURE = """
import json, resource, sys


def peak_mb():  # this process's own peak (ru_maxrss would include its parent's, from fork)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) >> 10


_, hard = resource.getrlimit(resource.RLIMIT_AS)
cap = 6 << 30 if hard == resource.RLIM_INFINITY else min(6 << 30, hard)
resource.setrlimit(resource.RLIMIT_AS, (cap, hard))  # a regression fails, not the host
import keras_sb
import tensorflow as tf
from keras_sb.data.decode import center_crop, decode_image
from keras_sb.data.files import decodable
from keras_sb.export import preprocess

hostile, allowed, small = json.loads(sys.argv[1])
serve = tf.function(lambda batch: preprocess(batch, 96))
center_crop(decode_image(tf.io.read_file(small)), 96)
serve(tf.stack([tf.io.read_file(small)] * 4))
decodable([small])
start = peak_mb()
for path in hostile:
    for attempt in (lambda: decode_image(tf.io.read_file(path)),
                    lambda: serve(tf.stack([tf.io.read_file(path)]))):
        try:
            attempt()
            sys.exit(f"{path} was decoded")
        except tf.errors.InvalidArgumentError:
            pass
for path in allowed:
    assert center_crop(decode_image(tf.io.read_file(path)), 96).shape == (96, 96, 3)
assert serve(tf.stack([tf.io.read_file(path) for path in allowed * 2])).shape[0] == 4
found = decodable(hostile + allowed).tolist()
print(json.dumps({"decodable": found, "start_mb": start, "peak_mb": peak_mb()}))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads VmHWM (Linux)")
def test_memory_stays_bounded(hostile, tmp_path):
    """Hostile files refused, the largest allowed PNG and GIF decoded, resized, served four
    at once and checked for training: the process grows by far less than the gigabytes of
    before (about 0.5 GB from 0.7 GB on a 2-core CPU VM)."""
    (tmp_path / "max.png").write_bytes(png(8192, 8192))
    (tmp_path / "max.gif").write_bytes(gif([(8192, 8192)]))
    (tmp_path / "small.png").write_bytes(png(120, 100, colour=True))
    paths = ([str(hostile / name) for name in sorted(HOSTILE)],
             [str(tmp_path / "max.png"), str(tmp_path / "max.gif")], str(tmp_path / "small.png"))
    result = subprocess.run([sys.executable, "-c", MEASURE, json.dumps(paths)],
                            capture_output=True, text=True, timeout=300, env=QUIET)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.splitlines()[-1])
    print(f"peak RSS {report['start_mb']} MB -> {report['peak_mb']} MB")  # pytest -s shows it
    assert report["decodable"] == [len(HOSTILE), len(HOSTILE) + 1]
    assert report["peak_mb"] - report["start_mb"] < GROWTH_LIMIT_MB, report
