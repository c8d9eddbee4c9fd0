"""Scoring and top-n selection shared by every recommender.

All score functions return "higher is better", so any of them can feed :func:`top_n`.

>>> import numpy as np
>>> items, scores = top_n(np.array([0.1, 0.9, 0.5, np.nan]), 2)
>>> items.tolist(), scores.tolist()
([1, 2], [0.9, 0.5])
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np


def top_n(scores: np.ndarray, n: int, exclude=None) -> tuple[np.ndarray, np.ndarray]:
    """Return the indices and scores of the ``n`` best finite scores, best first.

    ``exclude`` (indices) are never returned, nor are NaN or -inf scores, so fewer
    than ``n`` items come back when fewer are eligible.

    >>> top_n(np.array([3.0, 1.0, 2.0]), 2, exclude=[0])[0].tolist()
    [2, 1]
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if n <= 0 or scores.size == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    masked = np.where(np.isnan(scores), -np.inf, scores)
    if exclude is not None and len(exclude):
        masked[np.asarray(exclude, dtype=np.int64)] = -np.inf
    candidates, values = best_per_row(masked[None], n)
    order = candidates[0][np.isfinite(values[0])]
    return order, scores[order]


def top_n_rows(scores: np.ndarray, n: int, exclude=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return :func:`top_n` of every row of the 2-D ``scores``, the nonzero columns of that row of
    the sparse ``exclude`` left out; one vectorised selection for all rows.

    >>> import scipy.sparse as sp
    >>> found = top_n_rows(np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 5.0]]), 2, exclude=sp.csr_matrix([[1, 0, 0], [0, 0, 0]]))
    >>> [(items.tolist(), values.tolist()) for items, values in found]
    [([2, 1], [2.0, 1.0]), ([1, 2], [5.0, 5.0])]
    """
    scores = np.atleast_2d(np.asarray(scores))
    rows, width = scores.shape
    if n <= 0 or width == 0:
        return [(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)) for _ in range(rows)]
    masked = np.array(scores, dtype=np.result_type(scores.dtype, np.float32))
    masked[np.isnan(masked)] = -np.inf
    if exclude is not None and exclude.nnz:
        exclude = exclude.tocsr()
        masked[np.repeat(np.arange(rows), np.diff(exclude.indptr)), exclude.indices] = -np.inf
    candidates, values = best_per_row(masked, n)
    finite = np.isfinite(values)
    return [(items[keep], row_values[keep]) for items, row_values, keep in zip(candidates, values, finite)]


def best_per_row(masked: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the column indices (int64) and values (float64) of each row's ``n`` largest entries,
    largest first and equal values by index; excluded entries are -inf and sort last.

    A partition then a sort of the ``n`` kept: a full sort of each row costs far more when rows are long.

    >>> [a.tolist() for a in best_per_row(np.array([[1.0, 3.0, -np.inf, 3.0]]), 3)]
    [[[1, 3, 0]], [[3.0, 3.0, 1.0]]]
    """
    n = min(n, masked.shape[1])
    candidates = np.argpartition(-masked, n - 1, axis=1)[:, :n]
    values = np.take_along_axis(masked, candidates, axis=1)
    order = np.lexsort((candidates, -values), axis=1)
    candidates = np.take_along_axis(candidates, order, axis=1).astype(np.int64)
    return candidates, np.take_along_axis(values, order, axis=1).astype(np.float64)


def dot_scores(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Return the inner product of every row of ``matrix`` with ``query``.

    >>> dot_scores(np.eye(2), np.array([2.0, 3.0])).tolist()
    [2.0, 3.0]
    """
    return np.asarray(matrix) @ np.asarray(query)


def cosine_scores(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Return the cosine similarity of every row of ``matrix`` with ``query`` (0 for zero rows).

    >>> cosine_scores(np.array([[1.0, 0.0], [2.0, 2.0]]), np.array([1.0, 1.0])).round(3).tolist()
    [0.707, 1.0]
    """
    matrix, query = np.asarray(matrix), np.asarray(query)
    norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(query)
    return np.divide(matrix @ query, norms, out=np.zeros(len(matrix), dtype=np.result_type(matrix, query, 1.0)),
                     where=norms > 0)


def manhattan_scores(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Return minus the L1 distance of every row of ``matrix`` to ``query``.

    >>> manhattan_scores(np.array([[0.0, 0.0], [1.0, 2.0]]), np.array([1.0, 1.0])).tolist()
    [-2.0, -1.0]
    """
    return -np.abs(np.asarray(matrix) - np.asarray(query)).sum(axis=1)


def euclidean_scores(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Return minus the Euclidean distance of every row of ``matrix`` to ``query``.

    >>> euclidean_scores(np.array([[0.0, 0.0], [3.0, 5.0]]), np.array([3.0, 1.0])).tolist()
    [-3.1622776601683795, -4.0]
    """
    return -np.linalg.norm(np.asarray(matrix) - np.asarray(query), axis=1)


def minmax(scores: np.ndarray) -> np.ndarray:
    """Return finite ``scores`` rescaled to [0, 1] (all 0 when constant); NaN and ±inf become 0.

    >>> minmax(np.array([2.0, 4.0, 3.0])).tolist()
    [0.0, 1.0, 0.5]
    """
    scores = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(scores)
    if not finite.any():
        return np.zeros_like(scores)
    low, high = scores[finite].min(), scores[finite].max()
    span = high - low if high > low else 1.0
    return np.where(finite, (scores - low) / span, 0.0)


def rank_normalise(scores: np.ndarray) -> np.ndarray:
    """Return each score's rank scaled to [0, 1] (best = 1), which ignores the scale of the scores.

    >>> rank_normalise(np.array([10.0, -5.0, 7.0])).tolist()
    [1.0, 0.0, 0.5]
    """
    scores = np.asarray(scores, dtype=np.float64)
    ranks = np.argsort(np.argsort(np.nan_to_num(scores, nan=-np.inf), kind="stable"), kind="stable")
    return ranks / max(len(scores) - 1, 1)


NORMALISERS = ("minmax", "rank")


def normalise_rows(scores: np.ndarray, normalise: str) -> np.ndarray:
    """Return each row of the 2-D finite ``scores`` as :func:`minmax` or :func:`rank_normalise` scales it, in float32.

    One vectorised pass over the rows: what a worker does to a batch of users' scores.

    >>> normalise_rows(np.array([[2.0, 4.0, 3.0], [1.0, 1.0, 5.0]]), "minmax").tolist()
    [[0.0, 1.0, 0.5], [0.0, 0.0, 1.0]]
    >>> normalise_rows(np.array([[2.0, 4.0, 3.0], [1.0, 0.0, 5.0]]), "rank").tolist()
    [[0.0, 1.0, 0.5], [0.5, 0.0, 1.0]]
    """
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float32))
    if normalise == "rank":
        ranks = np.argsort(np.argsort(scores, axis=1, kind="stable"), axis=1, kind="stable")
        return (ranks / np.float32(max(scores.shape[1] - 1, 1))).astype(np.float32)
    if normalise != "minmax":
        raise ValueError(f"normalise must be one of {NORMALISERS}, got {normalise!r}")
    low = scores.min(axis=1, keepdims=True)
    span = scores.max(axis=1, keepdims=True) - low
    return (scores - low) / np.where(span > 0, span, np.float32(1.0))


