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

from keras_sb.data import FileImageSource, open_images
from keras_sb.data.decode import (
    MAX_ASPECT_RATIO,
    MAX_DECODE_WORK,
    MAX_JPEG_SCANS,
    MAX_PIXELS,
    center_crop,
    decode_image,
    decoding_work,
)
from keras_sb.data.files import decodable
from keras_sb.demo import ImageError, read_image
from keras_sb.export import MAX_REQUEST_WORK, preprocess

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


def bombs():
    """benchmarks/scan_bomb.py, which builds the bombs."""
    spec = importlib.util.spec_from_file_location("scan_bomb", SCAN_BOMB)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def scan_bomb(scans: int, side: int) -> bytes:
    """benchmarks/scan_bomb.py's progressive JPEG of ``scans`` scans, declaring side x side."""
    return bombs().scan_bomb(scans, side)


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


@pytest.fixture(scope="module")
def black():
    """A black 8192 x 8192 progressive JPEG (4:4:4) with its encoder's 10 scans: 14
    components coded in all, 17 passes over the pixels with the RGB output."""
    return bombs().black_bomb(10, 8192)


def more_scans(black: bytes, scans: int) -> bytes:
    """``black`` with its last scan (one component) repeated up to ``scans`` scans."""
    return bombs().repeat_last_scan(black, scans)


def noise(width: int = 64, height: int = 48) -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (height, width, 3),
                                                             np.uint8))


WORK_PER_PIXEL = {  # the samples each scan decodes, per pixel, + 3 for the RGB output
    "baseline 4:2:0": ({"subsampling": 2}, 1.5 + 3),
    "baseline 4:4:4": ({"subsampling": 0}, 3 + 3),
    # libjpeg's script: DC of all 3, Y 1-5, Cr, Cb, Y 6-63, Y, DC of all 3, Cb, Cr, Y
    "progressive 4:2:0": ({"progressive": True, "subsampling": 2}, 8 + 3),
    "progressive 4:4:4": ({"progressive": True, "subsampling": 0}, 14 + 3),
}


@pytest.mark.parametrize("kind", sorted(WORK_PER_PIXEL))
def test_decoding_work_counts_each_scan_at_its_components_sampling(kind):
    options, per_pixel = WORK_PER_PIXEL[kind]
    contents = encoded(noise(), "JPEG", quality=90, **options)
    assert int(decoding_work(contents)) == per_pixel * 64 * 48
    assert int(tf.function(decoding_work)(contents)) == per_pixel * 64 * 48  # in graphs
    assert decode_image(contents).shape == (48, 64, 3)


def test_decoding_work_of_other_images():
    assert int(decoding_work(encoded(noise().convert("L"), "JPEG"))) == (1 + 3) * 64 * 48
    for contents in (png(64, 48), gif([(64, 48)]), encoded(noise(), "BMP")):
        assert int(decoding_work(contents)) == (3 + 3) * 64 * 48  # decoded, output


def test_large_photos_are_within_the_work_limit(black):
    assert int(decoding_work(black)) == 17 * 8192 * 8192 < MAX_DECODE_WORK
    for size, options in [((3000, 2000), {"progressive": True}), ((6000, 4000), {})]:
        contents = encoded(Image.new("RGB", size, "teal"), "JPEG", quality=90, **options)
        assert int(decoding_work(contents)) < MAX_DECODE_WORK // 10


def test_the_work_limit_itself_passes(black):
    at_limit = more_scans(black, 13)  # 17 passes and 3 more scans of one component
    assert int(decoding_work(at_limit)) == MAX_DECODE_WORK == 20 * MAX_PIXELS
    with pytest.raises(tf.errors.InvalidArgumentError, match=(
            "^.*image is 8192x8192 pixels and needs 1409286144 samples of decoding work: "
            r"more than the limit of 1,342,177,280 \(pixels x scans, docs/data.md\)")):
        decoding_work(more_scans(black, 14))


def test_a_repeated_frame_header_cannot_lower_the_work():
    """A copy of the frame header (e.g. in an application segment) claiming smaller chroma is
    outweighed by the real one; past four copies, every component counts whole."""
    contents = encoded(noise(), "JPEG", quality=90, progressive=True)  # 4:2:0
    at = contents.index(b"\xff\xc2") + 2
    fake = contents[at:at + 8] + bytes([1, 0x44, 0, 2, 0x11, 1, 3, 0x11, 1])  # luma 4x4
    segment = b"\xff\xef" + struct.pack(">H", 2 + len(fake)) + fake  # APP15
    once, four = (contents[:2] + segment * copies + contents[2:] for copies in (1, 4))
    assert int(decoding_work(once)) == (8 + 3) * 64 * 48
    assert int(decoding_work(four)) == (14 + 3) * 64 * 48
    assert decode_image(once).shape == decode_image(four).shape == (48, 64, 3)


def test_the_black_bomb_is_refused_in_training_the_demo_and_serving(black, tmp_path):
    """Issue 25: 100 scans (within the scan limit) of 8192 x 8192 took 8 s each to decode."""
    bomb = more_scans(black, MAX_JPEG_SCANS)
    assert 700_000 < len(bomb) < 800_000
    paths = [str(tmp_path / "bomb.jpg"), str(tmp_path / "good.jpg")]
    (tmp_path / "bomb.jpg").write_bytes(bomb)
    noise().save(paths[1])
    message = (r"image is 8192x8192 pixels and needs 7180648448 samples of decoding work: "
               r"more than the limit of 1,342,177,280 \(pixels x scans, docs/data.md\)")
    assert decodable(paths).tolist() == [1]  # labelled splits, the pretraining hold-out
    source = FileImageSource(str(tmp_path), np.array(paths), np.full(2, -1), [])
    assert len(list(source.dataset(96, training=True, seed=0))) == 1  # training
    assert source.skipped_images() == paths[:1]
    with pytest.raises(ImageError, match=f"^bomb.jpg is not a readable image: {message}$"):
        read_image(paths[0], 96)  # the demo
    serving = tf.function(lambda batch: preprocess(batch, 96))
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        serving(tf.constant([(tmp_path / "good.jpg").read_bytes(), bomb]))


def test_a_request_is_bounded_by_its_total_work(black):
    at_limit = more_scans(black, 13)  # MAX_DECODE_WORK each
    serving = tf.function(lambda batch: preprocess(batch, 96))
    assert MAX_REQUEST_WORK == 4 * MAX_DECODE_WORK
    with pytest.raises(tf.errors.InvalidArgumentError, match=(
            r"request needs 6710886400 samples of decoding work: more than the limit of "
            r"5,368,709,120 \(docs/serving.md\); send fewer or smaller images per request")):
        serving(tf.constant([at_limit] * 5))
    assert serving(tf.constant([png(64, 48)] * 64)).shape == (64, 96, 96, 3)


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
