"""Tests for keras_sb.data.stratified_subset and stratified_split: exact per-class counts,
seeding and errors."""

import numpy as np
import pytest

from keras_sb.data import DataError, FileImageSource, stratified_split, stratified_subset

NAMES = ["cat", "dog", "emu", "fox", "gnu"]


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
    assert subset.class_names == NAMES[:3] and len(source) == 67
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


# stratified_split


@pytest.mark.parametrize(
    ("counts", "fraction", "held"),
    [
        ((20, 12, 30), 0.25, [5, 3, 8]),  # round(7.5) == 8
        ((20, 12, 30, 2, 3), 0.1, [2, 1, 3, 1, 1]),  # round(0.2) == 0 -> at least 1
        ((20, 12, 30, 2, 3), 0.9, [18, 11, 27, 1, 2]),  # round(1.8) == 2 -> at most n - 1
        ((10, 10), 0.5, [5, 5]),
    ],
)
def test_split_holds_out_a_rounded_clamped_share_of_every_class(counts, fraction, held):
    source = _source(counts, unlabelled=4)
    rest, held_out = stratified_split(source, fraction, seed=0)
    assert np.bincount(held_out.labels, minlength=len(counts)).tolist() == held
    assert held == [min(n - 1, max(1, round(fraction * n))) for n in counts]
    rest_counts = np.bincount(rest.labels[rest.labels >= 0], minlength=len(counts))
    assert rest_counts.tolist() == [n - h for n, h in zip(counts, held, strict=True)]
    assert (rest.labels == -1).sum() == 4 and (held_out.labels == -1).sum() == 0
    assert rest.class_names == held_out.class_names == source.class_names


def test_split_parts_are_disjoint_and_make_up_the_source():
    source = _source(unlabelled=3)
    rest, held_out = stratified_split(source, 0.3, seed=5)
    assert not set(rest.items) & set(held_out.items)
    assert sorted([*rest.items, *held_out.items]) == sorted(source.items)
    assert len(rest) + len(held_out) == len(source)
    original = dict(zip(source.items, source.labels, strict=True))
    for part in (rest, held_out):  # labels travel with their images
        assert [original[item] for item in part.items] == part.labels.tolist()


def test_split_is_reproducible_and_seed_dependent():
    source = _source()
    first, again = (stratified_split(source, 0.2, seed=3) for _ in range(2))
    assert first[1].items.tolist() == again[1].items.tolist()
    assert first[0].items.tolist() == again[0].items.tolist()
    other = stratified_split(source, 0.2, seed=4)[1]
    assert sorted(other.items) != sorted(first[1].items)


def test_split_refuses_a_class_with_a_single_image():
    with pytest.raises(DataError) as error:
        stratified_split(_source((5, 1, 4, 1)), 0.2, seed=0)
    message = str(error.value)
    assert "dog" in message and "fox" in message and "/data/fake" in message
    assert "cat" not in message and "emu" not in message


def test_split_refuses_an_empty_class():
    with pytest.raises(DataError, match="cat"):
        stratified_split(_source((0, 3, 5)), 0.2, seed=0)


def test_split_refuses_unlabelled_source():
    source = FileImageSource("/data/raw", np.array(["a.png", "b.png"]), np.array([-1, -1]), [])
    with pytest.raises(DataError, match="unlabelled"):
        stratified_split(source, 0.5, seed=0)


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_split_fraction_must_lie_between_0_and_1(fraction):
    with pytest.raises(DataError, match="between 0 and 1"):
        stratified_split(_source(), fraction, seed=0)
