"""Least-squares sweeps of implicit ALS: one side's factors against the other side's, fixed.

For row ``u`` of a confidence matrix with ``W = C - 1`` (zero off the interactions) both
solvers target::

    (YtY + lambda_u I + Y_u^T W_u Y_u) x_u = Y_u^T (1 + W_u)

where ``Y_u`` holds the factors of the row's items. ``cg_sweep`` runs a few conjugate
gradient steps from the current factors for every row at once; ``exact_sweep`` solves each
system, as an (n, n) one for a row of n <= k/2 items (Woodbury). Rows are grouped by length, each length rounded up a little
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

import dataclasses
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

# 8192 entries are 2 MiB of factors at k=64, about one core's L2: larger batches run their
# products from slower cache, smaller ones pay more per-batch Python and GIL hand-offs.
NNZ_BUDGET = 8192
MIN_WIDTH = 8


def padded_widths(lengths: np.ndarray) -> np.ndarray:
    """Return each row length rounded up to ``m * 2**e`` with ``4 <= m < 8``: less than a quarter is padding.

    >>> padded_widths(np.array([0, 3, 8, 9, 17, 100])).tolist()
    [0, 3, 8, 10, 20, 112]
    """
    shift = np.maximum(np.floor(np.log2(np.maximum(lengths, 1))).astype(np.int64) - 2, 0)
    return -(-lengths >> shift) << shift


def row_batches(indptr: np.ndarray, nnz_budget: int = NNZ_BUDGET,
                min_width: int = MIN_WIDTH) -> Iterator[tuple[np.ndarray, int]]:
    """Yield ``(rows, width)``: rows of one padded width, at most ``nnz_budget`` padded entries a batch.

    A batch also holds at most ``nnz_budget / min_width`` rows, so what it keeps per row
    (``min_width`` numbers) stays within the budget too; a row wider than the budget comes alone.

    >>> [(rows.tolist(), width) for rows, width in row_batches(np.array([0, 2, 4, 5, 25]), nnz_budget=16)]
    [([2], 1), ([0, 1], 2), ([3], 20)]
    """
    widths = padded_widths(np.diff(indptr))
    order = np.argsort(widths, kind="stable")
    bounds = np.flatnonzero(np.diff(widths[order])) + 1
    for group in np.split(order, bounds):
        width = int(widths[group[0]])
        per_batch = max(1, nnz_budget // max(width, min_width))
        for start in range(0, len(group), per_batch):
            yield group[start:start + per_batch], width


@dataclasses.dataclass(frozen=True)
class Eigenbasis:
    """A Gram matrix ``YtY = vectors diag(values) vectors^T`` (float64), in whose basis ``YtY + lambda I``
    is diagonal whatever the lambda. Fixed for fixed factors, so a fitted model keeps its items' one.

    >>> basis = Eigenbasis.of(np.diag([3.0, 1.0]))
    >>> basis.values.tolist(), basis.inverse(np.array([[1.0]]), np.float64).tolist()
    ([1.0, 3.0], [[0.5, 0.25]])
    """

    values: np.ndarray
    vectors: np.ndarray

    @classmethod
    def of(cls, gram: np.ndarray) -> "Eigenbasis":
        values, vectors = np.linalg.eigh(gram.astype(np.float64))
        return cls(values, vectors)

    def inverse(self, lam: np.ndarray, dtype) -> np.ndarray | None:
        """Return ``1 / (values + lambda)`` in ``dtype`` for each row's lambda in ``lam`` (rows, 1).

        None when some ``values + lambda`` is too small to invert safely in ``dtype`` (no lambda and a
        singular Gram matrix): the caller then solves the (k, k) system instead.
        """
        floor = np.finfo(dtype).eps * len(self.values) * max(self.values[-1], 1.0)
        if self.values[0] + lam.min() <= floor:
            return None
        return 1.0 / (self.values.astype(dtype) + lam)


def woodbury_pays(width: int, k: int) -> bool:
    """Return True when rows of ``width`` items solve faster by :func:`woodbury_solve` than as (k, k) systems."""
    return 2 * width <= k


def woodbury_solve(rotated: np.ndarray, weights: np.ndarray, inverse: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Return ``(S + R^T W R)^-1 rhs`` per row, everything in the eigenbasis of :class:`Eigenbasis`.

    ``rotated`` (rows, width, k) holds the rows' item factors times the basis vectors, ``weights``
    (rows, width) the diagonal of ``W``, ``inverse`` (rows, k) the diagonal of ``S^-1`` and ``rhs``
    is (rows, k, c). With ``U = W^1/2 R`` the Woodbury identity gives ``(S + U^T U)^-1 = S^-1 -
    S^-1 U^T (I + U S^-1 U^T)^-1 U S^-1``: a (width, width) solve instead of a (k, k) one.

    >>> R, w, d = np.array([[[1.0, 2.0]]]), np.array([[3.0]]), np.array([[0.5, 0.25]])
    >>> x = woodbury_solve(R, w, d, np.array([[[1.0], [1.0]]]))
    >>> np.allclose(x[0], np.linalg.solve(np.diag(1 / d[0]) + 3.0 * R[0].T @ R[0], [[1.0], [1.0]]))
    True
    """
    width = rotated.shape[1]
    x = inverse[:, :, None] * rhs
    U = rotated * np.sqrt(weights)[:, :, None]
    inner = np.matmul(U * inverse[:, None, :], U.transpose(0, 2, 1))
    inner += np.eye(width, dtype=inner.dtype)
    s = np.linalg.solve(inner, np.matmul(U, x))
    x -= inverse[:, :, None] * np.matmul(U.transpose(0, 2, 1), s)
    return x


