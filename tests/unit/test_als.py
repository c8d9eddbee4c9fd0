"""ImplicitALS: known answers on a checker board, solver agreement, fold-in, persistence, input errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from models.als import ImplicitALS
from models.solvers import cg_sweep, exact_sweep, nonzero_error

SOLVERS = ("cg", "exact")


def checker_board(blocks: int = 3, size: int = 8) -> sp.csr_matrix:
    """Return users who each play every item of their own block except one: item (user mod size)."""
    plays = np.kron(np.eye(blocks), np.ones((size, size))) * 4.0
    for user in range(blocks * size):
        plays[user, user] = 0.0
    return sp.csr_matrix(plays)


def random_plays(seed: int = 0, users: int = 60, items: int = 40, density: float = 0.15) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    plays = sp.random(users, items, density=density, random_state=rng, format="csr")
    plays.data = np.ceil(plays.data * 50)
    return plays


def fitted(plays, **params) -> ImplicitALS:
    defaults = dict(factors=6, iterations=20, regularization=0.01, random_state=0, num_threads=1)
    return ImplicitALS(**{**defaults, **params}).fit(plays)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("mode", ["plain", "weighted"])
def test_checker_board_recommends_the_missing_item_of_the_users_block(solver, mode):
    plays = checker_board()
    model = fitted(plays, solver=solver, regularization_mode=mode)
    for user in range(plays.shape[0]):
        items, scores = model.recommend(user, n=1, user_items=plays[user])
        assert items.tolist() == [user]
        assert scores.shape == (1,)


@pytest.mark.parametrize("solver", SOLVERS)
def test_loss_decreases_over_iterations(solver):
    model = fitted(random_plays(), solver=solver, factors=8, iterations=10)
    history = np.array(model.loss_history_)
    assert len(history) == 10
    assert history[-1] < history[0]
    if solver == "exact":
        assert np.all(np.diff(history) <= 1e-9)


def test_cg_and_exact_agree_on_recommendations():
    plays = random_plays(seed=3)
    cg = fitted(plays, solver="cg", dtype=np.float64, iterations=40)
    exact = fitted(plays, solver="exact", dtype=np.float64, iterations=40)
    overlap = [len(set(cg.recommend(u, 5, plays[u])[0]) & set(exact.recommend(u, 5, plays[u])[0])) / 5
               for u in range(plays.shape[0])]
    assert np.mean(overlap) > 0.9


@pytest.mark.parametrize("mode", ["plain", "weighted"])
def test_fold_in_equals_the_users_row_of_a_full_user_sweep(mode):
    plays = random_plays(seed=1)
    model = fitted(plays, solver="cg", regularization_mode=mode, dtype=np.float64)
    W = model.confidence_weights(plays)
    swept = exact_sweep(W, model.item_factors_, model.item_factors_.T @ model.item_factors_, model.row_regularization(W))
    for user in (0, 7, 33):
        np.testing.assert_allclose(model.fold_in(plays[user]), swept[user], rtol=1e-6, atol=1e-9)


def test_exact_solver_user_factors_are_their_own_fold_in():
    plays = random_plays(seed=2)
    model = fitted(plays, solver="exact", dtype=np.float64)
    np.testing.assert_allclose(model.fold_in(plays[5]), model.user_factors_[5], atol=1e-8)


def test_fold_in_item_matches_an_item_sweep_and_accepts_either_orientation():
    plays = random_plays(seed=4)
    model = fitted(plays, dtype=np.float64)
    W = model.confidence_weights(plays).T.tocsr()
    swept = exact_sweep(W, model.user_factors_, model.user_factors_.T @ model.user_factors_, model.row_regularization(W))
    np.testing.assert_allclose(model.fold_in_item(plays[:, [3]]), swept[3], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(model.fold_in_item(plays[:, [3]].T), swept[3], rtol=1e-6, atol=1e-9)


def test_recommend_for_a_folded_in_user_vector_excludes_the_users_items():
    plays = checker_board()
    model = fitted(plays)
    items, _ = model.recommend(None, n=1, user_items=plays[2], user_vector=model.fold_in(plays[2]))
    assert items.tolist() == [2]


def test_similar_items_are_the_block_mates_without_the_item_itself():
    model = fitted(checker_board())
    items, scores = model.similar_items(9, n=7)
    assert 9 not in items
    assert set(items.tolist()) <= set(range(8, 16))
    assert np.all(np.diff(scores) <= 0)


def test_explain_contributions_sum_to_the_fold_in_score():
    plays = random_plays(seed=5)
    model = fitted(plays, dtype=np.float64)
    row = plays[4]
    explained = model.explain(row, item=10, n=row.nnz)
    assert {j for j, _ in explained} == set(row.indices.tolist())
    assert [v for _, v in explained] == sorted((v for _, v in explained), reverse=True)
    score = model.fold_in(row) @ model.item_factors_[10]
    assert sum(v for _, v in explained) == pytest.approx(score, rel=1e-6, abs=1e-9)


def test_loss_matches_the_last_recorded_loss():
    plays = random_plays()
    model = fitted(plays)
    assert model.loss(plays) == pytest.approx(model.loss_history_[-1], rel=1e-5)


def test_save_and_load_round_trip(tmp_path):
    plays = random_plays()
    model = fitted(plays, regularization_mode="weighted", confidence="linear", alpha=0.5)
    model.save(tmp_path / "model.npz")
    loaded = ImplicitALS.load(tmp_path / "model.npz")
    for name in ("regularization_mode", "confidence", "alpha", "factors", "dtype"):
        assert getattr(loaded, name) == getattr(model, name)
    np.testing.assert_array_equal(loaded.user_factors_, model.user_factors_)
    np.testing.assert_array_equal(loaded.item_factors_, model.item_factors_)
    assert loaded.loss_history_ == model.loss_history_
    np.testing.assert_array_equal(loaded.fold_in(plays[1]), model.fold_in(plays[1]))


def test_load_refuses_another_format_version(tmp_path):
    np.savez(tmp_path / "old.npz", format_version=99)
    with pytest.raises(ValueError, match="format version 99"):
        ImplicitALS.load(tmp_path / "old.npz")


@pytest.mark.parametrize("matrix, message", [
    (sp.csr_matrix([[1.0, np.nan]]), "NaN or infinite"),
    (sp.csr_matrix([[1.0, np.inf]]), "NaN or infinite"),
    (sp.csr_matrix([[1.0, -1.0]]), "negative"),
    (np.ones((2, 2)), "scipy.sparse"),
    (sp.csr_matrix((0, 3)), "non-empty"),
    (sp.csr_matrix((2, 3)), "no nonzero"),
])
def test_fit_rejects_bad_input_with_a_clear_message(matrix, message):
    with pytest.raises(ValueError, match=message):
        ImplicitALS().fit(matrix)


def test_fit_rejects_unknown_options():
    with pytest.raises(ValueError, match="solver must be one of"):
        ImplicitALS(solver="lu").fit(checker_board())


def test_fold_in_rejects_a_row_of_the_wrong_width_and_an_unfitted_model():
    model = fitted(checker_board())
    with pytest.raises(ValueError, match="shape"):
        model.fold_in(sp.csr_matrix(np.ones((1, 5))))
    with pytest.raises(ValueError, match="NaN"):
        model.fold_in(sp.csr_matrix(np.full((1, 24), np.nan)))
    with pytest.raises(RuntimeError, match="not fitted"):
        ImplicitALS().fold_in(sp.csr_matrix(np.ones((1, 5))))


def test_fit_does_not_modify_its_input_and_is_reproducible():
    plays = random_plays()
    before = plays.copy()
    first, second = fitted(plays, num_threads=2), fitted(plays, num_threads=2)
    assert (plays != before).nnz == 0
    np.testing.assert_array_equal(first.item_factors_, second.item_factors_)


def test_fold_in_users_equals_one_fold_in_per_user():
    plays = sp.random(30, 40, density=0.2, random_state=3, format="csr") * 10
    model = ImplicitALS(factors=8, iterations=5, random_state=0).fit(plays)
    batch = model.fold_in_users(plays[5:15])
    single = np.vstack([model.fold_in(plays[u]) for u in range(5, 15)])
    assert batch.shape == (10, 8)
    assert np.allclose(batch, single, atol=1e-4)
    with pytest.raises(ValueError, match="40 columns"):
        model.fold_in_users(sp.csr_matrix((2, 39)))


def test_exact_sweep_matches_a_dense_solve_for_empty_short_and_long_rows():
    rng = np.random.default_rng(7)
    lengths = [0, 1, 3, 8, 30]  # with k=16: empty, Woodbury (at most k/2 items) and (k, k) rows
    indices = np.concatenate([np.sort(rng.choice(40, n, replace=False)) for n in lengths]).astype(np.int32)
    W = sp.csr_matrix((rng.random(len(indices)) * 3, indices, np.cumsum([0] + lengths)), shape=(len(lengths), 40))
    Y = rng.normal(size=(40, 16))
    reg = np.full(len(lengths), 0.1)
    swept = exact_sweep(W, Y, Y.T @ Y, reg, nnz_budget=16)
    for user in range(len(lengths)):
        gathered, weights = Y[W[user].indices], W[user].data
        A = Y.T @ Y + reg[user] * np.eye(16) + gathered.T @ (weights[:, None] * gathered)
        np.testing.assert_allclose(swept[user], np.linalg.solve(A, (1 + weights) @ gathered), atol=1e-10)


def test_cg_sweep_converges_to_exact_sweep_with_rows_longer_than_a_batch_on_two_threads():
    W = random_plays(seed=8, users=50, items=60, density=0.4)  # rows of about 24 items, batches of 16 entries
    rng = np.random.default_rng(8)
    Y = rng.normal(size=(60, 5))
    reg = np.full(50, 0.5)
    X = np.zeros((50, 5))
    error = cg_sweep(W, X, Y, Y.T @ Y, reg, steps=15, nnz_budget=16, workers=2, error=True)
    np.testing.assert_allclose(X, exact_sweep(W, Y, Y.T @ Y, reg, nnz_budget=16, workers=2), atol=1e-8)
    assert error == pytest.approx(nonzero_error(W, X, Y), rel=1e-10)


def test_the_items_eigenbasis_is_recomputed_on_refit_and_load(tmp_path):
    model = fitted(random_plays(seed=1))
    first = model.item_basis_
    model.fit(random_plays(seed=2))
    assert model.item_basis_ is not first
    for basis_of in (model, model.save(tmp_path / "m.npz") or ImplicitALS.load(tmp_path / "m.npz")):
        gram = basis_of.item_factors_.T.astype(np.float64) @ basis_of.item_factors_
        basis = basis_of.item_basis_
        np.testing.assert_allclose(basis.vectors @ np.diag(basis.values) @ basis.vectors.T, gram, atol=1e-5)


def test_fold_in_weights_equals_fold_in_users():
    plays = random_plays(seed=6)
    model = fitted(plays, dtype=np.float64)
    W = model.confidence_weights(plays)
    np.testing.assert_array_equal(model.fold_in_weights(W, model.row_regularization(W)), model.fold_in_users(plays))
