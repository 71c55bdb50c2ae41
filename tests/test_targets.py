"""Quantisation of L and ab, 12x12 targets and decoding of predicted distributions."""

import numpy as np
import pytest
import tensorflow as tf

import keras_sb  # noqa: F401
from keras_sb.color import encode_channels, rgb_to_lab
from keras_sb.targets import (
    TargetCodec,
    decode_distribution,
    gamut_ab_cells,
    parse_ab_bins,
    rebalancing_weights,
    uniform_bins,
)


def test_uniform_bins_clip_out_of_range_values():
    values = tf.constant([-0.5, 0.0, 0.0999, 0.1, 0.5, 0.999, 1.0, 3.0])
    assert uniform_bins(values, 10).numpy().tolist() == [0, 0, 0, 1, 5, 9, 9, 9]


def test_gamut_cells_cover_the_srgb_gamut():
    cells = gamut_ab_cells()
    assert len(cells) == 261  # nearest-centre cells of step 10 hit by 8-bit sRGB colours
    assert (cells % 10 == 0).all()
    levels = np.linspace(0, 1, 18, dtype=np.float32)
    rgb = np.stack(np.meshgrid(levels, levels, levels), -1).reshape(-1, 3)
    ab = rgb_to_lab(rgb).numpy()[:, 1:]
    nearest = np.round(ab / 10) * 10
    present = {tuple(c) for c in cells}
    assert all(tuple(c) in present for c in nearest)
    # grey is in gamut, a saturated far corner is not
    assert (0.0, 0.0) in present and (100.0, -110.0) not in present


@pytest.mark.parametrize("spec", ["grid:10", "grid:25", "gamut"])
def test_ab_classes_in_range_for_any_input(spec):
    codec = TargetCodec("lab", 100, spec)
    channels = tf.random.uniform([1000, 3], -0.5, 1.5)  # includes out-of-range values
    classes = codec.quantize_ab(channels).numpy()
    assert classes.min() >= 0 and classes.max() < codec.num_ab_classes


def test_gamut_quantisation_of_known_colours():
    codec = TargetCodec("lab", 100, "gamut")
    centres = codec.ab_centers()
    grey = tf.constant([[0.5, 87 / 186, 108 / 203]])  # a = b = 0
    np.testing.assert_allclose(centres[codec.quantize_ab(grey).numpy()[0]],
                               [87 / 186, 108 / 203], atol=1e-6)
    red = encode_channels(tf.constant([[1.0, 0.0, 0.0]]), "lab")  # a=80.1, b=67.2 -> (80, 70)
    cell = gamut_ab_cells()[codec.quantize_ab(red).numpy()[0]]
    assert cell.tolist() == [80.0, 70.0]


def test_grid_and_l_bins_match_the_seed_layout():
    codec = TargetCodec("rgb", 100, "grid:10")
    channels = tf.constant([[0.255, 0.31, 0.97]])
    assert codec.quantize_l(channels).numpy().tolist() == [25]
    assert codec.quantize_ab(channels).numpy().tolist() == [3 * 10 + 9]


def test_encode_gives_inputs_and_the_12x12_grid_to_quantise():
    codec = TargetCodec("lab", 50, "gamut")
    images = tf.random.uniform([3, 96, 96, 3])
    channels, grid = codec.encode(images)
    assert channels.shape == (3, 96, 96, 3) and channels.dtype == tf.float32
    assert grid.shape == (3, 12, 12, 3) and grid.dtype == tf.float32
    assert grid.numpy().min() >= 0 and grid.numpy().max() <= 1
    expected = encode_channels(tf.image.resize(images, [12, 12], antialias=True), "lab")
    np.testing.assert_allclose(grid, expected, atol=1e-5)
    for part, classes in (("L", 50), ("ab", 261)):
        quantised = codec.quantize(grid, part)
        assert quantised.shape == (3, 12, 12) and quantised.dtype == tf.int32
        assert quantised.numpy().min() >= 0 and quantised.numpy().max() < classes
        assert codec.num_classes(part) == classes
    np.testing.assert_array_equal(codec.quantize(grid, "L"), codec.quantize_l(grid))
    np.testing.assert_array_equal(codec.quantize(grid, "ab"), codec.quantize_ab(grid))


def test_centers_are_those_of_each_part():
    codec = TargetCodec("lab", 20, "grid:4")
    np.testing.assert_array_equal(codec.centers("L"), codec.l_centers())
    np.testing.assert_array_equal(codec.centers("ab"), codec.ab_centers())
    assert codec.centers("L").shape == (20, 1) and codec.centers("ab").shape == (16, 2)
    np.testing.assert_allclose(codec.centers("ab")[[0, 1, 4]],
                               [[0.125, 0.125], [0.125, 0.375], [0.375, 0.125]])


@pytest.mark.parametrize("color_space", ["lab", "rgb"])
def test_decode_rgb_inverts_encode(color_space):
    rgb = np.random.default_rng(2).random((4, 8, 8, 3), dtype=np.float32)
    channels, _ = TargetCodec(color_space).encode(rgb)
    np.testing.assert_allclose(TargetCodec(color_space).decode_rgb(channels), rgb, atol=1e-4)


