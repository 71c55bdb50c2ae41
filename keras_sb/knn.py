"""k-nearest-neighbour classification of frozen features: the cheap probe of SSL libraries."""

from __future__ import annotations

import numpy as np

QUERY_CHUNK = 1024  # queries per similarity matrix (bounds memory: chunk x train features)


def knn_probabilities(train: np.ndarray, train_labels: np.ndarray, queries: np.ndarray,
                      num_classes: int, k: int = 20, temperature: float = 0.07) -> np.ndarray:
    """[Q, num_classes] class scores of ``queries`` [Q, D] from their ``k`` nearest ``train``
    features [N, D] by cosine similarity, each neighbour voting exp(similarity / T) for its
    label (the weighted vote of DINO's and lightly's kNN monitors, T = 0.07), normalised to
    sum to 1. ``k`` is clipped to N."""
    train, queries = _unit(train), _unit(queries)
    k = min(k, len(train))
    scores = np.zeros((len(queries), num_classes), np.float64)
    for start in range(0, len(queries), QUERY_CHUNK):
        similarity = queries[start:start + QUERY_CHUNK] @ train.T
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        weights = np.exp(np.take_along_axis(similarity, nearest, axis=1) / temperature)
        rows = np.arange(len(nearest))[:, None]
        np.add.at(scores[start:start + QUERY_CHUNK], (rows, train_labels[nearest]), weights)
    return scores / scores.sum(axis=1, keepdims=True)


def _unit(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, np.float64).reshape(len(features), -1)
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
