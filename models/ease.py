"""EASE: an item x item linear model in closed form on the Gram matrix (Steck 2019).

With ``X`` the 0/1 (users, items) preferences and ``lambda`` the L2 penalty, EASE minimises
``|X - X B|^2 + lambda |B|^2`` subject to ``diag(B) = 0``, whose solution is::

    P = (X^T X + lambda I)^-1,    B = I - P / diag(P)    (column j divided by P_jj; diag(B) = 0)

A user's scores are ``x_u @ B``. It costs one dense (items, items) inverse, so the items with
fewer than ``min_count`` listeners are left out, and more than ``max_items`` kept items are
refused rather than filling the memory (20,000 items take 1.6 GB in float32).

With ``neighbours = k``, each column of ``B`` keeps only its ``k`` weights largest in magnitude
(what most moves that item's score, up or down) and ``B`` is stored sparse: the servable form,
small enough to publish with every model version (a dense ``B`` of Last.fm 2k's kept items is
hundreds of MB; 200 a column are about 8 bytes x 200 per item).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import LinAlgError, get_lapack_funcs
from threadpoolctl import threadpool_limits

from models.item_item import ItemItemRecommender

BLOCK = 2048


class EASE(ItemItemRecommender):
    """EASE recommender (Embarrassingly Shallow Autoencoder) for implicit feedback.

    Parameters
    ----------
    regularization
        lambda, added to the Gram matrix's diagonal. 100 ranks best on a validation split of
        Last.fm 2k (``streamproc tune``).
    min_count
        Items with fewer listeners are left out: they score 0 and are never recommended.
    max_items
        The most kept items :meth:`fit` accepts (ValueError beyond: raise ``min_count``).
    num_threads
        BLAS threads for the inverse (None: threadpoolctl's default, every core).
    dtype
        Of the Gram matrix, its inverse and ``similarity_``.
    neighbours
        None: ``similarity_`` is the dense ``B``. k: only each column's ``k`` weights largest in
        magnitude are kept, in a CSR matrix.

    Attributes
    ----------
    similarity_
        ``B`` on the kept items, a dense (kept, kept) array, or CSR with ``neighbours``; ``items_``, ``position_``,
        ``n_items_`` as in :class:`~models.item_item.ItemItemRecommender`.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> plays = np.kron(np.eye(2), np.ones((3, 3))) * 5    # two blocks of 3 users x 3 items
    >>> np.fill_diagonal(plays, 0)                           # user u has not played item u
    >>> plays = sp.csr_matrix(plays)
    >>> model = EASE(regularization=1.0, min_count=1).fit(plays)
    >>> [model.recommend(u, n=1, user_items=plays)[0].tolist() for u in range(6)]
    [[0], [1], [2], [3], [4], [5]]
    >>> sorted(item for item, _ in model.explain(plays[0], 0))
    [1, 2]
    >>> pruned = EASE(regularization=1.0, min_count=1, neighbours=2).fit(plays)
    >>> pruned.similarity_.getnnz(axis=0).tolist(), pruned.recommend(0, n=1, user_items=plays)[0].tolist()
    ([2, 2, 2, 2, 2, 2], [0])

    References
    ----------
    Harald Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019.
    """

    def __init__(self, regularization: float = 100.0, min_count: int = 2, max_items: int = 20_000,
                 num_threads: int | None = None, dtype=np.float32, neighbours: int | None = None):
        self.regularization = regularization
        self.min_count = min_count
        self.max_items = max_items
        self.num_threads = num_threads
        self.dtype = dtype
        self.neighbours = neighbours

    def _check_params(self) -> None:
        super()._check_params()
        if not np.isfinite(self.regularization) or self.regularization <= 0:
            raise ValueError(f"regularization must be a positive number, got {self.regularization!r}")
        if self.max_items < 1:
            raise ValueError(f"max_items must be >= 1, got {self.max_items!r}")
        if self.neighbours is not None and (isinstance(self.neighbours, bool)
                                            or not isinstance(self.neighbours, (int, np.integer)) or self.neighbours < 1):
            raise ValueError(f"neighbours must be None or an integer >= 1, got {self.neighbours!r}")

    def _check_catalogue(self, kept: int) -> None:
        if kept > self.max_items:
            gib = kept * kept * np.dtype(self.dtype).itemsize / 2**30
            raise ValueError(f"EASE would invert a dense {kept} x {kept} matrix ({gib:.1f} GiB) for the items with "
                             f"min_count={self.min_count} listeners, more than max_items={self.max_items}; "
                             f"raise min_count or max_items")

    def _learn(self, X: sp.csr_matrix) -> np.ndarray | sp.csr_matrix:
        P = gram(X, self.dtype)
        P[np.diag_indices_from(P)] += self.regularization
        with threadpool_limits(self.num_threads):
            spd_inverse(P)
        P /= -np.diag(P).copy()
        np.fill_diagonal(P, 0.0)
        return P if self.neighbours is None else strongest_per_column(P, self.neighbours)


def strongest_per_column(matrix: np.ndarray, k: int, block: int = 512) -> sp.csr_matrix:
    """Return the dense ``matrix`` as CSR with only each column's ``k`` entries largest in magnitude (zeros dropped).

    Columns are taken ``block`` at a time, so the selection's index array stays small beside ``matrix``.

    >>> strongest_per_column(np.array([[1.0, -5.0], [-3.0, 2.0], [2.0, 0.0]]), 1).toarray().tolist()
    [[0.0, -5.0], [-3.0, 0.0], [0.0, 0.0]]
    """
    rows, columns = matrix.shape
    k = min(k, rows)
    pieces = []
    for start in range(0, columns, block):
        part = matrix[:, start:start + block]
        chosen = np.argpartition(-np.abs(part), k - 1, axis=0)[:k]
        values = np.take_along_axis(part, chosen, axis=0)
        pieces.append(sp.csc_matrix((values.T.ravel(), chosen.T.ravel().astype(np.int32),
                                     np.arange(0, values.size + 1, k)), shape=(rows, part.shape[1])))
    result = sp.hstack(pieces, format="csr")
    result.eliminate_zeros()
    result.sort_indices()
    return result


def gram(X: sp.csr_matrix, dtype, block: int = BLOCK) -> np.ndarray:
    """Return the dense ``X^T X`` (columns, columns) of sparse ``X``, a block of columns at a time.

    The sparse product of the whole matrix would hold nearly every pair of items as a
    nonzero, several times the dense result; a block of it stays small.

    >>> X = sp.csr_matrix(np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]]))
    >>> gram(X, np.float64, block=2).tolist()
    [[1.0, 1.0, 0.0], [1.0, 2.0, 1.0], [0.0, 1.0, 1.0]]
    """
    X = X.astype(dtype)
    left, right = X.T.tocsr(), X.tocsc()
    n = X.shape[1]
    result = np.empty((n, n), dtype=dtype)
    for start in range(0, n, block):
        result[:, start:start + block] = (left @ right[:, start:start + block]).toarray()
    return result


def spd_inverse(matrix: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """Overwrite the symmetric positive definite C-ordered ``matrix`` with its inverse and return it.

    LAPACK's Cholesky factor then inverse (potrf, potri) take half the flops of an LU inverse
    and work in place; they fill one triangle, mirrored here a block at a time.

    >>> A = np.array([[4.0, 1.0], [1.0, 3.0]])
    >>> np.allclose(spd_inverse(A.copy()), np.linalg.inv(A))
    True
    """
    if not matrix.flags.c_contiguous or matrix.shape[0] != matrix.shape[1]:
        raise ValueError("spd_inverse needs a square C-contiguous matrix")
    # The transpose is the same symmetric matrix in Fortran order, which LAPACK takes without a copy;
    # its upper triangle is the C-ordered matrix's lower one.
    fortran = matrix.T
    potrf, potri = get_lapack_funcs(("potrf", "potri"), (fortran,))
    factor, info = potrf(fortran, lower=False, overwrite_a=True, clean=False)
    if info:
        raise LinAlgError(f"the regularised Gram matrix is not positive definite (potrf info {info})")
    inverse, info = potri(factor, lower=False, overwrite_c=True)
    if info:
        raise LinAlgError(f"the regularised Gram matrix is singular (potri info {info})")
    if not np.shares_memory(inverse, matrix):
        matrix[...] = inverse.T
    n = matrix.shape[0]
    for start in range(0, n, block):
        stop = min(start + block, n)
        square = matrix[start:stop, start:stop]
        square[...] = np.tril(square) + np.tril(square, -1).T
        matrix[start:stop, stop:] = matrix[stop:, start:stop].T
    return matrix