def test_targets_are_anti_aliased():
    """A fine black/white checkerboard downsamples to mid-grey, not to aliasing stripes."""
    board = (np.indices((96, 96)).sum(0) % 2).astype(np.float32)
    image = np.repeat(board[..., None], 3, axis=-1)
    codec = TargetCodec("lab", 100, "grid:10")
    _, grid = codec.encode(image)
    lightness = codec.quantize(grid, "L").numpy()
    assert lightness.min() == lightness.max()
    assert 50 <= lightness[0, 0] <= 80  # mid-grey in L


def test_encode_works_inside_tf_data():
    codec = TargetCodec("lab_distort", 100, "grid:10")
    dataset = tf.data.Dataset.from_tensor_slices(tf.random.uniform([4, 96, 96, 3])).map(
        codec.encode
    )
    channels, grid = next(iter(dataset.batch(4)))
    assert channels.shape == (4, 96, 96, 3) and grid.shape == (4, 12, 12, 3)


def test_invalid_settings_are_explained():
    with pytest.raises(ValueError, match="--ab-bins"):
        parse_ab_bins("grid")
    with pytest.raises(ValueError, match="--color-space lab"):
        TargetCodec("rgb", 100, "gamut")
    with pytest.raises(ValueError, match="--l-bins"):
        TargetCodec("lab", 1, "grid:10")


def test_decoding_modes():
    centres = np.array([[0.0], [0.5], [1.0]], np.float32)
    logits = np.log(np.array([[0.2, 0.3, 0.5]], np.float32))
    argmax = decode_distribution(logits, centres, "argmax").numpy()
    mean = decode_distribution(logits, centres, "mean").numpy()
    annealed = decode_distribution(logits, centres, "annealed", temperature=0.38).numpy()
    cold = decode_distribution(logits, centres, "annealed", temperature=0.01).numpy()
    np.testing.assert_allclose(argmax, [[1.0]])
    np.testing.assert_allclose(mean, [[0.3 * 0.5 + 0.5]], atol=1e-6)
    assert mean[0, 0] < annealed[0, 0] < argmax[0, 0]
    np.testing.assert_allclose(cold, argmax, atol=1e-3)
    with pytest.raises(ValueError):
        decode_distribution(logits, centres, "median")


def test_decoding_recovers_quantised_colours():
    """One-hot predictions decode to the class centre: within 5 units of a and b (half a cell)."""
    codec = TargetCodec("lab", 100, "gamut")
    rgb = np.random.default_rng(1).integers(0, 256, (500, 3)).astype(np.float32) / 255
    channels = encode_channels(rgb, "lab")
    one_hot = tf.one_hot(codec.quantize_ab(channels), codec.num_ab_classes) * 50.0
    decoded = decode_distribution(one_hot, codec.ab_centers(), "annealed")
    spans = np.array([186.0, 203.0])
    error = np.abs(decoded.numpy() - channels.numpy()[:, 1:]) * spans
    assert error.max() <= 5.0 + 1e-3


@pytest.mark.parametrize("color_space", ["lab", "rgb", "lab_distort"])
def test_compiled_uint8_encoding_matches_the_float_one(color_space):
    images = np.random.default_rng(3).integers(0, 256, (2, 96, 96, 3), dtype=np.uint8)
    codec = TargetCodec(color_space, ab_bins="gamut" if color_space == "lab" else "grid:10")
    channels, grid = codec.encode(images.astype(np.float32) / 255)
    fast_channels, fast_grid = codec.encode(tf.constant(images), compiled=True)
    np.testing.assert_allclose(fast_channels.numpy(), channels.numpy(), atol=1e-5)
    np.testing.assert_allclose(fast_grid.numpy(), grid.numpy(), atol=1e-5)
    for part in ("L", "ab"):
        agree = np.mean(codec.quantize(fast_grid, part).numpy() ==
                        codec.quantize(grid, part).numpy())
        assert agree > 0.99, part  # classes may differ where a value sits on a bin edge


def test_rebalancing_weighs_rare_colours_up_with_mean_weight_one_under_the_prior():
    centers = np.array([[0.0, 0.0], [40.0, 0.0], [0.0, 40.0], [-40.0, -40.0]], np.float32)
    labels = np.array([0] * 90 + [1] * 8 + [2] * 2)  # class 3 never occurs
    weights = rebalancing_weights(labels, centers, 0.5)
    assert weights[0] < 1 < weights[1] < weights[2] < weights[3]
    frequency = np.bincount(labels, minlength=4) / len(labels)  # far apart: no blur
    assert float((weights * frequency).sum()) == pytest.approx(1.0, abs=1e-4)
    np.testing.assert_allclose(rebalancing_weights(labels, centers, 1.0), 1.0, rtol=1e-5)
    # a blur wider than the cells shares the frequency of the grey cell with its neighbours
    assert rebalancing_weights(labels, centers, 0.5, sigma=40.0)[1] < weights[1]
