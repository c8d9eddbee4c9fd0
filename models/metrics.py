"""Top-k ranking metrics with binary relevance, and the loop that scores held-out users.

>>> round(ndcg_at_k(np.array([5, 1, 7]), {1}, k=3), 4)
0.6309
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np
import scipy.sparse as sp

from models.ranking import top_n


def precision_at_k(recommended: np.ndarray, relevant: Collection[int], k: int = 10) -> float:
    """Return hits among the first ``k`` recommendations divided by ``k``.

    >>> precision_at_k(np.array([1, 2, 3]), {2, 9}, k=10)
    0.1
    """
    return sum(int(item) in relevant for item in recommended[:k]) / k


def recall_at_k(recommended: np.ndarray, relevant: Collection[int], k: int = 10) -> float:
    """Return hits among the first ``k`` recommendations divided by the number of relevant items.

    >>> recall_at_k(np.array([1, 2, 3]), {2, 9}, k=10)
    0.5
    """
    return sum(int(item) in relevant for item in recommended[:k]) / len(relevant)


def average_precision_at_k(recommended: np.ndarray, relevant: Collection[int], k: int = 10) -> float:
    """Return the sum of precision at each hit's rank divided by ``min(len(relevant), k)``.

    >>> average_precision_at_k(np.array([2, 1, 9]), {2, 9}, k=10)
    0.8333333333333333
    """
    hits, total = 0, 0.0
    for rank, item in enumerate(recommended[:k], start=1):
        if int(item) in relevant:
            hits += 1
            total += hits / rank
    return total / min(len(relevant), k)


def ndcg_at_k(recommended: np.ndarray, relevant: Collection[int], k: int = 10) -> float:
    """Return the DCG of the first ``k`` recommendations over the ideal DCG, gain 1 per relevant item.

    >>> ndcg_at_k(np.array([9, 2]), {2, 9}, k=10)
    1.0
    """
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = sum(discounts[rank] for rank, item in enumerate(recommended[:k]) if int(item) in relevant)
    return float(dcg / discounts[: min(len(relevant), k)].sum())


METRICS = {"precision": precision_at_k, "recall": recall_at_k, "map": average_precision_at_k,
           "ndcg": ndcg_at_k}


def evaluate_ranking(score_users: Callable[[np.ndarray], np.ndarray], train: sp.csr_matrix,
                     test: sp.csr_matrix, k: int = 10, batch: int = 512) -> dict[str, float]:
    """Return the mean precision, recall, MAP and nDCG at ``k`` over the users with test items.

    ``score_users(users)`` returns a (len(users), n_items) score array. Candidates are the
    items with at least one training interaction, minus the user's own training items.

    >>> train = sp.csr_matrix(np.array([[1.0, 0, 1, 0], [1.0, 1, 0, 0]]))
    >>> test = sp.csr_matrix(np.array([[0, 1.0, 0, 0], [0, 0, 0, 0]]))
    >>> evaluate_ranking(lambda users: np.tile([3.0, 2.0, 1.0, 9.0], (len(users), 1)), train, test, k=1)
    {'precision@1': 1.0, 'recall@1': 1.0, 'map@1': 1.0, 'ndcg@1': 1.0}
    """
    train, test = sp.csr_matrix(train), sp.csr_matrix(test)
    unseen = np.flatnonzero(np.diff(train.tocsc().indptr) == 0)
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    totals = dict.fromkeys(METRICS, 0.0)
    for start in range(0, len(users), batch):
        chunk = users[start:start + batch]
        scores = np.asarray(score_users(chunk), dtype=np.float64)
        for row, user in zip(scores, chunk):
            seen = train.indices[train.indptr[user]:train.indptr[user + 1]]
            recommended, _ = top_n(row, k, exclude=np.concatenate([seen, unseen]))
            relevant = set(test.indices[test.indptr[user]:test.indptr[user + 1]].tolist())
            for name, metric in METRICS.items():
                totals[name] += metric(recommended, relevant, k)
    return {f"{name}@{k}": total / max(len(users), 1) for name, total in totals.items()}
