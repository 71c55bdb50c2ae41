"""Batch augmentations: seeded, per image, within their ranges."""

import numpy as np
import tensorflow as tf

from keras_sb.data.augment import random_resized_crop


def test_random_resized_crops_are_seeded_per_image_and_keep_their_share_of_the_image():
    rows = np.broadcast_to(np.linspace(0, 1, 32, dtype=np.float32)[None, :, None, None],
                           (4, 32, 32, 3))
    images = tf.constant(rows + np.zeros((4, 1, 1, 1), np.float32))  # brightness = row
    seed = tf.constant([7, 0], tf.int64)
    crops = random_resized_crop(images, seed, (0.25, 0.5)).numpy()
    np.testing.assert_array_equal(crops, random_resized_crop(images, seed, (0.25, 0.5)))
    assert crops.shape == images.shape
    assert len({crops[i].tobytes() for i in range(4)}) == 4  # each image its own crop
    # a crop keeping at most half the area spans at most ~0.6 of the rows (aspect <= 4/3)
    spans = crops[:, -1, 0, 0] - crops[:, 0, 0, 0]
    assert np.all(spans > 0.3) and np.all(spans < 0.85)
    whole = random_resized_crop(images, seed, (1.0, 1.0), aspect=(1.0, 1.0)).numpy()
    for crop, image in zip(whole, images.numpy(), strict=True):  # the image, or its mirror
        assert np.allclose(crop, image, atol=1e-5) or np.allclose(crop, image[:, ::-1],
                                                                  atol=1e-5)
