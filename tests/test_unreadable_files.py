"""Files that are not images to read: a link to /dev/zero, a FIFO and a 2 GB (sparse) file
among the photos are skipped and named, never opened (a FIFO would wait for a writer,
/dev/zero never ends, and the large file would be read whole)."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_sb.data import DataError, open_images
from keras_sb.data.labelled import labelled_splits
from keras_sb.data.stl10 import RECORD_BYTES
from keras_sb.demo import ImageError, read_image
from keras_sb.safe_io import MAX_FILE_BYTES, read_regular_file

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ("big.jpg", "fifo.png", "zero.jpg")
NOT_REGULAR = ("Skipped 2 image names that are not regular files (FIFOs, devices, broken links "
               "or links to them) in {}: fifo.png, zero.jpg")
TOO_LARGE = "Skipped 1 image files over 256 MiB (the limit, docs/data.md) in {}: big.jpg"


def add_hostile(folder: Path) -> None:
    """``HOSTILE`` in ``folder``: a 2 GB sparse file, a FIFO and a link to /dev/zero."""
    with open(folder / "big.jpg", "wb") as file:
        file.truncate(2 * 2**30)
    os.mkfifo(folder / "fifo.png")
    (folder / "zero.jpg").symlink_to("/dev/zero")


def add_photos(folder: Path, count: int, colour: tuple[int, int, int] = (200, 30, 30)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        Image.new("RGB", (40, 30), colour).save(folder / f"photo{index}.jpg")


@pytest.fixture
def photos(tmp_path) -> Path:
    """A folder of 3 photos and the hostile files."""
    folder = tmp_path / "photos"
    add_photos(folder, 3)
    add_hostile(folder)
    return folder


def names(paths) -> list[str]:
    return sorted(os.path.basename(path) for path in paths)


def test_pretraining_lists_only_the_photos_naming_the_others(photos, caplog):
    with caplog.at_level(logging.WARNING, logger="keras_sb"):
        source = open_images(photos, "unlabelled", validate=False)
    assert names(source.items) == ["photo0.jpg", "photo1.jpg", "photo2.jpg"]
    assert NOT_REGULAR.format(photos) in caplog.text
    assert TOO_LARGE.format(photos) in caplog.text
    assert len(list(source.dataset(16, training=True, seed=0))) == 3
    assert source.skipped_images() == []


def test_labelled_splits_skip_them_too(tmp_path, caplog):
    """As classifier --labelled, finetune, linprobe, knn and evaluate open their images."""
    for name, colour in (("cat", (200, 30, 30)), ("dog", (30, 30, 200))):
        add_photos(tmp_path / name, 4, colour)
    add_hostile(tmp_path / "dog")
    with caplog.at_level(logging.WARNING, logger="keras_sb"):
        train, holdout, test = labelled_splits(str(tmp_path), 0.25, 0, seed=0)
    assert len(train) + len(holdout) == 8 and test is None
    assert names(list(train.items) + list(holdout.items)) == sorted(
        f"photo{index}.jpg" for index in (0, 0, 1, 1, 2, 2, 3, 3))
    assert NOT_REGULAR.format(tmp_path).replace(": fifo", ": dog/fifo").replace(
        ", zero", ", dog/zero") in caplog.text
    assert TOO_LARGE.format(tmp_path).replace(": big", ": dog/big") in caplog.text


def test_the_demo_reads_a_path_within_bounds(photos):
    for name, reason in [("fifo.png", "not a regular file"), ("zero.jpg", "not a regular file"),
                         ("big.jpg", "2,147,483,648 bytes, more than the limit of 268,435,456")]:
        with pytest.raises(ImageError, match=f"^cannot read {name}: {reason}"):
            read_image(str(photos / name), 96)
    assert read_image(str(photos / "photo0.jpg"), 96)[0].shape == (96, 96, 3)


def test_read_regular_file(photos):
    contents = (photos / "photo0.jpg").read_bytes()
    (photos / "link.jpg").symlink_to(photos / "photo0.jpg")
    assert read_regular_file(photos / "link.jpg", len(contents), follow_links=True) == contents
    with pytest.raises(OSError, match="symbolic links"):
        read_regular_file(photos / "link.jpg", len(contents))  # the demo's uploads
    with pytest.raises(OSError, match=f"{len(contents):,} bytes, more than the limit of 100"):
        read_regular_file(photos / "photo0.jpg", 100)
    for name in ("fifo.png", "zero.jpg"):
        with pytest.raises(OSError, match="not a regular file"):
            read_regular_file(photos / name, MAX_FILE_BYTES, follow_links=True)


def test_stl10_text_and_label_files_are_read_within_bounds(tmp_path):
    (tmp_path / "train_X.bin").write_bytes(bytes(2 * RECORD_BYTES))
    (tmp_path / "train_y.bin").write_bytes(bytes([1, 2]))
    with open(tmp_path / "class_names.txt", "wb") as file:
        file.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(DataError, match="cannot read .*class_names.txt: 268,435,457 bytes, "
                                        "more than the limit of 268,435,456"):
        open_images(tmp_path, "train")
    (tmp_path / "class_names.txt").unlink()
    os.mkfifo(tmp_path / "class_names.txt")  # not a regular file: the default names
    assert open_images(tmp_path, "train").class_names == ["class_1", "class_2"]
    np.testing.assert_array_equal(open_images(tmp_path, "train").labels, [0, 1])


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc (Linux)")
def test_pretrain_runs_past_them(photos, tmp_path):
    """The command end to end, under a memory cap: before, the link to /dev/zero took pretrain
    to 21 GB and the FIFO made it wait for ever."""
    add_photos(photos, 13)  # 16 photos: a hold-out and a batch
    code = ("import resource, sys\n"
            "resource.setrlimit(resource.RLIMIT_AS, (12 << 30, resource.RLIM_INFINITY))\n"
            "from keras_sb.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    result = subprocess.run(
        [sys.executable, "-c", code, "pretrain", "--data", str(photos), "--out",
         str(tmp_path / "run"), "--epochs", "1", "--batch-size", "4", "--width", "0.125",
         "--no-progress"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    assert NOT_REGULAR.format(photos) in result.stderr
    assert TOO_LARGE.format(photos) in result.stderr