class _Gathered:
    """The item factors of a few rows, gathered: (rows, width, k), with each entry's weight ``w``.

    Padding entries point at any item with weight 0 and ``base`` 0, so they add nothing.
    The factors are written into ``buffer``, the calling thread's, so no batch allocates them.
    """

    def __init__(self, Y: np.ndarray, items: np.ndarray, weights: np.ndarray, inside: np.ndarray,
                 buffer: np.ndarray):
        out = buffer[:items.size * Y.shape[1]].reshape(*items.shape, Y.shape[1])
        # mode="clip" (the items are valid anyway) lets np.take write into out without a temporary.
        self.factors = np.take(Y, items, axis=0, out=out, mode="clip")
        self.weights = weights
        self.base = inside + weights  # 1 + w on the row's items, 0 on padding

    @classmethod
    def padded(cls, W: sp.csr_matrix, Y: np.ndarray, rows: np.ndarray, width: int,
               buffer: np.ndarray) -> "_Gathered":
        """Gather ``rows`` of ``W``, each padded to ``width``."""
        starts = W.indptr[rows]
        offsets = np.arange(width)
        inside = offsets < (W.indptr[rows + 1] - starts)[:, None]
        positions = np.where(inside, starts[:, None] + offsets, 0)
        weights = np.where(inside, np.take(W.data, positions), 0).astype(Y.dtype)
        return cls(Y, np.take(W.indices, positions), weights, inside.astype(Y.dtype), buffer)

    @classmethod
    def piece(cls, W: sp.csr_matrix, Y: np.ndarray, lo: int, hi: int, buffer: np.ndarray) -> "_Gathered":
        """Gather the nonzeros ``lo:hi`` of ``W`` as one row."""
        weights = W.data[None, lo:hi].astype(Y.dtype, copy=False)
        return cls(Y, W.indices[None, lo:hi], weights, np.ones_like(weights), buffer)

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

    def solve_short(self, basis: Eigenbasis, inverse: np.ndarray) -> np.ndarray:
        """Return the exact factors of the rows, a (width, width) solve each instead of a (k, k) one.

        ``inverse`` is :meth:`Eigenbasis.inverse` of the rows' lambdas (see :func:`woodbury_solve`).
        """
        rows, width, k = self.factors.shape
        Q = basis.vectors.astype(self.factors.dtype)
        rotated = (self.factors.reshape(-1, k) @ Q).reshape(rows, width, k)
        rhs = np.matmul(self.base[:, None, :], rotated).transpose(0, 2, 1)
        return woodbury_solve(rotated, self.weights, inverse, rhs)[:, :, 0] @ Q.T


class _Pieces:
    """One row longer than the budget, with the products of :class:`_Gathered`; its pieces are gathered at each use."""

    def __init__(self, W: sp.csr_matrix, Y: np.ndarray, row: int, buffer: np.ndarray):
        self.W, self.Y, self.buffer = W, Y, buffer
        start, stop = int(W.indptr[row]), int(W.indptr[row + 1])
        size = len(buffer) // Y.shape[1]
        self.bounds = [(lo, min(lo + size, stop)) for lo in range(start, stop, size)]

    def _each(self) -> Iterator[_Gathered]:
        # Each piece is used up before the next one overwrites the buffer.
        for lo, hi in self.bounds:
            yield _Gathered.piece(self.W, self.Y, lo, hi, self.buffer)

    def apply(self, p: np.ndarray, residual: bool = False) -> np.ndarray:
        return sum(piece.apply(p, residual) for piece in self._each())

    def rhs(self) -> np.ndarray:
        return sum(piece.rhs() for piece in self._each())

    def gram(self) -> np.ndarray:
        return sum(piece.gram() for piece in self._each())

    def error(self, x: np.ndarray) -> float:
        return sum(piece.error(x) for piece in self._each())


