"""Content-based recommendation on standard-scaled audio features.

A user's taste is the play-weighted mean of their tracks; candidates come from the
clusters nearest that taste and are ranked by Manhattan distance to it.

>>> import numpy as np
>>> X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.2, 5.0]])
>>> taste = taste_vector(X, np.array([0]), np.array([1.0]))
>>> content_recommend(taste, X, np.array([0, 0, 1, 1]), np.array([[0.05, 0], [5.1, 5]]), n=3,
...                   n_clusters=1, exclude=[0])[0].tolist()
[1]
"""

from __future__ import annotations

import numpy as np

from models.ranking import cosine_scores, euclidean_scores, manhattan_scores, top_n

METRICS = {"manhattan": manhattan_scores, "euclidean": euclidean_scores, "cosine": cosine_scores}


def taste_vector(X_scaled: np.ndarray, items: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Return the ``weights``-weighted mean of the rows ``items`` of ``X_scaled``.

    >>> taste_vector(np.array([[0.0, 2.0], [4.0, 0.0]]), np.array([0, 1]), np.array([3.0, 1.0])).tolist()
    [1.0, 1.5]
    """
    items, weights = np.asarray(items, dtype=np.int64), np.asarray(weights, dtype=np.float64)
    if items.shape != weights.shape or items.size == 0:
        raise ValueError(f"items and weights must be non-empty and of one length, got {items.shape} and {weights.shape}")
    if not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError("weights must be finite, non-negative and not all zero")
    return weights @ np.asarray(X_scaled)[items] / weights.sum()


def content_recommend(taste: np.ndarray, X_scaled: np.ndarray, labels: np.ndarray, centers: np.ndarray,
                      n: int = 10, n_clusters: int = 2, exclude=None) -> tuple[np.ndarray, np.ndarray]:
    """Return the ``n`` items (indices, minus Manhattan distance) nearest ``taste`` in its nearest clusters.

    Candidates are the items labelled with one of the ``n_clusters`` centres nearest
    (Euclidean, as k-means assigns them) to ``taste``; ``exclude`` indices are left out.
    """
    taste, X_scaled, labels = np.asarray(taste), np.asarray(X_scaled), np.asarray(labels)
    if len(labels) != len(X_scaled):
        raise ValueError(f"{len(labels)} labels for {len(X_scaled)} items")
    clusters = top_n(euclidean_scores(centers, taste), n_clusters)[0]
    candidates = np.flatnonzero(np.isin(labels, clusters))
    scores = manhattan_scores(X_scaled[candidates], taste)
    if exclude is not None and len(exclude):
        scores[np.isin(candidates, np.asarray(exclude))] = -np.inf
    order, best = top_n(scores, n)
    return candidates[order], best


def nearest_items(X_scaled: np.ndarray, item: int, n: int = 10, metric: str = "manhattan") -> tuple[np.ndarray, np.ndarray]:
    """Return the ``n`` items (indices, similarity: higher is nearer) nearest ``item``, itself left out.

    ``metric`` is "manhattan", "euclidean" (minus the distance) or "cosine".

    >>> nearest_items(np.array([[0.0], [3.0], [1.0]]), 0, n=2)[0].tolist()
    [2, 1]
    """
    score = METRICS.get(metric)
    if score is None:
        raise ValueError(f"metric must be one of {tuple(METRICS)}, got {metric!r}")
    X_scaled = np.asarray(X_scaled)
    return top_n(score(X_scaled, X_scaled[item]), n, exclude=[item])
