"""Tests for keras_sb.data: folder layouts, decoding, bad files, STL-10 and the pipelines."""

import io
import json
import logging
import os
import struct
import subprocess
import sys
import zlib

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_sb.data import (
    SAMPLE_DATA,
    DataError,
    FileImageSource,
    ImageSource,
    Stl10Source,
    as_float,
    has_split,
    open_images,
)

RED = (255, 0, 0)


def _save(path, colour=RED, size=(96, 96), mode="RGB", **kwargs):
    """Write a one-colour image (mode conversion by Pillow), creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).convert(mode).save(path, **kwargs)
    return path


def _noise(path, size=(96, 96), seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), np.uint8)
    Image.fromarray(pixels).save(path)
    return pixels


def _images(source, **kwargs):
    return [(as_float(image).numpy(), int(label)) for image, label in source.dataset(**kwargs)]


def _ssl_layout(root):
    _save(root / "unsupervised" / "a.png")
    _save(root / "unsupervised" / "deep" / "er" / "b.jpg")
    for split, classes in {"train": ["cat", "dog"], "val": ["cat", "dog", "emu"]}.items():
        for name in classes:
            _save(root / "supervised" / split / name / f"{name}1.png")
            _save(root / "supervised" / split / name / f"{name}2.png")
    return root


def test_sample_data_loads():
    assert len(open_images(SAMPLE_DATA, "unlabelled")) == 299
    for split in ("train", "val"):
        source = open_images(SAMPLE_DATA, split)
        assert len(source) == 100 and len(source.class_names) == 10
        assert np.bincount(source.labels).tolist() == [10] * 10


def test_ssl_layout_splits(tmp_path):
    root = _ssl_layout(tmp_path)
    unlabelled = open_images(root, "unlabelled")
    assert len(unlabelled) == 2 and unlabelled.class_names == []
    assert unlabelled.labels.tolist() == [-1, -1]
    assert unlabelled.description == f"2 images in {root / 'unsupervised'}"
    train, val = open_images(root, "train"), open_images(root, "val")
    assert train.class_names == val.class_names == ["cat", "dog", "emu"]
    assert train.labels.tolist() == [0, 0, 1, 1]
    assert val.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert [label for _, label in _images(val)] == [0, 0, 1, 1, 2, 2]


def test_plain_folder_layout(tmp_path):
    _save(tmp_path / "loose.png")
    _save(tmp_path / "birds" / "b.png")
    _save(tmp_path / "fish" / "more" / "f.gif")
    assert len(open_images(tmp_path, "unlabelled")) == 3
    train = open_images(tmp_path, "train")
    assert train.class_names == ["birds", "fish"] and train.labels.tolist() == [0, 1]
    with pytest.raises(DataError, match="no 'val' split"):
        open_images(tmp_path, "val")


def test_has_split_plain_folder(tmp_path):
    _save(tmp_path / "loose.png")
    _save(tmp_path / "birds" / "b.png")
    assert has_split(tmp_path, "train") and has_split(tmp_path, "unlabelled")
    assert not has_split(tmp_path, "val")


def test_has_split_ssl_layout(tmp_path):
    root = _ssl_layout(tmp_path)
    assert all(has_split(root, split) for split in ("unlabelled", "train", "val"))
    for image in (root / "supervised" / "val").rglob("*.png"):
        image.unlink()
    assert has_split(root, "val")  # laid out (its images are checked when opened)
    for folder in sorted((root / "supervised" / "val").iterdir()):
        folder.rmdir()
    (root / "supervised" / "val").rmdir()
    assert not has_split(root, "val")
    assert has_split(root, "train") and has_split(root, "unlabelled")


def test_has_split_ssl_layout_without_unsupervised_images(tmp_path):
    _save(tmp_path / "supervised" / "train" / "cat" / "a.png")
    assert has_split(tmp_path, "train")
    assert not has_split(tmp_path, "val") and not has_split(tmp_path, "unlabelled")


def test_has_split_sample_data():
    assert all(has_split(SAMPLE_DATA, split) for split in ("unlabelled", "train", "val"))


def test_plain_folder_without_classes_has_no_train_split(tmp_path):
    _save(tmp_path / "a.png")
    with pytest.raises(DataError, match="no class subfolders"):
        open_images(tmp_path, "train")


def test_elements_shape_dtype_range(tmp_path):
    _noise(tmp_path / "a.png", size=(130, 100))
    source = open_images(tmp_path, "unlabelled")
    for training in (False, True):
        [(image, label)] = list(source.dataset(training=training, seed=0))
        assert image.shape == (96, 96, 3) and image.dtype == tf.uint8 and label == -1
        assert 0 < np.ptp(image.numpy()) <= 255  # resized noise, not a constant image
    assert source.dataset(image_size=64).element_spec[0].shape == (64, 64, 3)


@pytest.mark.parametrize(
    ("name", "mode", "kwargs", "expected"),
    [
        ("rgb.jpg", "RGB", {}, RED),
        ("cmyk.jpg", "CMYK", {}, RED),
        ("grey.png", "L", {}, (76, 76, 76)),
        ("palette.png", "P", {}, RED),
        ("alpha.png", "RGBA", {}, RED),
        ("rgb.bmp", "RGB", {}, RED),
        ("palette.bmp", "P", {}, RED),
        ("grey.bmp", "L", {}, (76, 76, 76)),
        ("still.gif", "RGB", {}, RED),
        ("anim.gif", "RGB", {"save_all": True, "append_images": [Image.new("RGB", (96, 96))]}, RED),
        ("UPPER.JPEG", "RGB", {}, RED),
    ],
)
def test_image_modes_decode_to_rgb(tmp_path, name, mode, kwargs, expected):
    _save(tmp_path / name, mode=mode, **kwargs)
    [(image, _)] = _images(open_images(tmp_path, "unlabelled"))
    assert image.shape == (96, 96, 3)
    np.testing.assert_allclose(
        image[40:56, 40:56], np.broadcast_to(expected, (16, 16, 3)) / 255, atol=0.04
    )


def test_one_bit_bmp_keeps_its_pattern(tmp_path):
    pattern = np.zeros((96, 96), bool)
    pattern[10:30, 5:90] = True  # not symmetric, rows not a multiple of 32 bits wide
    Image.fromarray(pattern).save(tmp_path / "bits.bmp")
    [(image, _)] = _images(open_images(tmp_path, "unlabelled"))
    np.testing.assert_array_equal(image, np.repeat(pattern[..., None], 3, -1).astype(np.float32))


def test_non_square_image_is_resized_then_centre_cropped(tmp_path):
    pixels = np.zeros((80, 120, 3), np.uint8)
    pixels[:, :60] = RED  # left half red, right half blue
    pixels[:, 60:] = (0, 0, 255)
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    [(image, _)] = _images(open_images(tmp_path, "unlabelled"))
    # 120x80 -> 144x96, crop columns 24..120: red up to column 72 - 24 = 48.
    assert image.shape == (96, 96, 3)
    np.testing.assert_allclose(image[:, :44], np.broadcast_to([1, 0, 0], (96, 44, 3)), atol=1e-6)
    np.testing.assert_allclose(image[:, 52:], np.broadcast_to([0, 0, 1], (96, 44, 3)), atol=1e-6)


def test_native_size_is_not_resampled(tmp_path):
    pixels = _noise(tmp_path / "a.png")
    expected = pixels / 255
    source = open_images(tmp_path, "unlabelled")
    [(image, _)] = _images(source)
    np.testing.assert_allclose(image, expected, atol=1e-6)
    flips = set()
    for seed in range(6):
        [(image, _)] = _images(source, training=True, seed=seed)
        flipped = np.allclose(image, expected[:, ::-1], atol=1e-6)
        assert flipped or np.allclose(image, expected, atol=1e-6)
        flips.add(flipped)
    assert flips == {False, True}


def test_training_crops_random_and_seeded_eval_deterministic(tmp_path):
    _noise(tmp_path / "big.png", size=(160, 128))
    source = open_images(tmp_path, "unlabelled")
    first, second = _images(source), _images(source)
    np.testing.assert_array_equal(first[0][0], second[0][0])
    training = source.dataset(training=True, seed=7)
    epochs = [[image.numpy() for image, _ in training] for _ in range(3)]
    assert not np.array_equal(epochs[0][0], epochs[1][0])
    again = [image.numpy() for image, _ in source.dataset(training=True, seed=7)]
    np.testing.assert_array_equal(again[0], epochs[0][0])


def test_training_reshuffles_each_epoch(tmp_path):
    for index in range(12):
        _save(tmp_path / "things" / f"{index:02d}.png", colour=(index * 20, 0, 0))
    source = open_images(tmp_path, "train")
    eval_order = [int(image[0, 0, 0]) for image, _ in source.dataset()]
    assert eval_order == sorted(eval_order)
    training = source.dataset(training=True, seed=0)
    orders = [[int(image[0, 0, 0]) for image, _ in training] for _ in range(2)]
    assert sorted(orders[0]) == sorted(orders[1]) == eval_order
    assert orders[0] != orders[1]


def test_bad_files_are_skipped_with_warning(tmp_path, caplog):
    _noise(tmp_path / "full.jpg")
    contents = (tmp_path / "full.jpg").read_bytes()
    data = tmp_path / "data"
    _save(data / "good.png")
    _save(data / "sub" / "good.jpg")
    (data / "notes.txt").write_text("hello")
    (data / "ignored.raw").write_bytes(b"\0" * 100)
    (data / ".DS_Store").write_bytes(b"\0")
    (data / "corrupt.jpg").write_bytes(np.random.default_rng(0).bytes(2000))
    (data / "truncated.jpg").write_bytes(contents[: len(contents) // 2])
    with caplog.at_level(logging.WARNING, logger="keras_sb"):
        source = open_images(data, "unlabelled")
    assert len(source) == 2 and len(_images(source, training=True)) == 2
    text = caplog.text
    assert "Skipped 2 files that are not" in text and "notes.txt" in text and "ignored.raw" in text
    assert "Skipped 2 image files that could not be decoded" in text
    assert "corrupt.jpg" in text and "truncated.jpg" in text and "DS_Store" not in text


BAD_IMAGES = ("huge.png", "random.jpg", "truncated.jpg")


def _write_bad_images(folder):
    """``BAD_IMAGES``: a PNG whose header declares 20000 x 20000 pixels (over the limit),
    random bytes named .jpg and a truncated JPEG."""
    folder.mkdir(parents=True, exist_ok=True)
    header = b"IHDR" + struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    (folder / "huge.png").write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + header
                                      + struct.pack(">I", zlib.crc32(header)))
    (folder / "random.jpg").write_bytes(np.random.default_rng(1).bytes(2000))
    jpeg = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (96, 96, 3), np.uint8)).save(
        jpeg, "JPEG")
    (folder / "truncated.jpg").write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])


def _numbered_images(folder, count):
    """``count`` 8x8 PNGs whose red level is their number, and the bad images: listed only."""
    for index in range(count):
        _save(folder / f"{index:03d}.png", colour=(index, 0, 0), size=(8, 8))
    _write_bad_images(folder)
    return open_images(folder, "unlabelled", validate=False)


def _bad_count(source):
    return sum(path.rsplit("/", 1)[-1] in BAD_IMAGES for path in source.items)


def _numbers(dataset):
    return sorted(int(image[0, 0, 0]) for image, _ in dataset)


def test_training_skips_and_counts_bad_images(tmp_path):
    source = _numbered_images(tmp_path, 70)  # more than a CHUNK
    assert len(source) == 73 and source.skipped_images() == []
    dataset = source.dataset(image_size=8, training=True, seed=0)
    bad = sorted(str(tmp_path / name) for name in BAD_IMAGES)
    for _ in (1, 2, 3):  # each bad image recorded once, however often it is met
        assert _numbers(dataset) == list(range(70))
        assert sorted(source.skipped_images()) == bad
    batches = source.dataset(image_size=8, training=True, seed=1).batch(32).repeat()
    numbers = [int(n) for images, _ in batches.take(6) for n in images[:, 0, 0, 0]]
    assert sorted(numbers) == sorted(list(range(70)) * 2)  # 32 + 32 + 6 a pass
    assert sorted(source.skipped_images()) == bad


def test_a_pass_of_bad_images_only_counts_them_all(tmp_path):
    _write_bad_images(tmp_path)
    paths = np.array([str(tmp_path / name) for name in BAD_IMAGES])
    source = FileImageSource(str(tmp_path), paths, np.full(len(paths), -1), [])
    assert list(source.dataset(training=True, seed=0)) == []
    assert sorted(source.skipped_images()) == sorted(paths.tolist())


def test_only_training_pipelines_skip_bad_images(tmp_path):
    source = _numbered_images(tmp_path, 4)
    with pytest.raises(tf.errors.InvalidArgumentError):
        list(source.dataset(image_size=8))
    train, held_out = source.split(0.5, seed=0)
    images = list(train.dataset(image_size=8, training=True, seed=0))
    assert len(images) == len(train) - _bad_count(train)
    assert len(train.skipped_images()) == _bad_count(train)
    assert source.skipped_images() == held_out.skipped_images() == []


def test_decodable_leaves_out_bad_images_naming_the_folder(tmp_path, caplog):
    source = _numbered_images(tmp_path / "data", 5)
    with caplog.at_level(logging.WARNING, logger="keras_sb"):
        checked = source.decodable()
    assert _numbers(checked.dataset(image_size=8)) == list(range(5))
    assert (f"Skipped 3 image files that could not be decoded or are over the size limits "
            f"(docs/data.md) in {tmp_path / 'data'}: {', '.join(BAD_IMAGES)}") in caplog.text
    bad = [index for index, path in enumerate(source.items) if path.endswith(BAD_IMAGES)]
    with pytest.raises(DataError, match="none of the 3 image files in .*data could be decoded"):
        source.subset(bad).decodable()


def test_skipped_images_are_counted_under_fit(tmp_path):
    source = _numbered_images(tmp_path, 8)
    dataset = source.dataset(image_size=8, training=True, seed=0).batch(4).map(
        lambda images, labels: (as_float(images), tf.zeros([tf.shape(images)[0], 1])))
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(dataset, epochs=2, verbose=0)  # one pass an epoch
    assert len(source.skipped_images()) == 3
    model.fit(dataset.repeat(), epochs=2, steps_per_epoch=2, verbose=0)  # a pass an epoch
    assert len(source.skipped_images()) == 3


MIRRORED = """
import json, sys
import keras_sb
import keras
import tensorflow as tf
from keras_sb.data import as_float, open_images

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
strategy = tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
source = open_images(sys.argv[1], "unlabelled", validate=False)
dataset = source.dataset(image_size=8, training=True, seed=0).batch(4).map(
    lambda images, labels: (as_float(images), tf.zeros([tf.shape(images)[0], 1])))
