"""Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017)
and the expected calibration error (ECE), in numpy.

Calibrated probabilities are softmax(logits / T), with the one temperature T fitted to
minimise the negative log-likelihood (NLL) of held-out (validation) logits. Dividing by T
keeps every argmax, so accuracy does not change. The NLL is convex in 1/T, hence unimodal in
log T, and T is found by a golden-section search over log T: scipy is not a dependency of
keras-sb, and a 1-D search needs no more.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np

log = logging.getLogger("keras_sb")

# Fewer held-out images than this, or than MIN_IMAGES_PER_CLASS per class on average: no
# temperature is fitted (T = 1). Simulated with a calibrated 10-class model (true T = 1),
# the fitted T's 10-90 % range is 0.39..1.40 at 10 images (1 in 20 draws at a search bound:
# the demo model's T = 19.999 came from 5 classes x 2 images), 0.80..1.21 at 50, 0.83..1.16
# at 100: from 50 images on, the fit moves T less than its own error.
MIN_IMAGES = 50
MIN_IMAGES_PER_CLASS = 5
TEMPERATURE_BOUNDS = (0.05, 20.0)  # the search interval; its ends are the extreme results
LOG_TOLERANCE = 1e-4  # the search stops when log T is known to within this
ECE_BINS = 15
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0  # 0.618...


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / temperature) over the last axis, in float64."""
    return np.exp(_log_softmax(np.asarray(logits, np.float64) / temperature))


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray,
                            temperature: float = 1.0) -> float:
    """The mean NLL of int ``labels`` [N] under softmax(``logits`` [N, C] / ``temperature``)."""
    log_p = _log_softmax(np.asarray(logits, np.float64) / temperature)
    return float(-log_p[np.arange(len(labels)), labels].mean())


def minimum_images(classes: int) -> int:
    """The fewest held-out images a temperature is fitted on, for ``classes`` classes."""
    return max(MIN_IMAGES, MIN_IMAGES_PER_CLASS * classes)


def fit_temperature(logits: np.ndarray, labels: np.ndarray, minimum: int | None = None
                    ) -> float:
    """The temperature T that minimises the NLL of ``labels`` [N] (ints in [0, C)) under
    softmax(``logits`` [N, C] / T), within ``TEMPERATURE_BOUNDS``.

    Fit it on held-out logits (the validation split), not the training ones. Fewer than
    ``minimum`` images (default :func:`minimum_images` of C) are too few to fit T: it stays
    1, with a warning. Logits that are constant in every row have no confidence to scale,
    and give T = 1.
    """
    logits, labels = np.asarray(logits, np.float64), np.asarray(labels)
    _check_logits(logits, labels)
    minimum = minimum_images(logits.shape[1]) if minimum is None else minimum
    if len(labels) < minimum:
        log.warning("Calibration skipped: %d held-out images are too few to fit a temperature "
                    "(at least %d for %d classes); the probabilities stay uncalibrated "
                    "(T = 1). Raise --val-fraction or label more images to calibrate.",
                    len(labels), minimum, logits.shape[1])
        return 1.0
    if not np.ptp(logits, axis=1).any():
        return 1.0
    log_t = _golden_section(lambda u: negative_log_likelihood(logits, labels, math.exp(u)),
                            *np.log(TEMPERATURE_BOUNDS), LOG_TOLERANCE)
    return math.exp(log_t)


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray,
                               bins: int = ECE_BINS) -> float:
    """The ECE of ``probabilities`` [N, C] vs int ``labels`` [N], over ``bins`` equal-width bins
    of confidence (the top probability): sum over bins of (n_bin / N) * |accuracy_bin -
    mean confidence_bin|, where accuracy is that of the argmax.

    Bins are closed on the right, (k / bins, (k + 1) / bins], and the first also holds 0.
    """
    probabilities, labels = np.asarray(probabilities, np.float64), np.asarray(labels)
    _check_probabilities(probabilities, labels, bins)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    inner_edges = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    which = np.searchsorted(inner_edges, confidence, side="left")
    # (n_bin / N) * |accuracy_bin - confidence_bin| = |sum(correct - confidence)| / N per bin
    gaps = np.bincount(which, weights=correct - confidence, minlength=bins)
    return float(np.abs(gaps).sum() / len(labels))


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _golden_section(f: Callable[[float], float], low: float, high: float,
                    tolerance: float) -> float:
    """The minimiser of a unimodal ``f`` on [low, high], to within ``tolerance``.

    Ties go to the lower part: there the NLL can be flat only where it has underflowed to 0
    (small T, every label the confident top class), the minimum.
    """
    c, d = high - _GOLDEN * (high - low), low + _GOLDEN * (high - low)
    fc, fd = f(c), f(d)
    while high - low > tolerance:
        if fc <= fd:  # the minimum is in [low, d]
            high, d, fd = d, c, fc
            c = high - _GOLDEN * (high - low)
            fc = f(c)
        else:  # in [c, high]
            low, c, fc = c, d, fd
            d = low + _GOLDEN * (high - low)
            fd = f(d)
    return (low + high) / 2


def _check_labels(labels: np.ndarray, count: int, classes: int) -> None:
    if labels.ndim != 1 or len(labels) != count:
        raise ValueError(f"labels must be [N] = [{count}], got {list(labels.shape)}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got {labels.dtype}")
    if labels.min() < 0 or labels.max() >= classes:
        raise ValueError(f"labels must be in [0, {classes}), got {labels.min()}..{labels.max()}")


def _check_logits(logits: np.ndarray, labels: np.ndarray) -> None:
    if logits.ndim != 2 or logits.shape[0] < 1 or logits.shape[1] < 2:
        raise ValueError(f"logits must be [N, C] with N >= 1 and C >= 2, "
                         f"got {list(logits.shape)}")
    if not np.isfinite(logits).all():
        raise ValueError("logits must be finite")
    _check_labels(labels, *logits.shape)


def _check_probabilities(probabilities: np.ndarray, labels: np.ndarray, bins: int) -> None:
    if probabilities.ndim != 2 or probabilities.shape[0] < 1 or probabilities.shape[1] < 1:
        raise ValueError(f"probabilities must be [N, C] with N >= 1, "
                         f"got {list(probabilities.shape)}")
    # a little above 1 is float rounding (e.g. of float32 normalisation)
    if not (np.isfinite(probabilities).all() and probabilities.min() >= 0
            and probabilities.max() <= 1 + 1e-6):
        raise ValueError("probabilities must be finite and in [0, 1]")
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    _check_labels(labels, *probabilities.shape)
