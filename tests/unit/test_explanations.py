"""top_contributions: the Woodbury path for short rows and the (k, k) path for long ones against a dense solve."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from models.explanations import top_contributions
from models.solvers import Eigenbasis


def reference(Y: np.ndarray, W: sp.csr_matrix, reg: np.ndarray, user: int, item: int) -> np.ndarray:
    """Return every contribution of user ``user``'s items to ``item``'s score, from A_u built and solved whole."""
    gathered, weights = Y[W[user].indices], W[user].data
    A = Y.T @ Y + reg[user] * np.eye(Y.shape[1]) + gathered.T @ (weights[:, None] * gathered)
    return gathered @ np.linalg.solve(A, Y[item]) * (1.0 + weights)


@pytest.mark.parametrize("regularization", [0.1, 0.0])
def test_contributions_match_a_dense_solve_for_short_and_long_rows(regularization):
    rng = np.random.default_rng(11)
    k, n_items = 16, 60
    lengths = [1, 3, 8, 12, 40]  # with k=16: Woodbury (at most k/2 items) and (k, k) rows
    indices = np.concatenate([np.sort(rng.choice(n_items, n, replace=False)) for n in lengths]).astype(np.int32)
    W = sp.csr_matrix((rng.random(len(indices)) * 3, indices, np.cumsum([0] + lengths)),
                      shape=(len(lengths), n_items))
    Y = rng.normal(size=(n_items, k))
    reg = np.full(len(lengths), regularization)
    items = rng.integers(0, n_items, size=(len(lengths), 4))
    found, values = top_contributions(Y, Y.T @ Y, W, reg, items, n=3)
    for user, n in enumerate(lengths):
        for column, item in enumerate(items[user]):
            expected = reference(Y, W, reg, user, item)
            order = np.argsort(-expected, kind="stable")[:3]
            assert found[user, column, :len(order)].tolist() == W[user].indices[order].tolist()
            assert (found[user, column, len(order):] == -1).all()
            np.testing.assert_allclose(values[user, column, :len(order)], expected[order], rtol=1e-8, atol=1e-10)


def test_a_given_basis_gives_the_same_contributions_as_one_computed_here():
    rng = np.random.default_rng(12)
    Y = rng.normal(size=(30, 8))
    W = sp.random(5, 30, density=0.1, random_state=12, format="csr")
    W.data *= 4
    reg, items = np.full(5, 0.2), rng.integers(0, 30, size=(5, 3))
    computed = top_contributions(Y, Y.T @ Y, W, reg, items)
    given = top_contributions(Y, Y.T @ Y, W, reg, items, basis=Eigenbasis.of(Y.T @ Y))
    np.testing.assert_array_equal(computed[0], given[0])
    np.testing.assert_array_equal(computed[1], given[1])
