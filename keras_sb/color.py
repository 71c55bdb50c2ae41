"""sRGB <-> CIE Lab (D65) as TensorFlow ops, and the colour spaces the two networks split.

The conversion follows the CIE definitions (IEC 61966-2-1 sRGB transfer curve, sRGB->XYZ
matrix for D65, CIE 1976 L*a*b*). All functions take float tensors with channels last and
work eagerly, inside ``tf.data.Dataset.map`` and inside a Keras model.
"""

from __future__ import annotations

import tensorflow as tf

from keras_sb.constants import COLOR_SPACES

# sRGB (linear) -> XYZ, D65 white, as in IEC 61966-2-1.
_RGB_TO_XYZ = [
    [0.412453, 0.357580, 0.180423],
    [0.212671, 0.715160, 0.072169],
    [0.019334, 0.119193, 0.950227],
]
_D65_WHITE = [0.95047, 1.0, 1.08883]
_DELTA = 6.0 / 29.0
# Row i: what linear R, G, B (i = 0, 1, 2) adds to X/Xn, Y/Yn, Z/Zn.
_LINEAR_TO_XYZ_OVER_WHITE = [
    [_RGB_TO_XYZ[j][i] / _D65_WHITE[j] for j in range(3)] for i in range(3)
]
# Row i: what f(X/Xn), f(Y/Yn), f(Z/Zn) (i = 0, 1, 2) adds to L + 16, a, b.
_F_TO_LAB = [[0.0, 500.0, 0.0], [116.0, -500.0, 200.0], [0.0, 0.0, -200.0]]

# Ranges used to normalise the seed system's Lab channels to [0, 1].
LAB_RANGES = {"L": (0.0, 100.0), "a": (-87.0, 99.0), "b": (-108.0, 95.0)}


def _power(positive: tf.Tensor, exponent: float) -> tf.Tensor:
    """``positive ** exponent`` as exp(exponent * log(x)), several times faster than ``tf.pow``
    on CPUs (``python benchmarks/ops.py``)."""
    return tf.exp(exponent * tf.math.log(positive))


def _srgb_to_linear(rgb: tf.Tensor) -> tf.Tensor:
    return tf.where(rgb > 0.04045, _power((tf.maximum(rgb, 0.04045) + 0.055) / 1.055, 2.4),
                    rgb / 12.92)


def _linear_to_srgb(linear: tf.Tensor) -> tf.Tensor:
    linear = tf.maximum(linear, 0.0)
    return tf.where(
        linear > 0.0031308,
        1.055 * _power(tf.maximum(linear, 0.0031308), 1.0 / 2.4) - 0.055,
        12.92 * linear,
    )


def _mix(channels: tf.Tensor, matrix: list[list[float]]) -> tf.Tensor:
    """[..., 3] -> [..., 3], ``channels @ matrix`` written as three broadcast products: XLA
    fuses those with the element-wise ops around them, where it would not fuse a matmul."""
    return sum(channels[..., i : i + 1] * tf.constant(row) for i, row in enumerate(matrix))


def rgb_to_lab(rgb: tf.Tensor) -> tf.Tensor:
    """sRGB in [0, 1] -> Lab (L in [0, 100], a and b roughly in [-128, 127])."""
    linear = _srgb_to_linear(tf.convert_to_tensor(rgb, tf.float32))
    xyz = _mix(linear, _LINEAR_TO_XYZ_OVER_WHITE)
    f = tf.where(xyz > _DELTA**3, _power(tf.maximum(xyz, _DELTA**3), 1.0 / 3.0),
                 xyz / (3.0 * _DELTA**2) + 4.0 / 29.0)
    return _mix(f, _F_TO_LAB) - tf.constant([16.0, 0.0, 0.0])


def lab_to_rgb(lab: tf.Tensor) -> tf.Tensor:
    """Lab -> sRGB, clipped to [0, 1] (colours outside the sRGB gamut are clipped)."""
    lab = tf.convert_to_tensor(lab, tf.float32)
    lightness, a, b = tf.unstack(lab, axis=-1)
    fy = (lightness + 16.0) / 116.0
    f = tf.stack([fy + a / 500.0, fy, fy - b / 200.0], axis=-1)
    xyz = tf.where(f > _DELTA, tf.pow(f, 3.0), 3.0 * _DELTA**2 * (f - 4.0 / 29.0))
    xyz = xyz * _D65_WHITE
    linear = tf.tensordot(xyz, tf.transpose(tf.linalg.inv(_RGB_TO_XYZ)), axes=1)
    return tf.clip_by_value(_linear_to_srgb(linear), 0.0, 1.0)


