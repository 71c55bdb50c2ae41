"""Colour conversion against tensorflow-io (an independent implementation) and CIE values."""

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import keras_sb  # noqa: F401  (imports TensorFlow quietly)
from keras_sb.color import decode_channels, encode_channels, lab_to_rgb, rgb_to_lab

RNG = np.random.default_rng(0)
RANDOM_RGB = RNG.uniform(0, 1, size=(4096, 3)).astype(np.float32)


def test_rgb_to_lab_matches_tensorflow_io():
    tfio = pytest.importorskip("tensorflow_io")
    expected = tfio.experimental.color.rgb_to_lab(RANDOM_RGB).numpy()
    np.testing.assert_allclose(rgb_to_lab(RANDOM_RGB).numpy(), expected, atol=1e-3)


def test_lab_to_rgb_matches_tensorflow_io():
    tfio = pytest.importorskip("tensorflow_io")
    lab = tfio.experimental.color.rgb_to_lab(RANDOM_RGB)
    expected = tfio.experimental.color.lab_to_rgb(lab).numpy()
    np.testing.assert_allclose(lab_to_rgb(lab).numpy(), expected, atol=1e-3)


@pytest.mark.parametrize(
    ("rgb", "lab"),
    [  # reference values from the CIE formulas (D65), as published in colour tables
        ((1.0, 1.0, 1.0), (100.0, 0.0, 0.0)),
        ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
        ((1.0, 0.0, 0.0), (53.24, 80.09, 67.20)),
        ((0.0, 1.0, 0.0), (87.73, -86.18, 83.18)),
        ((0.0, 0.0, 1.0), (32.30, 79.19, -107.86)),
    ],
)
def test_known_colours(rgb, lab):
    np.testing.assert_allclose(rgb_to_lab(np.array(rgb, np.float32)).numpy(), lab, atol=0.02)


def test_round_trip_and_batched_shapes():
    images = RANDOM_RGB.reshape(4, 32, 32, 3)
    np.testing.assert_allclose(lab_to_rgb(rgb_to_lab(images)).numpy(), images, atol=1e-4)


def test_works_inside_tf_data_and_tf_function():
    dataset = tf.data.Dataset.from_tensor_slices(RANDOM_RGB.reshape(16, 16, 16, 3))
    from_data = np.stack(list(dataset.map(rgb_to_lab).as_numpy_iterator()))
    from_graph = tf.function(rgb_to_lab)(RANDOM_RGB.reshape(16, 16, 16, 3)).numpy()
    np.testing.assert_allclose(from_data, from_graph, atol=1e-4)


@pytest.mark.parametrize("space", ["lab", "rgb", "lab_distort"])
def test_encoded_channels_in_unit_range(space):
    channels = encode_channels(RANDOM_RGB.reshape(4, 32, 32, 3), space).numpy()
    assert channels.shape == (4, 32, 32, 3)
    assert channels.min() >= 0.0 and channels.max() <= 1.0


@pytest.mark.parametrize("space", ["lab", "rgb"])
def test_encode_decode_round_trip(space):
    channels = encode_channels(RANDOM_RGB, space)
    np.testing.assert_allclose(decode_channels(channels, space).numpy(), RANDOM_RGB, atol=1e-3)


def test_lab_distort_stretches_ab_per_image():
    dull = 0.5 + 0.05 * RANDOM_RGB.reshape(4, 32, 32, 3)
    channels = encode_channels(dull, "lab_distort").numpy()
    for image in channels:  # every image's a and b span the full [0, 1] range
        np.testing.assert_allclose(image[..., 1:].min(axis=(0, 1)), 0.0, atol=1e-6)
        np.testing.assert_allclose(image[..., 1:].max(axis=(0, 1)), 1.0, atol=1e-6)
    lab = encode_channels(dull, "lab").numpy()
    np.testing.assert_allclose(channels[..., 0], lab[..., 0], atol=1e-6)


def test_unknown_colour_space_is_named():
    with pytest.raises(ValueError, match="hsv"):
        encode_channels(RANDOM_RGB, "hsv")


def test_import_prints_nothing():
    result = subprocess.run([sys.executable, "-c", "import keras_sb"], capture_output=True,
                            text=True, check=True)
    assert result.stdout == "" and result.stderr == ""