def _run(W: sp.csr_matrix, Y: np.ndarray, work: Callable[[np.ndarray, _Gathered | _Pieces], None],
         nnz_budget: int, workers: int, min_width: int = MIN_WIDTH) -> None:
    """Call ``work(rows, gathered)`` on every batch of :func:`row_batches`, on ``workers`` threads.

    Each thread takes every ``workers``-th batch (they come sorted by width, so the shares
    are even) and gathers them all into one buffer of ``nnz_budget`` factors.
    """
    batches = list(row_batches(W.indptr, nnz_budget, min_width))
    workers = max(1, min(workers, len(batches)))

    def share(first: int) -> None:
        buffer = np.empty(nnz_budget * Y.shape[1], dtype=Y.dtype)
        for rows, width in batches[first::workers]:
            gathered = (_Pieces(W, Y, int(rows[0]), buffer) if width > nnz_budget
                        else _Gathered.padded(W, Y, rows, width, buffer))
            work(rows, gathered)

    if workers == 1:
        share(0)
        return
    # The calling thread takes the first share: one thread fewer, so one malloc arena
    # fewer holding freed temporaries (glibc gives each thread its own).
    with ThreadPoolExecutor(workers - 1) as pool:
        others = [pool.submit(share, first) for first in range(1, workers)]
        share(0)
        for other in others:
            other.result()


def nonzero_error(W: sp.csr_matrix, X: np.ndarray, Y: np.ndarray, nnz_budget: int = NNZ_BUDGET,
                  workers: int = 1) -> float:
    """Return ``sum (1 + w)(1 - d)^2 - d^2`` over the nonzeros ``w`` of ``W``, with ``d = X[u] . Y[i]``.

    It is what the observed pairs add to the loss beyond ``sum_all d^2``; it is summed
    batch by batch in float64 so no nnz-long temporary is ever built.

    >>> nonzero_error(sp.csr_matrix(np.array([[0.0, 1.0]])), np.array([[1.0]]), np.array([[3.0], [0.5]]))
    0.25
    """
    partial_sums: list[float] = []

    def work(rows: np.ndarray, gathered: _Gathered | _Pieces) -> None:
        partial_sums.append(gathered.error(X[rows]))

    _run(W, Y, work, nnz_budget, workers)
    return sum(partial_sums)


def cg_sweep(W: sp.csr_matrix, X: np.ndarray, Y: np.ndarray, YtY: np.ndarray, reg: np.ndarray,
             steps: int = 3, nnz_budget: int = NNZ_BUDGET, workers: int = 1, error: bool = False) -> float | None:
    """Improve every row of ``X`` in place by ``steps`` conjugate gradient steps, warm-started.

    ``reg`` is each row's ``lambda_u``. Per batch the item factors are gathered once; each
    step then costs two batched matrix-vector products over them. With ``error``, return
    :func:`nonzero_error` of the improved ``X``, summed while the factors are still gathered.
    """
    partial_sums: list[float] = []
    lams = reg.astype(X.dtype)
    tiny = np.finfo(X.dtype).tiny

    def work(rows: np.ndarray, system: _Gathered | _Pieces) -> None:
        lam = lams[rows, None]
        x = X[rows]
        r = system.apply(x, residual=True)
        r -= x @ YtY
        r -= lam * x
        p = r.copy()
        rs_old = np.vecdot(r, r)
        for _ in range(steps):
            Ap = p @ YtY
            Ap += lam * p
            Ap += system.apply(p)
            # A converged row has p = 0 and rs_old = 0: tiny makes its step 0 rather than 0 / 0.
            step = (rs_old / (np.vecdot(p, Ap) + tiny))[:, None]
            x += step * p
            r -= step * Ap
            rs_new = np.vecdot(r, r)
            p *= (rs_new / (rs_old + tiny))[:, None]
            p += r
            rs_old = rs_new
        X[rows] = x
        if error:
            partial_sums.append(system.error(x))

    _run(W, Y, work, nnz_budget, workers)
    return sum(partial_sums) if error else None


def exact_sweep(W: sp.csr_matrix, Y: np.ndarray, YtY: np.ndarray, reg: np.ndarray,
                nnz_budget: int = NNZ_BUDGET, workers: int = 1, out: np.ndarray | None = None,
                basis: Eigenbasis | None = None) -> np.ndarray:
    """Return the exact least-squares factors of every row, solving batched systems, written into ``out`` if given.

    Rows of at most k/2 items (most rows of a long-tailed matrix) solve (n, n) systems
    through :meth:`_Gathered.solve_short`, in ``basis`` (YtY's :class:`Eigenbasis`, computed
    here when not given); longer rows build and solve their (k, k) system. A batch holds at
    most ``nnz_budget / 2k`` rows, so its (rows, k, k) systems and their copies in LAPACK
    stay about as large as its gathered factors.
    """
    k = Y.shape[1]
    X = np.empty((W.shape[0], k), dtype=Y.dtype) if out is None else out
    eye = np.eye(k, dtype=Y.dtype)
    lams = reg.astype(Y.dtype)
    basis = basis or Eigenbasis.of(YtY)

    def work(rows: np.ndarray, system: _Gathered | _Pieces) -> None:
        lam = lams[rows, None]
        short = isinstance(system, _Gathered) and woodbury_pays(system.factors.shape[1], k)
        inverse = basis.inverse(lam, Y.dtype) if short else None
        if inverse is not None:
            X[rows] = system.solve_short(basis, inverse)
            return
        A = system.gram() + YtY + lam[:, :, None] * eye
        X[rows] = np.linalg.solve(A, system.rhs()[..., None])[..., 0]

    _run(W, Y, work, nnz_budget, workers, min_width=2 * k)
    return X
