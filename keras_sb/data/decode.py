"""Decoding encoded images to RGB, and the resize / crop / flip applied to every image."""

from __future__ import annotations

import tensorflow as tf


def decode_image(contents: tf.Tensor) -> tf.Tensor:
    """Encoded JPEG, PNG, BMP or GIF bytes -> uint8 [H, W, 3] RGB (a GIF's first frame).

    Grey, palette and CMYK images come out as RGB and alpha is dropped. ``tf.io`` reads the
    colour indices of a palette BMP (1, 2, 4 or 8 bits per pixel) as grey levels, so those are
    looked up in their colour table here instead.
    """

    def decode_any() -> tf.Tensor:
        return tf.io.decode_image(contents, channels=3, expand_animations=False)

    def decode_bmp() -> tf.Tensor:
        bits = _read_int(contents, 28, tf.uint16)
        indexed = (bits > 0) & (bits <= 8)
        return tf.cond(indexed, lambda: _decode_indexed_bmp(contents), decode_any)

    # Other formats take only the first test (3 ops per image in the input pipeline).
    image = tf.cond(tf.strings.substr(contents, 0, 2) == "BM", decode_bmp, decode_any)
    image.set_shape([None, None, 3])
    return image


def _read_int(contents: tf.Tensor, offset: int, dtype: tf.DType = tf.int32) -> tf.Tensor:
    """The little-endian integer of type ``dtype`` at byte ``offset``, as int32."""
    field = tf.strings.substr(contents, offset, dtype.size)
    return tf.cast(tf.io.decode_raw(field, dtype)[0], tf.int32)


def _decode_indexed_bmp(contents: tf.Tensor) -> tf.Tensor:
    """Uncompressed palette BMP bytes -> uint8 [H, W, 3]; malformed files raise an error."""
    data_start, header_size, width, height = (_read_int(contents, at) for at in (10, 14, 18, 22))
    bits = _read_int(contents, 28, tf.uint16)
    colours = _read_int(contents, 46)
    colours = tf.where(colours > 0, colours, tf.bitwise.left_shift(1, bits))
    checks = [
        tf.debugging.assert_equal(_read_int(contents, 30), 0, "compressed BMP"),
        tf.debugging.assert_equal(8 % bits, 0, "unsupported BMP bit depth"),
    ]
    with tf.control_dependencies(checks):
        table = tf.strings.substr(contents, 14 + header_size, 4 * colours)
    table = tf.io.decode_raw(table, tf.uint8)
    table = tf.reshape(table, [-1, 4])[:, 2::-1]  # BGRX -> RGB
    rows, row_bytes = tf.abs(height), (width * bits + 31) // 32 * 4
    packed = tf.io.decode_raw(tf.strings.substr(contents, data_start, rows * row_bytes), tf.uint8)
    packed = tf.reshape(tf.cast(packed, tf.int32), [rows, row_bytes, 1])
    shifts = 8 - bits * (tf.range(8 // bits) + 1)
    mask = tf.bitwise.left_shift(1, bits) - 1
    indices = tf.reshape(tf.bitwise.right_shift(packed, shifts) & mask, [rows, -1])[:, :width]
    indices = tf.cond(height > 0, lambda: tf.reverse(indices, [0]), lambda: indices)  # bottom-up
    return tf.gather(table, indices)


def as_float(images: tf.Tensor) -> tf.Tensor:
    """uint8 (or float) images -> float32 in [0, 1]."""
    return tf.image.convert_image_dtype(images, tf.float32)


def resize_shorter_side(image: tf.Tensor, size: int) -> tf.Tensor:
    """[H, W, 3] image -> the same dtype (uint8, or float32 in [0, 1]), shorter side ``size``.

    The aspect ratio is kept; images whose shorter side is already ``size`` are returned
    untouched. Others are resampled (bilinear, anti-aliased) and rounded back to uint8: images
    stay 8-bit until they are batched, where one op converts the whole batch to float.
    """
    shape = tf.shape(image)[:2]
    shorter = tf.reduce_min(shape)

    def resized() -> tf.Tensor:
        scaled = tf.round(tf.cast(shape * size, tf.float32) / tf.cast(shorter, tf.float32))
        new_shape = tf.maximum(tf.cast(scaled, tf.int32), size)
        resampled = tf.image.resize(tf.image.convert_image_dtype(image, tf.float32), new_shape,
                                    antialias=True)
        return tf.image.convert_image_dtype(resampled, image.dtype, saturate=True)

    return tf.cond(shorter == size, lambda: image, resized)


def center_crop(image: tf.Tensor, size: int) -> tf.Tensor:
    """Shorter side to ``size``, then the central ``size`` x ``size`` crop (dtype kept)."""
    image = resize_shorter_side(image, size)
    shape = tf.shape(image)
    top, left = (shape[0] - size) // 2, (shape[1] - size) // 2
    image = image[top : top + size, left : left + size]
    image.set_shape([size, size, 3])
    return image


def random_crop_flip(image: tf.Tensor, size: int, seed: tf.Tensor) -> tf.Tensor:
    """Shorter side to ``size``, a random ``size`` x ``size`` crop and a random horizontal flip.

    ``seed`` is an int64 scalar; the result is a deterministic function of the image and it.
    """
    crop_seed, flip_seed = tf.unstack(tf.random.split(tf.stack([seed, 0]), 2))
    image = resize_shorter_side(image, size)
    image = tf.image.stateless_random_crop(image, [size, size, 3], seed=crop_seed)
    return tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
