"""Least-squares sweeps of implicit ALS: one side's factors against the other side's, fixed.

For row ``u`` of a confidence matrix with ``W = C - 1`` (zero off the interactions) both
solvers target::

    (YtY + lambda_u I + Y_u^T W_u Y_u) x_u = Y_u^T (1 + W_u)

where ``Y_u`` holds the factors of the row's items. ``cg_sweep`` runs a few conjugate
gradient steps from the current factors for every row at once; ``exact_sweep`` builds and
solves each (k, k) system. Rows are processed in chunks of about ``nnz_budget`` nonzeros
(by default :func:`chunk_budget`), so the gathered (nnz, k) arrays stay bounded whatever
the matrix size, and the chunks are shared among ``workers`` threads (np.take, einsum,
LAPACK and scipy's sparse products release the GIL).

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

MIN_CHUNK, MAX_CHUNK = 1 << 12, 1 << 15


def chunk_budget(nnz: int) -> int:
    """Return the nonzeros per chunk for a matrix of ``nnz``: a 64th of it, within [4096, 32768].

    Small chunks keep the gathered (nnz, k) arrays small next to the factors; past a few
    thousand nonzeros, though, the per-chunk Python overhead dominates large matrices.

    >>> chunk_budget(74_000), chunk_budget(1_000_000), chunk_budget(10_000_000)
    (4096, 15625, 32768)
    """
    return int(np.clip(nnz // 64, MIN_CHUNK, MAX_CHUNK))


def row_chunks(indptr: np.ndarray, nnz_budget: int = MIN_CHUNK) -> Iterator[tuple[int, int]]:
    """Yield ``(start, stop)`` row ranges of a CSR matrix holding about ``nnz_budget`` nonzeros each.

    >>> list(row_chunks(np.array([0, 2, 4, 5]), nnz_budget=3))
    [(0, 1), (1, 3)]
    """
    n_rows = len(indptr) - 1
    start = 0
    while start < n_rows:
        stop = int(np.searchsorted(indptr, indptr[start] + nnz_budget, side="right")) - 1
        stop = min(max(stop, start + 1), n_rows)
        yield start, stop
        start = stop


def _chunk(W: sp.csr_matrix, start: int, stop: int) -> sp.csr_matrix:
    """Return rows ``start:stop`` of ``W`` sharing its arrays."""
    lo, hi = W.indptr[start], W.indptr[stop]
    return sp.csr_matrix((W.data[lo:hi], W.indices[lo:hi], W.indptr[start:stop + 1] - lo),
                         shape=(stop - start, W.shape[1]))


def nonzero_error(W: sp.csr_matrix, X: np.ndarray, Y: np.ndarray, nnz_budget: int | None = None,
                  workers: int = 1) -> float:
    """Return ``sum (1 + w)(1 - d)^2 - d^2`` over the nonzeros ``w`` of ``W``, with ``d = X[u] . Y[i]``.

    It is what the observed pairs add to the loss beyond ``sum_all d^2``; it is summed
    chunk by chunk in float64 so no nnz-long temporary is ever built.

    >>> nonzero_error(sp.csr_matrix(np.array([[0.0, 1.0]])), np.array([[1.0]]), np.array([[3.0], [0.5]]))
    0.25
    """
    partial_sums: list[float] = []

    def work(start: int, stop: int) -> None:
        lo, hi = W.indptr[start], W.indptr[stop]
        owners = np.repeat(np.arange(start, stop), np.diff(W.indptr[start:stop + 1]))
        dots = np.einsum("nk,nk->n", np.take(X, owners, axis=0), np.take(Y, W.indices[lo:hi], axis=0))
        dots = dots.astype(np.float64)
        partial_sums.append(float(np.sum((1.0 + W.data[lo:hi]) * (1.0 - dots) ** 2 - dots ** 2)))

    _run_chunks(W, work, nnz_budget, workers)
    return sum(partial_sums)


def _run_chunks(W: sp.csr_matrix, work: Callable[[int, int], None], nnz_budget: int | None, workers: int) -> None:
    """Call ``work(start, stop)`` on every row chunk, on ``workers`` threads, with at least one chunk per thread.

    ``nnz_budget`` None means :func:`chunk_budget`.
    """
    budget = min(nnz_budget or chunk_budget(W.nnz), -(-W.nnz // max(workers, 1)) + 1)
    chunks = list(row_chunks(W.indptr, budget))
    if workers <= 1 or len(chunks) == 1:
        for start, stop in chunks:
            work(start, stop)
        return
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda bounds: work(*bounds), chunks))


def cg_sweep(W: sp.csr_matrix, X: np.ndarray, Y: np.ndarray, YtY: np.ndarray, reg: np.ndarray,
             steps: int = 3, nnz_budget: int | None = None, workers: int = 1) -> None:
    """Improve every row of ``X`` in place by ``steps`` conjugate gradient steps, warm-started.

    ``reg`` is each row's ``lambda_u``. Per chunk the item factors are gathered once; each
    step then costs one sampled dot product per nonzero and one sparse-dense product.
    """
    def work(start: int, stop: int) -> None:
        chunk = _chunk(W, start, stop)
        # np.take releases the GIL where fancy indexing and np.repeat do not.
        owners = np.repeat(np.arange(stop - start), np.diff(chunk.indptr))
        gathered = np.take(Y, chunk.indices, axis=0)
        lam = reg[start:stop, None].astype(X.dtype)
        # One matrix whose data is overwritten for every product, to skip CSR validation.
        product = chunk.copy()

        def dots(vectors: np.ndarray) -> np.ndarray:
            return np.einsum("nk,nk->n", gathered, np.take(vectors, owners, axis=0))

        x = X[start:stop]
        product.data = 1.0 + chunk.data * (1.0 - dots(x))
        r = product @ Y - x @ YtY - lam * x
        p = r.copy()
        rs_old = np.einsum("ij,ij->i", r, r)
        for _ in range(steps):
            product.data = chunk.data * dots(p)
            Ap = p @ YtY + lam * p + product @ Y
            curvature = np.einsum("ij,ij->i", p, Ap)
            # A converged row has p = 0; leave it untouched instead of dividing 0 by 0.
            step = np.divide(rs_old, curvature, out=np.zeros_like(rs_old), where=curvature > 0)
            x += step[:, None] * p
            r -= step[:, None] * Ap
            rs_new = np.einsum("ij,ij->i", r, r)
            beta = np.divide(rs_new, rs_old, out=np.zeros_like(rs_new), where=rs_old > 0)
            p = r + beta[:, None] * p
            rs_old = rs_new

    _run_chunks(W, work, nnz_budget, workers)


def exact_sweep(W: sp.csr_matrix, Y: np.ndarray, YtY: np.ndarray, reg: np.ndarray,
                nnz_budget: int | None = None, workers: int = 1) -> np.ndarray:
    """Return the exact least-squares factors of every row, solving batched (k, k) systems.

    Rows are grouped by length rounded up to a power of two and padded with a zero factor,
    so each group's Gram matrices ``Y_u^T W_u Y_u`` are one batched matrix product.
    """
    n_rows, k = W.shape[0], Y.shape[1]
    X = np.zeros((n_rows, k), dtype=Y.dtype)
    padded_factors = np.vstack([Y, np.zeros((1, k), dtype=Y.dtype)])
    eye = np.eye(k, dtype=Y.dtype)

    def solve(rows: np.ndarray) -> None:
        starts, lengths = W.indptr[rows], np.diff(W.indptr)[rows]
        width = int(lengths.max(initial=0))
        offsets = np.arange(width)
        inside = offsets < lengths[:, None]
        positions = np.where(inside, starts[:, None] + offsets, 0)
        items = np.where(inside, W.indices[positions], len(Y))
        weights = np.where(inside, W.data[positions], 0).astype(Y.dtype)
        gathered = np.take(padded_factors, items, axis=0)
        A = np.matmul((gathered * weights[..., None]).transpose(0, 2, 1), gathered)
        A += YtY + reg[rows, None, None].astype(Y.dtype) * eye
        b = np.einsum("nl,nlk->nk", 1.0 + weights * inside, gathered * inside[..., None])
        X[rows] = np.linalg.solve(A, b[..., None])[..., 0]

    budget = nnz_budget or chunk_budget(W.nnz)
    lengths = np.diff(W.indptr)
    groups = np.ceil(np.log2(np.maximum(lengths, 1))).astype(np.int64)
    batches = []
    for group in np.unique(groups):
        rows = np.flatnonzero(groups == group)
        # Bound both the gathered (rows, width, k) and the Gram (rows, k, k) arrays.
        per_batch = max(1, budget // max(1 << int(group), k))
        batches += [rows[i:i + per_batch] for i in range(0, len(rows), per_batch)]
    if workers <= 1:
        for rows in batches:
            solve(rows)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(solve, batches))
    return X