def _normalise_lab(lab: tf.Tensor) -> tf.Tensor:
    lows = tf.constant([r[0] for r in LAB_RANGES.values()])
    highs = tf.constant([r[1] for r in LAB_RANGES.values()])
    return tf.clip_by_value((lab - lows) / (highs - lows), 0.0, 1.0)


def _denormalise_lab(channels: tf.Tensor) -> tf.Tensor:
    lows = tf.constant([r[0] for r in LAB_RANGES.values()])
    highs = tf.constant([r[1] for r in LAB_RANGES.values()])
    return channels * (highs - lows) + lows


def encode_channels(rgb: tf.Tensor, color_space: str, reference: tf.Tensor | None = None):
    """sRGB in [0, 1] -> three channels in [0, 1]: channel 0 is one half, 1:3 the other.

    - ``lab``: L/100, (a+87)/186, (b+108)/203 (the seed system's fixed ranges).
    - ``rgb``: R, then G and B unchanged.
    - ``lab_distort``: as ``lab`` for L; a and b stretched between the per-image minimum and
      maximum of ``reference`` (the full image; defaults to ``rgb`` itself), as in the seed.
    """
    rgb = tf.convert_to_tensor(rgb, tf.float32)
    if color_space == "rgb":
        return tf.clip_by_value(rgb, 0.0, 1.0)
    if color_space == "lab":
        return _normalise_lab(rgb_to_lab(rgb))
    if color_space == "lab_distort":
        lab = rgb_to_lab(rgb)
        ref_ab = rgb_to_lab(rgb if reference is None else reference)[..., 1:]
        axes = list(range(len(ref_ab.shape) - 3, len(ref_ab.shape) - 1))
        low = tf.reduce_min(ref_ab, axis=axes, keepdims=True)
        high = tf.reduce_max(ref_ab, axis=axes, keepdims=True)
        ab = tf.clip_by_value((lab[..., 1:] - low) / tf.maximum(high - low, 1e-3), 0.0, 1.0)
        return tf.concat([_normalise_lab(lab)[..., :1], ab], axis=-1)
    raise ValueError(f"Unknown colour space {color_space!r}; choose one of {COLOR_SPACES}.")


def decode_channels(channels: tf.Tensor, color_space: str) -> tf.Tensor:
    """Three [0, 1] channels -> sRGB in [0, 1].

    ``lab_distort`` has no per-image range at decoding time, so its a/b are read with the
    fixed ``lab`` ranges: the hue is right up to a per-image stretch.
    """
    channels = tf.convert_to_tensor(channels, tf.float32)
    if color_space == "rgb":
        return tf.clip_by_value(channels, 0.0, 1.0)
    if color_space in ("lab", "lab_distort"):
        return lab_to_rgb(_denormalise_lab(channels))
    raise ValueError(f"Unknown colour space {color_space!r}; choose one of {COLOR_SPACES}.")


def lab_ab_to_channels(ab: tf.Tensor) -> tf.Tensor:
    """Physical Lab a/b values -> the ``lab`` space's normalised a/b channels."""
    return _normalise_lab(tf.concat([tf.zeros_like(ab[..., :1]), ab], axis=-1))[..., 1:]


def channels_to_lab_ab(ab: tf.Tensor) -> tf.Tensor:
    """The ``lab`` space's normalised a/b channels -> physical Lab a/b values."""
    ab = tf.convert_to_tensor(ab, tf.float32)
    return _denormalise_lab(tf.concat([tf.zeros_like(ab[..., :1]), ab], axis=-1))[..., 1:]


def channel_scaling(color_space: str) -> tuple[list[float], list[float]]:
    """(centre, spread) of the three channels of ``color_space``, in channel units, that make
    photos' channels about zero-centred with unit spread: in ``lab`` L 50 +- 25 and a, b
    0 +- 15 (Lab units); 0.5 +- 0.25 in the other spaces."""
    if color_space != "lab":
        return [0.5] * 3, [0.25] * 3
    spans = [high - low for low, high in LAB_RANGES.values()]
    centre_lab, spread_lab = (50.0, 0.0, 0.0), (25.0, 15.0, 15.0)
    return ([(c - low) / span for c, (low, _), span in
             zip(centre_lab, LAB_RANGES.values(), spans, strict=True)],
            [s / span for s, span in zip(spread_lab, spans, strict=True)])
