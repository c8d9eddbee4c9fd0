"""Why an implicit ALS model recommends an item, for many users at once (Hu, Koren and Volinsky 2008, section 5).

With ``A_u = YtY + Y_u^T W_u Y_u + lambda_u I`` (``W = C - 1``), user ``u``'s score of item ``i``
is ``sum_j (y_i^T A_u^-1 y_j) c_uj`` over the user's items ``j``: each term is what item ``j``
contributes. :func:`top_contributions` solves the users' ``A_u`` batched, rows of similar length
together, in float64; a row of few items (most of a stream's users) through the Woodbury identity
in YtY's eigenbasis (:func:`models.solvers.woodbury_solve`), a (width, width) system instead of A_u.

>>> import scipy.sparse as sp
>>> Y = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
>>> W = sp.csr_matrix(np.array([[2.0, 0.0, 1.0]]))
>>> found, values = top_contributions(Y, Y.T @ Y, W, np.array([0.1]), np.array([[1]]), n=2)
>>> found.tolist()
[[[0, 2]]]
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from models.ranking import best_per_row
from models.solvers import Eigenbasis, row_batches, woodbury_pays, woodbury_solve


def top_contributions(Y: np.ndarray, YtY: np.ndarray, W: sp.csr_matrix, reg: np.ndarray, items: np.ndarray,
                      n: int = 3, basis: Eigenbasis | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return, for each row ``u`` of ``W`` and each item in ``items[u]``, row ``u``'s ``n`` items contributing most to its score.

    ``W`` holds the confidence minus one of each user's items and ``reg`` each user's lambda;
    ``items`` is (users, m), -1 where a user has fewer than m items to explain; ``basis`` is
    YtY's :class:`~models.solvers.Eigenbasis` (computed here when not given). Returns (users,
    m, n) item indices, largest contribution first (-1 past a user's own items), and their
    contributions.
    """
    users, m = items.shape
    found = np.full((users, m, n), -1, dtype=np.int64)
    values = np.zeros((users, m, n))
    k = Y.shape[1]
    lengths = np.diff(W.indptr)
    basis = basis or Eigenbasis.of(YtY)
    for rows, width in row_batches(W.indptr, min_width=k):
        if width == 0 or m == 0:
            continue
        inside = np.arange(width) < lengths[rows, None]
        positions = np.where(inside, W.indptr[rows, None] + np.arange(width), 0)
        columns = W.indices[positions]
        weights = np.where(inside, W.data[positions], 0.0)
        gathered = Y[columns].astype(np.float64)
        targets = Y[np.maximum(items[rows], 0)].astype(np.float64)
        inverse = basis.inverse(reg[rows, None], np.float64) if woodbury_pays(width, k) else None
        if inverse is not None:
            rotated = gathered @ basis.vectors
            solved = woodbury_solve(rotated, weights, inverse, (targets @ basis.vectors).transpose(0, 2, 1))
            contributions = np.matmul(rotated, solved)
        else:
            A = np.matmul((gathered * weights[..., None]).transpose(0, 2, 1), gathered)
            A += YtY + reg[rows, None, None] * np.eye(k)
            contributions = np.matmul(gathered, np.linalg.solve(A, targets.transpose(0, 2, 1)))
        contributions *= (1.0 + weights)[..., None]
        contributions[~inside] = -np.inf
        # One row per (user, item to explain), its user's items along it.
        order, best = best_per_row(contributions.transpose(0, 2, 1).reshape(-1, width), n)
        order, best = order.reshape(len(rows), m, -1), best.reshape(len(rows), m, -1)
        chosen = columns[np.arange(len(rows))[:, None, None], order]
        kept = np.isfinite(best)
        found[rows, :, :best.shape[2]] = np.where(kept, chosen, -1)
        values[rows, :, :best.shape[2]] = np.where(kept, best, 0.0)
    return found, values
