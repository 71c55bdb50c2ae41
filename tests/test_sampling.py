"""Tests for keras_sb.data.stratified_subset: exact per-class counts, seeding and errors."""

import numpy as np
import pytest

from keras_sb.data import DataError, FileImageSource, stratified_subset

NAMES = ["cat", "dog", "emu"]


def _source(counts=(20, 12, 30), unlabelled=0):
    """Fake items (never read) with ``counts[c]`` images of class c, then -1 labels, mixed."""
    labels = np.concatenate([np.repeat(np.arange(len(counts)), counts), -np.ones(unlabelled)])
    labels = np.random.default_rng(99).permutation(labels).astype(np.int32)
    items = np.array([f"img{i}.png" for i in range(len(labels))])
    return FileImageSource("/data/fake", items, labels, NAMES[: len(counts)])


def test_exact_count_per_class():
    source = _source(unlabelled=5)
    subset = stratified_subset(source, 12, seed=0)
    assert np.bincount(subset.labels).tolist() == [12, 12, 12]
    assert subset.class_names == NAMES and len(source) == 67
    original = dict(zip(source.items, source.labels, strict=True))
    assert [original[item] for item in subset.items] == subset.labels.tolist()
    assert len(set(subset.items)) == 36


def test_reproducible_and_seed_dependent():
    source = _source()
    first, again = (stratified_subset(source, 5, seed=3) for _ in range(2))
    assert first.items.tolist() == again.items.tolist()
    assert first.items.tolist() != stratified_subset(source, 5, seed=4).items.tolist()


def test_larger_subset_keeps_smaller():
    source = _source()
    small, large = stratified_subset(source, 4, seed=1), stratified_subset(source, 10, seed=1)
    assert set(small.items) <= set(large.items)


def test_too_few_images_names_classes():
    with pytest.raises(DataError) as error:
        stratified_subset(_source(), 15, seed=0)
    message = str(error.value)
    assert "dog (12)" in message and "cat" not in message and "emu" not in message
    assert "/data/fake" in message and "at most 12" in message


def test_empty_class():
    with pytest.raises(DataError, match="cat \\(0\\), dog \\(3\\).*add images"):
        stratified_subset(_source((0, 3, 5)), 4, seed=0)


@pytest.mark.parametrize("per_class", [0, -2])
def test_per_class_at_least_one(per_class):
    with pytest.raises(DataError, match="at least 1"):
        stratified_subset(_source(), per_class, seed=0)


def test_unlabelled_source():
    source = FileImageSource("/data/raw", np.array(["a.png", "b.png"]), np.array([-1, -1]), [])
    with pytest.raises(DataError, match="unlabelled"):
        stratified_subset(source, 1, seed=0)
