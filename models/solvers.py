"""Least-squares sweeps of implicit ALS: one side's factors against the other side's, fixed.

For row ``u`` of a confidence matrix with ``W = C - 1`` (zero off the interactions) both
solvers target::

    (YtY + lambda_u I + Y_u^T W_u Y_u) x_u = Y_u^T (1 + W_u)

where ``Y_u`` holds the factors of the row's items. ``cg_sweep`` runs a few conjugate
gradient steps from the current factors for every row at once; ``exact_sweep`` builds and
solves each (k, k) system. Rows are grouped by length, each length rounded up a little
(:func:`padded_widths`), and a batch of rows of one width gathers its item factors into a
(rows, width, k) array of at most ``nnz_budget`` entries, so every product over the rows'
items is one batched matrix product on an array that stays in cache. A row longer than
the budget is its own batch and gathers its factors piece by piece. Batches are shared
among ``workers`` threads (np.take, matmul and LAPACK release the GIL).

>>> import numpy as np, scipy.sparse as sp
>>> W = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 2.0]]))
>>> Y = np.eye(2)
>>> X = exact_sweep(W, Y, Y.T @ Y, np.full(2, 0.5))
>>> X.round(3).tolist()
[[0.8, 0.0], [0.0, 0.857]]
>>> X0 = np.zeros((2, 2)); cg_sweep(W, X0, Y, Y.T @ Y, np.full(2, 0.5), steps=2)
>>> np.allclose(X0, X)
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

NNZ_BUDGET = 4096
MIN_WIDTH = 8


def padded_widths(lengths: np.ndarray) -> np.ndarray:
    """Return each row length rounded up to ``m * 2**e`` with ``4 <= m < 8``: less than a quarter is padding.

    >>> padded_widths(np.array([0, 3, 8, 9, 17, 100])).tolist()
    [0, 3, 8, 10, 20, 112]
    """
    shift = np.maximum(np.floor(np.log2(np.maximum(lengths, 1))).astype(np.int64) - 2, 0)
    return -(-lengths >> shift) << shift


def row_batches(indptr: np.ndarray, nnz_budget: int = NNZ_BUDGET) -> Iterator[tuple[np.ndarray, int]]:
    """Yield ``(rows, width)``: rows of one padded width, at most ``nnz_budget`` padded entries a batch.

    A batch also holds at most ``nnz_budget / MIN_WIDTH`` rows, so its (rows, k) vectors
    stay small next to its gathered factors; a row wider than the budget comes alone.

    >>> [(rows.tolist(), width) for rows, width in row_batches(np.array([0, 2, 4, 5, 25]), nnz_budget=16)]
    [([2], 1), ([0, 1], 2), ([3], 20)]
    """
    widths = padded_widths(np.diff(indptr))
    order = np.argsort(widths, kind="stable")
    bounds = np.flatnonzero(np.diff(widths[order])) + 1
    for group in np.split(order, bounds):
        width = int(widths[group[0]])
        per_batch = max(1, nnz_budget // max(width, MIN_WIDTH))
        for start in range(0, len(group), per_batch):
            yield group[start:start + per_batch], width


class _Gathered:
    """The item factors of a few rows, gathered: (rows, width, k), with each entry's weight ``w``.

    Padding entries point at any item with weight 0 and ``base`` 0, so they add nothing.
    """

    def __init__(self, Y: np.ndarray, items: np.ndarray, weights: np.ndarray, inside: np.ndarray):
        self.factors = np.take(Y, items, axis=0)
        self.weights = weights
        self.base = inside + weights  # 1 + w on the row's items, 0 on padding

    @classmethod
    def padded(cls, W: sp.csr_matrix, Y: np.ndarray, rows: np.ndarray, width: int) -> "_Gathered":
        """Gather ``rows`` of ``W``, each padded to ``width``."""
        starts = W.indptr[rows]
        offsets = np.arange(width)
        inside = offsets < (W.indptr[rows + 1] - starts)[:, None]
        positions = np.where(inside, starts[:, None] + offsets, 0)
        weights = np.where(inside, np.take(W.data, positions), 0).astype(Y.dtype)
        return cls(Y, np.take(W.indices, positions), weights, inside.astype(Y.dtype))

    @classmethod
    def piece(cls, W: sp.csr_matrix, Y: np.ndarray, lo: int, hi: int) -> "_Gathered":
        """Gather the nonzeros ``lo:hi`` of ``W`` as one row."""
        weights = W.data[None, lo:hi].astype(Y.dtype, copy=False)
        return cls(Y, W.indices[None, lo:hi], weights, np.ones_like(weights))

    def dots(self, x: np.ndarray) -> np.ndarray:
        """Return ``x_u . y_i`` for every entry, (rows, width)."""
        return np.matmul(self.factors, x[:, :, None])[:, :, 0]

    def combine(self, coefficients: np.ndarray) -> np.ndarray:
        """Return ``sum_i coefficient_ui y_i`` per row, (rows, k)."""
        return np.matmul(coefficients[:, None, :], self.factors)[:, 0]

    def apply(self, p: np.ndarray, residual: bool = False) -> np.ndarray:
        """Return ``Y_u^T W_u Y_u p_u`` per row, or with ``residual`` ``Y_u^T (1 + W_u) - Y_u^T W_u Y_u p_u``."""
        coefficients = self.weights * self.dots(p)
        return self.combine(self.base - coefficients if residual else coefficients)

    def rhs(self) -> np.ndarray:
        """Return ``Y_u^T (1 + W_u)`` per row, (rows, k)."""
        return self.combine(self.base)

    def gram(self) -> np.ndarray:
        """Return ``Y_u^T W_u Y_u`` per row, (rows, k, k)."""
        return np.matmul((self.factors * self.weights[:, :, None]).transpose(0, 2, 1), self.factors)

    def error(self, x: np.ndarray) -> float:
        """Return ``sum (1 + w)(1 - d)^2 - d^2`` over the rows' entries, ``d = x_u . y_i``."""
        d = self.dots(x).astype(np.float64)
        return float(np.sum(self.base * (1.0 - 2.0 * d) + self.weights * d * d))


