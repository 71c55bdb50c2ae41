"""Links in data folders: each real folder read once, each real image counted once, nothing read
from outside --data, and every skipped link named in a warning that says why."""

import logging
import os

import pytest
from PIL import Image

from keras_sb.data import open_images

LOOP = "links to a folder read already or above one"
OUTSIDE = "links to folders outside"
TWICE = "links to an image counted already"


def _images(folder, count, start=0):
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(start, start + count):
        Image.new("RGB", (8, 8), (index, 0, 0)).save(folder / f"{index:03d}.png")


def _open(root, split, caplog):
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="keras_sb"):
        return open_images(root, split)


def _real(source):
    return [os.path.realpath(path) for path in source.items]


def test_a_link_to_its_own_folder_is_not_followed(tmp_path, caplog):
    _images(tmp_path / "data", 40)
    (tmp_path / "data" / "self").symlink_to(".")
    source = _open(tmp_path / "data", "unlabelled", caplog)
    assert len(source) == 40 == len(set(_real(source)))  # not 40 x 41
    assert f"Skipped 1 {LOOP}" in caplog.text and ": self" in caplog.text


def test_links_out_of_the_data_folder_are_not_followed(tmp_path, caplog):
    _images(tmp_path / "elsewhere", 5)
    _images(tmp_path / "data", 3, start=10)
    (tmp_path / "data" / "up").symlink_to("..")
    (tmp_path / "data" / "more").symlink_to(tmp_path / "elsewhere")
    source = _open(tmp_path / "data", "unlabelled", caplog)
    assert sorted(os.path.basename(path) for path in source.items) == ["010.png", "011.png",
                                                                       "012.png"]
    assert f"Skipped 2 {OUTSIDE} {tmp_path / 'data'}" in caplog.text
    assert "more, up" in caplog.text


def test_a_link_to_a_folder_inside_is_followed_once(tmp_path, caplog):
    root = tmp_path / "data"
    _images(root / "unsupervised" / "own", 3)
    _images(root / "extra", 4, start=10)  # in --data, but not in unsupervised/
    for name in ("extra_a", "extra_b"):
        (root / "unsupervised" / name).symlink_to("../extra")
    (root / "unsupervised" / "own" / "again").symlink_to("../own")
    source = _open(root, "unlabelled", caplog)
    assert len(source) == 7 == len(set(_real(source)))
    assert sum("extra_a" in path for path in source.items) == 4  # read through the first link
    assert f"Skipped 2 {LOOP}" in caplog.text
    assert "extra_b" in caplog.text and os.path.join("own", "again") in caplog.text


def test_a_link_to_a_sibling_class_does_not_double_its_images(tmp_path, caplog):
    _images(tmp_path / "cat", 2)
    _images(tmp_path / "dog", 3, start=10)
    (tmp_path / "cat" / "dogs_too").symlink_to("../dog")
    (tmp_path / "kitten").symlink_to("cat")  # a class folder that is a second way in
    train = _open(tmp_path, "train", caplog)
    assert train.class_names == ["cat", "dog", "kitten"]
    assert train.labels.tolist() == [0, 0, 1, 1, 1]  # the dogs stay dogs, once
    assert f"Skipped 2 {LOOP}" in caplog.text
    assert os.path.join("cat", "dogs_too") in caplog.text and "kitten" in caplog.text
    unlabelled = _open(tmp_path, "unlabelled", caplog)
    assert len(unlabelled) == 5 == len(set(_real(unlabelled)))


def test_file_links_count_once_per_real_file(tmp_path, caplog):
    _images(tmp_path / "library", 4)  # outside --data: file links may point anywhere
    root = tmp_path / "data" / "supervised"
    for split, classes in {"train": {"a": [0, 1], "b": [2]}, "val": {"a": [3], "b": [2]}}.items():
        for name, indices in classes.items():
            (root / split / name).mkdir(parents=True)
            for index in indices:
                (root / split / name / f"{index:03d}.png").symlink_to(
                    tmp_path / "library" / f"{index:03d}.png")
    (root / "train" / "b" / "same_again.png").symlink_to("../a/000.png")
    train = _open(tmp_path / "data", "train", caplog)
    assert train.labels.tolist() == [0, 0, 1] and len(set(_real(train))) == 3
    assert f"Skipped 1 {TWICE}" in caplog.text and "same_again.png" in caplog.text
    val = _open(tmp_path / "data", "val", caplog)  # another split: 002.png counts there too
    assert val.labels.tolist() == [0, 1] and "Skipped" not in caplog.text


def test_a_held_out_split_shares_no_image(tmp_path, caplog):
    root = tmp_path / "data"
    _images(root / "a", 20)
    (root / "a" / "loop").symlink_to("..")
    (root / "b").mkdir()
    for index in range(10):  # links to images that are counted already
        (root / "b" / f"{index:03d}.png").symlink_to(f"../a/{index:03d}.png")
    source = _open(root, "unlabelled", caplog)
    assert len(source) == 20
    rest, held = source.split(0.25, seed=0)
    assert (len(rest), len(held)) == (15, 5)
    assert not set(_real(rest)) & set(_real(held))


@pytest.mark.parametrize("layout", ["plain", "ssl"])
def test_a_class_folder_linked_from_outside_is_skipped(tmp_path, caplog, layout):
    _images(tmp_path / "outside", 2)
    root = tmp_path / "data"
    classes = root / "supervised" / "train" if layout == "ssl" else root
    _images(classes / "inside", 1)
    (classes / "linked").symlink_to(tmp_path / "outside")
    train = _open(root, "train", caplog)
    assert train.class_names == ["inside", "linked"] and train.labels.tolist() == [0]
    assert f"Skipped 1 {OUTSIDE} {root}" in caplog.text and ": linked" in caplog.text