with strategy.scope():
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(1)])
    model.compile("sgd", "mse")
model.fit(dataset, epochs=2, verbose=0)
counts = [len(source.skipped_images())]
repeated = strategy.distribute_datasets_from_function(lambda _: dataset.repeat())
model.fit(repeated, epochs=2, steps_per_epoch=2, verbose=0)
counts.append(len(source.skipped_images()))
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "counts": counts}))
"""


@pytest.mark.slow
def test_skipped_images_are_counted_under_mirrored_strategy(tmp_path):
    _numbered_images(tmp_path, 8)
    result = subprocess.run([sys.executable, "-c", MIRRORED, str(tmp_path)], capture_output=True,
                            text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.splitlines()[-1])
    # Each bad image once, however many passes the distributed iterators read ahead.
    assert report["replicas"] == 2 and report["counts"] == [3, 3]


def test_file_names_that_are_not_utf8_are_skipped_and_named(tmp_path, caplog):
    """TensorFlow cannot hold such a name: it is left out with a warning, not the run."""
    _save(tmp_path / "a.png")
    with open(os.path.join(os.fsencode(tmp_path), b"bad\xffbytes.jpg"), "wb") as f:
        f.write((tmp_path / "a.png").read_bytes())
    with caplog.at_level(logging.WARNING, logger="keras_sb"):
        source = open_images(tmp_path, "unlabelled")
    assert len(source) == 1
    assert "Skipped 1 files or folders whose names are not UTF-8" in caplog.text
    assert "bad\\xffbytes.jpg" in caplog.text
    assert len(list(source.dataset(image_size=8, training=True, seed=0))) == 1


def test_warning_names_five_files_then_counts(tmp_path, caplog):
    _save(tmp_path / "a.png")
    for index in range(8):
        (tmp_path / f"note{index}.txt").write_text("x")
    with caplog.at_level(logging.WARNING, logger="keras_sb"):
        open_images(tmp_path, "unlabelled")
    assert "Skipped 8 files" in caplog.text and "note4.txt and 3 more" in caplog.text
    assert "note5.txt" not in caplog.text


def test_missing_and_empty_folders_raise(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        open_images(tmp_path / "nowhere", "unlabelled")
    with pytest.raises(DataError, match="split must be one of"):
        open_images(tmp_path, "test")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no \.jpg.* images found in .*empty"):
        open_images(tmp_path / "empty", "unlabelled")
    (tmp_path / "broken" / "x.png").parent.mkdir()
    (tmp_path / "broken" / "x.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="none of the 1 image files"):
        open_images(tmp_path / "broken", "unlabelled")


def test_ssl_layout_missing_split_raises(tmp_path):
    _save(tmp_path / "unsupervised" / "a.png")
    with pytest.raises(DataError, match=r"supervised/train not found.*<class>"):
        open_images(tmp_path, "train")
    (tmp_path / "supervised" / "val").mkdir(parents=True)
    with pytest.raises(DataError, match=r"supervised/val has no class subfolders"):
        open_images(tmp_path, "val")
    (tmp_path / "unsupervised" / "a.png").unlink()
    with pytest.raises(DataError, match="unsupervised"):
        open_images(tmp_path, "unlabelled")


def _stl_image(index):
    """A 96x96 RGB image with a different, asymmetric pattern per index."""
    rows, cols = np.mgrid[0:96, 0:96]
    return np.stack([rows * 2, cols * 2 + index, np.full_like(rows, 40 * index)], -1)


def _write_stl(path, images):
    """STL-10 layout: per image, byte c*96*96 + col*96 + row holds channel c of (row, col)."""
    data = np.zeros((len(images), 3, 96, 96), np.uint8)
    rows, cols = np.mgrid[0:96, 0:96]
    for n, image in enumerate(images):
        for channel in range(3):
            data[n, channel, cols, rows] = image[rows, cols, channel]
    data.tofile(path)


def test_stl10_layout(tmp_path):
    images = [_stl_image(i) for i in range(4)]
    _write_stl(tmp_path / "train_X.bin", images[:3])
    np.array([1, 3, 2], np.uint8).tofile(tmp_path / "train_y.bin")
    _write_stl(tmp_path / "test_X.bin", images[3:])
    np.array([2], np.uint8).tofile(tmp_path / "test_y.bin")
    _write_stl(tmp_path / "unlabeled_X.bin", images[1:])

    train = open_images(tmp_path, "train")
    assert isinstance(train, Stl10Source) and len(train) == 3
    assert train.class_names == ["class_1", "class_2", "class_3"]
    assert train.description == f"3 images of 3 classes in {tmp_path / 'train_X.bin'}"
    read = _images(train)
    for (image, label), expected, true_label in zip(read, images[:3], [0, 2, 1], strict=True):
        np.testing.assert_allclose(image, expected / 255, atol=1e-6)
        assert label == true_label
    [(image, label)] = _images(open_images(tmp_path, "val"))
    np.testing.assert_allclose(image, images[3] / 255, atol=1e-6)
    assert label == 1
    unlabelled = open_images(tmp_path, "unlabelled")
    assert unlabelled.labels.tolist() == [-1] * 3 and unlabelled.class_names == []
    assert len(_images(unlabelled, training=True, seed=1)) == 3
    assert unlabelled.decodable() is unlabelled and unlabelled.skipped_images() == []

    chosen = train.subset([2, 0])
    assert chosen.labels.tolist() == [0, 1]
    np.testing.assert_allclose(_images(chosen)[1][0], images[2] / 255, atol=1e-6)
    assert len(_images(chosen, training=True, image_size=64)) == 2

    (tmp_path / "class_names.txt").write_text("airplane\nbird\ncar\n")
    assert open_images(tmp_path, "val").class_names == ["airplane", "bird", "car"]


def test_stl10_bad_files_raise(tmp_path):
    (tmp_path / "train_X.bin").write_bytes(b"\0" * 27648 * 2)
    np.array([1], np.uint8).tofile(tmp_path / "train_y.bin")
    with pytest.raises(DataError, match="1 labels but its images file has 2"):
        open_images(tmp_path, "train")
    with pytest.raises(DataError, match="test_X.bin not found"):
        open_images(tmp_path, "val")
    (tmp_path / "unlabeled_X.bin").write_bytes(b"\0" * 1000)
    with pytest.raises(DataError, match="not a positive multiple of 27648"):
        open_images(tmp_path, "unlabelled")


def _fake_source(count):
    paths = np.array([f"img{i}.png" for i in range(count)])
    return FileImageSource("fake", paths, np.arange(count) % 3, ["a", "b", "c"])


def test_split_sizes_and_seeding():
    source = _fake_source(10)
    rest, held = source.split(0.2, seed=1)
    assert (len(rest), len(held)) == (8, 2)
    assert sorted(rest.items.tolist() + held.items.tolist()) == sorted(source.items.tolist())
    again = source.split(0.2, seed=1)[1]
    assert again.items.tolist() == held.items.tolist()
    other_seeds = {tuple(source.split(0.2, seed=s)[1].items) for s in range(2, 8)}
    assert len(other_seeds) > 1
    assert len(source.split(0.01, seed=0)[1]) == 1
    assert [len(part) for part in _fake_source(2).split(0.9, seed=0)] == [1, 1]
    with pytest.raises(DataError, match="at least 2"):
        _fake_source(1).split(0.5, seed=0)


def test_subset():
    source = _fake_source(6)
    chosen = source.subset([4, 1])
    assert isinstance(chosen, FileImageSource) and isinstance(chosen, ImageSource)
    assert chosen.items.tolist() == ["img1.png", "img4.png"]
    assert chosen.labels.tolist() == [1, 1] and chosen.class_names == source.class_names
    masked = source.subset(source.labels == 0)
    assert masked.items.tolist() == ["img0.png", "img3.png"] and len(source) == 6