class _Pieces:
    """One row longer than the budget, with the products of :class:`_Gathered`; its pieces are gathered at each use."""

    def __init__(self, W: sp.csr_matrix, Y: np.ndarray, row: int, nnz_budget: int):
        self.W, self.Y = W, Y
        start, stop = int(W.indptr[row]), int(W.indptr[row + 1])
        self.bounds = [(lo, min(lo + nnz_budget, stop)) for lo in range(start, stop, nnz_budget)]

    def _each(self) -> Iterator[_Gathered]:
        for lo, hi in self.bounds:
            yield _Gathered.piece(self.W, self.Y, lo, hi)

    def apply(self, p: np.ndarray, residual: bool = False) -> np.ndarray:
        return sum(piece.apply(p, residual) for piece in self._each())

    def rhs(self) -> np.ndarray:
        return sum(piece.rhs() for piece in self._each())

    def gram(self) -> np.ndarray:
        return sum(piece.gram() for piece in self._each())

    def error(self, x: np.ndarray) -> float:
        return sum(piece.error(x) for piece in self._each())


def _gather(W: sp.csr_matrix, Y: np.ndarray, rows: np.ndarray, width: int,
            nnz_budget: int) -> _Gathered | _Pieces:
    if width > nnz_budget:
        return _Pieces(W, Y, int(rows[0]), nnz_budget)
    return _Gathered.padded(W, Y, rows, width)


def _run(W: sp.csr_matrix, work: Callable[[np.ndarray, int], None], nnz_budget: int, workers: int) -> None:
    """Call ``work(rows, width)`` on every batch of :func:`row_batches`, on ``workers`` threads."""
    batches = row_batches(W.indptr, nnz_budget)
    if workers <= 1:
        for rows, width in batches:
            work(rows, width)
        return
    batches = list(batches)

    def share(first: int) -> None:
        for rows, width in batches[first::workers]:
            work(rows, width)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(share, range(workers)))


def nonzero_error(W: sp.csr_matrix, X: np.ndarray, Y: np.ndarray, nnz_budget: int = NNZ_BUDGET,
                  workers: int = 1) -> float:
    """Return ``sum (1 + w)(1 - d)^2 - d^2`` over the nonzeros ``w`` of ``W``, with ``d = X[u] . Y[i]``.

    It is what the observed pairs add to the loss beyond ``sum_all d^2``; it is summed
    batch by batch in float64 so no nnz-long temporary is ever built.

    >>> nonzero_error(sp.csr_matrix(np.array([[0.0, 1.0]])), np.array([[1.0]]), np.array([[3.0], [0.5]]))
    0.25
    """
    partial_sums: list[float] = []

    def work(rows: np.ndarray, width: int) -> None:
        partial_sums.append(_gather(W, Y, rows, width, nnz_budget).error(X[rows]))

    _run(W, work, nnz_budget, workers)
    return sum(partial_sums)


def cg_sweep(W: sp.csr_matrix, X: np.ndarray, Y: np.ndarray, YtY: np.ndarray, reg: np.ndarray,
             steps: int = 3, nnz_budget: int = NNZ_BUDGET, workers: int = 1) -> None:
    """Improve every row of ``X`` in place by ``steps`` conjugate gradient steps, warm-started.

    ``reg`` is each row's ``lambda_u``. Per batch the item factors are gathered once; each
    step then costs two batched matrix-vector products over them.
    """
    def work(rows: np.ndarray, width: int) -> None:
        system = _gather(W, Y, rows, width, nnz_budget)
        lam = reg[rows, None].astype(X.dtype)
        x = X[rows]
        r = system.apply(x, residual=True) - x @ YtY - lam * x
        p = r.copy()
        rs_old = np.einsum("ij,ij->i", r, r)
        for _ in range(steps):
            Ap = p @ YtY + lam * p + system.apply(p)
            curvature = np.einsum("ij,ij->i", p, Ap)
            # A converged row has p = 0; leave it untouched instead of dividing 0 by 0.
            step = np.divide(rs_old, curvature, out=np.zeros_like(rs_old), where=curvature > 0)
            x += step[:, None] * p
            r -= step[:, None] * Ap
            rs_new = np.einsum("ij,ij->i", r, r)
            beta = np.divide(rs_new, rs_old, out=np.zeros_like(rs_new), where=rs_old > 0)
            p = r + beta[:, None] * p
            rs_old = rs_new
        X[rows] = x

    _run(W, work, nnz_budget, workers)


def exact_sweep(W: sp.csr_matrix, Y: np.ndarray, YtY: np.ndarray, reg: np.ndarray,
                nnz_budget: int = NNZ_BUDGET, workers: int = 1) -> np.ndarray:
    """Return the exact least-squares factors of every row, solving batched (k, k) systems."""
    X = np.zeros((W.shape[0], Y.shape[1]), dtype=Y.dtype)
    eye = np.eye(Y.shape[1], dtype=Y.dtype)

    def work(rows: np.ndarray, width: int) -> None:
        system = _gather(W, Y, rows, width, nnz_budget)
        A = system.gram() + YtY + reg[rows, None, None].astype(Y.dtype) * eye
        X[rows] = np.linalg.solve(A, system.rhs()[..., None])[..., 0]

    _run(W, work, nnz_budget, workers)
    return X
