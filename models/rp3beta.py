"""RP3beta: item x item weights from a three-step random walk, popularity discounted (Paudel et al. 2016).

With ``X`` the 0/1 (users, items) preferences, ``P_ui`` is ``X`` with each user's row divided
by its sum (user -> item) and ``P_iu`` is ``X^T`` with each item's row divided by its sum
(item -> user). The weight of item ``j`` for a listener of item ``i`` is::

    W_ij = (P_iu @ P_ui)_ij ** alpha / popularity_j ** beta    (popularity: listeners; W_ii = 0)

and each row keeps only its ``neighbours`` largest weights, so ``W`` is sparse whatever the
size of the catalogue; it is computed a block of items at a time, which bounds the memory too.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from models.item_item import ItemItemRecommender

NNZ_BUDGET = 1 << 24


class RP3beta(ItemItemRecommender):
    """RP3beta recommender: a sparse item x item graph model for implicit feedback.

    Parameters
    ----------
    alpha
        Exponent of the walk's probabilities (1: the plain three-step walk, P3).
    beta
        Exponent of the popularity dividing each item's column (0: no discount).
    neighbours
        Weights kept per item, its largest.
    min_count
        Items with fewer listeners are left out: they score 0 and are never recommended.
    dtype
        Of ``similarity_``.

    Attributes
    ----------
    similarity_
        ``W`` on the kept items, a (kept, kept) CSR matrix of at most ``neighbours`` entries a
        row; ``items_``, ``position_``, ``n_items_`` as in :class:`~models.item_item.ItemItemRecommender`.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> plays = sp.csr_matrix(np.array([[5.0, 2, 0, 0, 0],      # four users along a chain of five items
    ...                                 [1.0, 3, 4, 0, 0],
    ...                                 [0.0, 0, 2, 6, 0],
    ...                                 [0.0, 0, 0, 1, 3]]))
    >>> model = RP3beta(alpha=1.0, beta=0.5).fit(plays)
    >>> model.recommend(0, n=1, user_items=plays)[0].tolist()   # item 2 shares a listener with 0 and 1
    [2]
    >>> model.similar_items(4)[0].tolist()                      # only item 3 shares one with item 4
    [3]

    References
    ----------
    Bibek Paudel, Fabian Christoffel, Chris Newell, Abraham Bernstein, "Updatable, Accurate,
    Diverse, and Scalable Recommendations for Interactive Applications", ACM TiiS 7(1), 2016.
    """

    def __init__(self, alpha: float = 0.8, beta: float = 0.2, neighbours: int = 200, min_count: int = 1,
                 dtype=np.float32):
        self.alpha = alpha
        self.beta = beta
        self.neighbours = neighbours
        self.min_count = min_count
        self.dtype = dtype

    def _check_params(self) -> None:
        super()._check_params()
        for name in ("alpha", "beta"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a non-negative number, got {value!r}")
        if self.alpha == 0:
            raise ValueError("alpha must be positive: alpha = 0 makes every reachable item weigh the same")
        if isinstance(self.neighbours, bool) or not isinstance(self.neighbours, (int, np.integer)) \
                or self.neighbours < 1:
            raise ValueError(f"neighbours must be an integer >= 1, got {self.neighbours!r}")

    def _learn(self, X: sp.csr_matrix) -> sp.csr_matrix:
        X = X.astype(np.float64)
        per_user = np.asarray(X.sum(axis=1)).ravel()
        popularity = np.asarray(X.sum(axis=0)).ravel()
        P_ui = sp.diags(1.0 / np.maximum(per_user, 1.0)) @ X
        P_iu = (sp.diags(1.0 / popularity) @ X.T).tocsr()
        discount = popularity ** -self.beta
        blocks = []
        for start, stop in row_blocks(X.T @ per_user, NNZ_BUDGET):
            W = (P_iu[start:stop] @ P_ui).tocsr()
            W.data **= self.alpha
            W.data *= discount[W.indices]
            own = W.indices == np.repeat(np.arange(start, start + W.shape[0]), np.diff(W.indptr))
            W.data[own] = 0.0
            W.eliminate_zeros()
            blocks.append(keep_largest_per_row(W, self.neighbours))
        return sp.vstack(blocks, format="csr").astype(self.dtype)


def row_blocks(work: np.ndarray, budget: float) -> list[tuple[int, int]]:
    """Return consecutive (start, stop) ranges of rows whose ``work`` sums to at most ``budget`` (one row at least).

    A row of the walk ``P_iu[i] @ P_ui`` sums one product per play of each of item ``i``'s
    listeners, so its work (and at most its nonzeros) is what those listeners played in all.

    >>> row_blocks(np.array([3, 1, 1, 9, 2]), budget=5)
    [(0, 3), (3, 4), (4, 5)]
    """
    ends = np.cumsum(work, dtype=np.float64)
    blocks, start = [], 0
    while start < len(work):
        done = ends[start - 1] if start else 0.0
        stop = max(start + 1, int(np.searchsorted(ends, done + budget, side="right")))
        blocks.append((start, stop))
        start = stop
    return blocks


def keep_largest_per_row(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Return the CSR ``matrix`` with only each row's ``k`` largest entries (ties by column), in one sort.

    >>> keep_largest_per_row(sp.csr_matrix(np.array([[1.0, 3.0, 2.0], [0.0, 5.0, 5.0]])), 1).toarray().tolist()
    [[0.0, 3.0, 0.0], [0.0, 5.0, 0.0]]
    """
    matrix = sp.csr_matrix(matrix)
    matrix.sort_indices()
    lengths = np.diff(matrix.indptr)
    if lengths.max(initial=0) <= k:
        return matrix
    rows = np.repeat(np.arange(matrix.shape[0]), lengths)
    order = np.lexsort((matrix.indices, -matrix.data, rows))
    rank = np.arange(matrix.nnz) - matrix.indptr[rows]
    kept = np.sort(order[rank < k])
    indptr = np.concatenate([[0], np.cumsum(np.minimum(lengths, k))])
    return sp.csr_matrix((matrix.data[kept], matrix.indices[kept], indptr), shape=matrix.shape)