def blend_parts(als_scores: np.ndarray, item_scores: np.ndarray, weight: float,
                normalise: str) -> tuple[np.ndarray, np.ndarray]:
    """Return the two terms of ``weight * als + (1 - weight) * item`` of two (users, items) score arrays, each row
    normalised first: their sum is the blend, and the larger says which model an item's score owes most.

    >>> als, item = blend_parts(np.array([[0.0, 2.0, 1.0]]), np.array([[9.0, 0.0, 3.0]]), 0.75, "rank")
    >>> (als + item).tolist(), (als >= item).tolist()
    ([[0.25, 0.75, 0.5]], [[False, True, True]])
    """
    return (weight * normalise_rows(als_scores, normalise),
            (1.0 - weight) * normalise_rows(item_scores, normalise))


def blend(als_scores: np.ndarray, content_scores: np.ndarray, weight: float = 0.5,
          normalise: str = "minmax") -> np.ndarray:
    """Return the hybrid score ``weight * als + (1 - weight) * content`` after normalising each.

    ``normalise`` is ``"minmax"`` or ``"rank"``; the two score families live on
    unrelated scales (dot products vs distances), so they are only mixed once normalised.

    >>> blend(np.array([0.0, 1.0]), np.array([-3.0, -1.0]), weight=0.25).tolist()
    [0.0, 1.0]
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    scale = {"minmax": minmax, "rank": rank_normalise}.get(normalise)
    if scale is None:
        raise ValueError(f"normalise must be 'minmax' or 'rank', got {normalise!r}")
    als_scores, content_scores = np.asarray(als_scores), np.asarray(content_scores)
    if als_scores.shape != content_scores.shape:
        raise ValueError(f"score shapes differ: {als_scores.shape} vs {content_scores.shape}")
    return weight * scale(als_scores) + (1.0 - weight) * scale(content_scores)


def popularity_top_n(counts: np.ndarray, n: int, exclude=None) -> tuple[np.ndarray, np.ndarray]:
    """Return the ``n`` most popular items (by ``counts``) not in ``exclude``, the cold-start fallback.

    >>> popularity_top_n(np.array([5, 9, 1]), 2, exclude=[1])[0].tolist()
    [0, 2]
    """
    return top_n(np.asarray(counts, dtype=np.float64), n, exclude=exclude)


def cap_per_artist(items: np.ndarray, scores: np.ndarray, artist_of: Sequence[Hashable],
                   max_per_artist: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the first ``n`` of ``items`` (ranked best first) keeping at most ``max_per_artist`` per artist.

    ``artist_of[item]`` is the item's artist, or a tuple of artists for a
    collaboration, which counts against each of them. ``max_per_artist=0`` means no cap.

    >>> cap_per_artist(np.array([0, 1, 2]), np.array([3.0, 2.0, 1.0]), ["a", "a", "b"], 1, 3)[0].tolist()
    [0, 2]
    """
    items, scores = np.asarray(items), np.asarray(scores)
    if max_per_artist <= 0:
        return items[:n], scores[:n]
    counts: dict[Hashable, int] = {}
    kept: list[int] = []
    for position, item in enumerate(items):
        artist = artist_of[item]
        artists = artist if isinstance(artist, tuple) else (artist,)
        if any(counts.get(a, 0) >= max_per_artist for a in artists):
            continue
        for a in artists:
            counts[a] = counts.get(a, 0) + 1
        kept.append(position)
        if len(kept) == n:
            break
    return items[kept], scores[kept]
