"""The 12x12 target grid, its quantisation, and decoding of predicted distributions.

Classification objectives predict, per pixel of the grid, one of ``l_bins`` bins of channel 0
(L) or one class for the pair of channels 1:3 (ab), either on an n x n grid (``grid:N``, the
original system) or on the paper's in-gamut ab grid of step 10 (``gamut``).
Channels are the normalised [0, 1] channels of :func:`keras_sb.color.encode_channels`.
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from keras_sb.color import (
    LAB_RANGES,
    channels_to_lab_ab,
    decode_channels,
    encode_channels,
    lab_ab_to_channels,
    rgb_to_lab,
)
from keras_sb.data.decode import as_float

GAMUT_STEP = 10.0
_GAMUT_CELL_RADIUS = 15  # cells -15..15 cover every Lab a/b value of sRGB colours


def uniform_bins(values: tf.Tensor, num_bins: int) -> tf.Tensor:
    """[0, 1] values -> int32 bins 0..num_bins-1; out-of-range values are clipped."""
    bins = tf.cast(tf.floor(tf.convert_to_tensor(values, tf.float32) * num_bins), tf.int32)
    return tf.clip_by_value(bins, 0, num_bins - 1)


@functools.lru_cache(maxsize=1)
def gamut_ab_cells() -> np.ndarray:
    """[Q, 2] (a, b) centres of the step-10 cells that some 8-bit sRGB colour rounds to.

    Every one of the 2^24 sRGB colours is converted (about 5 s on a CPU, once per process)
    and its a, b rounded to the nearest multiple of 10; Q = 261. The paper's 313 counts cells
    whose 10x10 neighbourhood touches the gamut (that rule gives 309 here), some of which no
    colour is nearest to, so they would be classes that never occur.
    """
    side = 2 * _GAMUT_CELL_RADIUS + 1
    levels = tf.range(256, dtype=tf.float32) / 255.0
    g, b = tf.meshgrid(levels, levels, indexing="ij")
    gb = tf.reshape(tf.stack([g, b], axis=-1), [-1, 2])
    hits = np.zeros(side * side, dtype=bool)
    for red in tf.split(levels, 8):
        rgb = tf.concat([tf.repeat(red, tf.shape(gb)[0])[:, None], tf.tile(gb, [32, 1])], -1)
        cell = tf.cast(tf.round(rgb_to_lab(rgb)[:, 1:] / GAMUT_STEP), tf.int32)
        cell_id = (cell[:, 0] + _GAMUT_CELL_RADIUS) * side + cell[:, 1] + _GAMUT_CELL_RADIUS
        hits |= np.bincount(cell_id.numpy(), minlength=side * side).astype(bool)
    ids = np.flatnonzero(hits)
    cells = np.stack([ids // side, ids % side], axis=-1) - _GAMUT_CELL_RADIUS
    return cells.astype(np.float32) * GAMUT_STEP


@functools.lru_cache(maxsize=1)
def _gamut_lookup() -> np.ndarray:
    """Table from cell (a/10 + R, b/10 + R) to the nearest in-gamut class index."""
    cells = gamut_ab_cells() / GAMUT_STEP
    grid = np.arange(-_GAMUT_CELL_RADIUS, _GAMUT_CELL_RADIUS + 1, dtype=np.float32)
    ga, gb = np.meshgrid(grid, grid, indexing="ij")
    query = np.stack([ga.ravel(), gb.ravel()], axis=-1)
    distance = ((query[:, None, :] - cells[None, :, :]) ** 2).sum(-1)
    return distance.argmin(axis=1).reshape(ga.shape).astype(np.int32)


def parse_ab_bins(spec: str) -> tuple[str, int]:
    """'grid:N' -> ('grid', N); 'gamut' -> ('gamut', 0). Raises ValueError otherwise."""
    if spec == "gamut":
        return "gamut", 0
    kind, _, size = spec.partition(":")
    if kind == "grid" and size.isdigit() and int(size) >= 2:
        return "grid", int(size)
    raise ValueError(f"--ab-bins must be 'grid:N' (N >= 2, e.g. grid:10) or 'gamut', got {spec!r}")


class TargetCodec:
    """Turns RGB images into network inputs and quantised targets, and predictions back.

    Args:
        color_space: ``lab``, ``rgb`` or ``lab_distort``.
        l_bins: number of bins for channel 0 (L, or R in ``rgb``).
        ab_bins: ``grid:N`` or ``gamut`` for channels 1:3 (``gamut`` needs ``lab``).
        target_size: side of the downsampled target grid.
    """

    def __init__(self, color_space="lab", l_bins=100, ab_bins="grid:10", target_size=12):
        kind, grid_size = parse_ab_bins(ab_bins)
        if kind == "gamut" and color_space != "lab":
            raise ValueError(
                f"--ab-bins gamut is the sRGB gamut in Lab: use --color-space lab, not "
                f"{color_space!r}, or --ab-bins grid:N."
            )
        if l_bins < 2:
            raise ValueError(f"--l-bins must be at least 2, got {l_bins}")
        self.color_space = color_space
        self.l_bins = int(l_bins)
        self.ab_bins = ab_bins
        self.target_size = int(target_size)
        self._grid_size = grid_size

    @property
    def num_ab_classes(self) -> int:
        return len(gamut_ab_cells()) if self._grid_size == 0 else self._grid_size**2

    def l_centers(self) -> np.ndarray:
        """[l_bins, 1] bin centres in normalised channel units."""
        return ((np.arange(self.l_bins, dtype=np.float32) + 0.5) / self.l_bins)[:, None]

    def ab_centers(self) -> np.ndarray:
        """[num_ab_classes, 2] class centres in normalised channel units."""
        if self._grid_size == 0:
            return lab_ab_to_channels(tf.constant(gamut_ab_cells())).numpy()
        n = self._grid_size
        centres = (np.arange(n, dtype=np.float32) + 0.5) / n
        first, second = np.meshgrid(centres, centres, indexing="ij")
        return np.stack([first.ravel(), second.ravel()], axis=-1)

    def quantize_l(self, channels: tf.Tensor) -> tf.Tensor:
        """[..., 3] channels -> int32 L classes [...]."""
        return uniform_bins(channels[..., 0], self.l_bins)

    def quantize_ab(self, channels: tf.Tensor) -> tf.Tensor:
        """[..., 3] channels -> int32 ab classes [...]."""
        if self._grid_size:
            bins = uniform_bins(channels[..., 1:], self._grid_size)
            return bins[..., 0] * self._grid_size + bins[..., 1]
        lows = tf.constant([LAB_RANGES["a"][0], LAB_RANGES["b"][0]])
        spans = tf.constant([LAB_RANGES["a"][1], LAB_RANGES["b"][1]]) - lows
        ab = channels[..., 1:] * spans + lows
        cell = tf.cast(tf.round(ab / GAMUT_STEP), tf.int32) + _GAMUT_CELL_RADIUS
        cell = tf.clip_by_value(cell, 0, 2 * _GAMUT_CELL_RADIUS)
        return tf.gather_nd(tf.constant(_gamut_lookup()), cell)

    def encode(self, rgb: tf.Tensor, compiled: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        """RGB image(s) [..., H, W, 3], uint8 or in [0, 1] -> (float32 channels, the channels
        of the target grid [..., T, T, 3], T = ``target_size``).

        The grid is an anti-aliased bilinear downsample of the RGB image. ``compiled``:
        convert the colours with XLA, which fuses the conversion into one loop over the pixels
        (meant for the input pipeline: it compiles again for each new input shape).
        """
        rgb = tf.convert_to_tensor(rgb)
        rgb = rgb if rgb.dtype == tf.uint8 else tf.cast(rgb, tf.float32)
        small_rgb = tf.image.resize(rgb, [self.target_size] * 2, antialias=True)  # float32
        small_rgb = small_rgb / 255.0 if rgb.dtype == tf.uint8 else small_rgb
        convert = self._compiled_channels if compiled else self._channels
        return convert(rgb, tf.clip_by_value(small_rgb, 0.0, 1.0))

    def quantize(self, channels: tf.Tensor, part: str) -> tf.Tensor:
        """[..., 3] channels -> int32 classes [...] of ``part``: ``L`` or ``ab``."""
        return self.quantize_l(channels) if part == "L" else self.quantize_ab(channels)

    def num_classes(self, part: str) -> int:
        return self.l_bins if part == "L" else self.num_ab_classes

    def centers(self, part: str) -> np.ndarray:
        """[classes, channels] centres of ``part``'s classes in channel units."""
        return self.l_centers() if part == "L" else self.ab_centers()

    def lab_centers(self, part: str) -> np.ndarray:
        """[classes, channels] centres of ``part``'s classes in Lab units (L, or a and b; the
        ``lab`` colour space)."""
        centers = self.centers(part)
        return centers * 100.0 if part == "L" else channels_to_lab_ab(centers).numpy()

    def _channels(self, rgb: tf.Tensor, small_rgb: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The channels of the image and of its downsampled copy (its range from the image)."""
        rgb = as_float(rgb)  # inside the compiled function: uint8 batches are 4x fewer bytes
        return (encode_channels(rgb, self.color_space),
                encode_channels(small_rgb, self.color_space, rgb))

    @functools.cached_property
    def _compiled_channels(self):
        return tf.function(self._channels, jit_compile=True)

    def decode_rgb(self, channels: tf.Tensor) -> tf.Tensor:
        """[..., 3] channels of this codec's colour space -> RGB in [0, 1]."""
        return decode_channels(channels, self.color_space)

    def get_config(self) -> dict:
        return {
            "color_space": self.color_space,
            "l_bins": self.l_bins,
            "ab_bins": self.ab_bins,
            "target_size": self.target_size,
        }


def gaussian_kernel(centers: np.ndarray, sigma: float) -> np.ndarray:
    """[K, K] exp(-d^2 / (2 sigma^2)) of the distance d between each two class ``centers``
    ([K, D])."""
    centers = np.asarray(centers, np.float64)
    distance2 = ((centers[:, None, :] - centers[None, :, :]) ** 2).sum(-1)
    return np.exp(-distance2 / (2 * sigma**2))


def rebalancing_weights(labels: np.ndarray, centers: np.ndarray, strength: float,
                        sigma: float = 5.0) -> np.ndarray:
    """Per-class loss weights that keep frequent (greyish) ab classes from dominating
    (Zhang et al., ECCV 2016): w ~ 1 / ((1 - strength) p + strength / Q), p the classes'
    frequency in ``labels`` blurred by a Gaussian of ``sigma`` (Lab units) over the class
    ``centers`` (Lab a, b; [Q, 2]); normalised so that the expected weight under p is 1.
    ``strength`` 1 gives equal weights, 0.5 is the paper's.
    """
    counts = np.bincount(np.ravel(labels), minlength=len(centers)).astype(np.float64)
    blurred = gaussian_kernel(centers, sigma) @ (counts / counts.sum())
    prior = blurred / blurred.sum()
    weights = 1.0 / ((1.0 - strength) * prior + strength / len(centers))
    return (weights / (weights * prior).sum()).astype(np.float32)


def decode_distribution(
    logits: tf.Tensor, centers: np.ndarray, mode: str = "annealed", temperature: float = 0.38
) -> tf.Tensor:
    """[..., K] logits -> [..., D] values, by ``argmax``, ``mean`` or ``annealed`` mean.

    The annealed mean (Zhang et al., ECCV 2016) is the expectation under softmax(logits / T);
    T=1 is the plain mean and T->0 tends to the argmax (the mode).
    """
    centers = tf.constant(centers, tf.float32)
    logits = tf.convert_to_tensor(logits, tf.float32)
    if mode == "argmax":
        return tf.gather(centers, tf.argmax(logits, axis=-1))
    if mode == "mean":
        temperature = 1.0
    elif mode != "annealed":
        raise ValueError(f"decode mode must be argmax, mean or annealed, got {mode!r}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    probs = tf.nn.softmax(logits / temperature, axis=-1)
    return tf.tensordot(probs, centers, axes=1)
