"""EASE and RP3beta: one set of checks over both item x item models, then each model's own formula."""

from __future__ import annotations

import io

import numpy as np
import pytest
import scipy.sparse as sp

from models.ease import EASE, spd_inverse
from models.metrics import evaluate_ranking
from models.ranking import top_n
from models.rp3beta import RP3beta, keep_largest_per_row
from models.split import holdout_split, read_interactions
from tests.unit.test_als import checker_board, random_plays

MODELS = {
    "ease": lambda **params: EASE(**{"regularization": 1.0, "min_count": 1, **params}),
    "rp3beta": lambda **params: RP3beta(**{"alpha": 1.0, "beta": 0.3, "min_count": 1, **params}),
}


@pytest.fixture(params=sorted(MODELS))
def make(request):
    return MODELS[request.param]


def two_blocks() -> sp.csr_matrix:
    """Return test_als's checker board of two blocks of 6 users x 6 items, each user missing one own item."""
    return checker_board(blocks=2, size=6)


def test_checker_board_recommends_the_missing_item_of_the_users_block(make):
    plays = two_blocks()
    model = make().fit(plays)
    for user in range(plays.shape[0]):
        items, scores = model.recommend(user, n=1, user_items=plays[user])
        assert items.tolist() == [user]
        assert scores[0] > 0


def test_checker_board_ranks_every_item_of_the_own_block_first(make):
    blocks, size = 2, 6
    plays = checker_board(blocks, size)
    model = make().fit(plays)
    for user in range(plays.shape[0]):
        items, _ = model.recommend(user, n=size, user_items=plays, exclude_seen=False)
        assert set((items // size).tolist()) == {user // size}
        similar, _ = model.similar_items(user, n=size - 1)
        assert set((similar // size).tolist()) == {user // size} and user not in similar


def test_score_history_equals_recommend_for_the_same_history(make):
    plays = random_plays()
    model = make().fit(plays)
    for user in range(plays.shape[0]):
        scores = model.score_history(plays[user])
        assert scores.shape == (plays.shape[1],)
        items, values = model.recommend(user, n=plays.shape[1], user_items=plays)
        expected = top_n(scores, plays.shape[1], exclude=plays[user].indices)
        np.testing.assert_array_equal(items, expected[0])
        np.testing.assert_allclose(values, scores[items])
        assert set(items.tolist()).isdisjoint(plays[user].indices.tolist())


def test_batched_scores_equal_one_history_at_a_time(make):
    plays = random_plays(seed=1)
    model = make().fit(plays)
    batched = model.score_histories(plays[5:15])
    np.testing.assert_allclose(batched, np.vstack([model.score_history(plays[u]) for u in range(5, 15)]), rtol=1e-6)


def test_scores_read_preferences_not_play_counts(make):
    plays = random_plays(seed=2)
    model = make().fit(plays)
    louder = plays[3] * 7.0
    np.testing.assert_array_equal(model.score_history(louder), model.score_history(plays[3]))


def test_save_load_round_trip(make, tmp_path):
    plays = random_plays(seed=3)
    model = make(min_count=3).fit(plays)
    model.save(tmp_path / "model.npz")
    loaded = type(model).load(tmp_path / "model.npz")
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.items_, model.items_)
    np.testing.assert_array_equal(loaded.score_histories(plays), model.score_histories(plays))
    assert [a.tolist() for a in loaded.recommend(4, n=5, user_items=plays)] == \
        [a.tolist() for a in model.recommend(4, n=5, user_items=plays)]
    buffer = io.BytesIO()
    model.save(buffer)
    from_bytes = type(model).load(io.BytesIO(buffer.getvalue()))
    np.testing.assert_array_equal(from_bytes.score_histories(plays), model.score_histories(plays))
    other = RP3beta if isinstance(model, EASE) else EASE
    with pytest.raises(ValueError, match=f"holds a {type(model).__name__} model"):
        other.load(tmp_path / "model.npz")


def test_min_count_leaves_items_out(make):
    plays = two_blocks().tolil()
    plays[:, 5] = 0.0
    plays[0, 5] = 1.0                                        # item 5: one listener
    plays = plays.tocsr()
    model = make(min_count=2).fit(plays)
    assert 5 not in model.items_ and model.position_[5] == -1
    for user in range(plays.shape[0]):
        scores = model.score_history(plays[user])
        assert scores[5] == 0.0
        assert 5 not in model.recommend(user, n=12, user_items=plays, exclude_seen=False)[0]
    assert model.similar_items(5)[0].size == 0
    assert all(item != 5 for item, _ in model.explain(plays[0], 1, n=10))
    assert make(min_count=1).fit(plays).position_[5] >= 0


def test_explanations_sum_to_the_score(make):
    plays = random_plays(seed=4)
    model = make().fit(plays)
    row = plays[7]
    scores = model.score_history(row)
    for item in (0, 11, 23):
        found = model.explain(row, item, n=row.nnz)
        assert sum(value for _, value in found) == pytest.approx(scores[item], rel=1e-5, abs=1e-6)
        assert {j for j, _ in found} <= set(row.indices.tolist())
        assert [value for _, value in found] == sorted((value for _, value in found), reverse=True)


def test_fit_is_idempotent_and_leaves_params_alone(make):
    plays = random_plays(seed=5)
    model = make()
    params = model.get_params()
    first = model.fit(plays).score_histories(plays)
    second = model.fit(plays).score_histories(plays)
    np.testing.assert_array_equal(first, second)
    assert model.get_params() == params
    assert not any(name.endswith("_") for name in vars(make()))


def test_unfitted_and_misused_models_raise(make):
    model = make()
    with pytest.raises(RuntimeError, match="not fitted"):
        model.score_history(sp.csr_matrix((1, 4)))
    model.fit(random_plays())
    with pytest.raises(ValueError, match="keeps no user state"):
        model.recommend(0)
    with pytest.raises(ValueError, match="40 columns"):
        model.score_history(sp.csr_matrix((1, 39)))
    with pytest.raises(ValueError, match="one row"):
        model.score_history(random_plays()[:2])
    with pytest.raises(ValueError, match="negative"):
        model.score_history(sp.csr_matrix(-np.ones((1, 40))))
    with pytest.raises(ValueError, match="no nonzero"):
        make().fit(sp.csr_matrix((3, 4)))
    with pytest.raises(ValueError, match="no item has min_count=9"):
        make(min_count=9).fit(two_blocks())


@pytest.mark.parametrize("model", [
    EASE(regularization=0.0), EASE(regularization=-1.0), EASE(regularization=float("nan")),
    EASE(min_count=0), EASE(min_count=1.5), EASE(max_items=0),
    RP3beta(alpha=-1.0), RP3beta(alpha=0.0), RP3beta(beta=float("inf")), RP3beta(neighbours=0),
    RP3beta(neighbours=2.5), RP3beta(min_count=-2),
])
def test_bad_params_raise_value_error(model):
    with pytest.raises(ValueError):
        model.fit(two_blocks())


def test_ease_refuses_more_items_than_max_items():
    with pytest.raises(ValueError, match=r"dense 12 x 12 matrix .*max_items=11; raise min_count"):
        EASE(min_count=1, max_items=11).fit(two_blocks())
    assert EASE(min_count=1, max_items=12).fit(two_blocks()).similarity_.shape == (12, 12)


def test_ease_is_the_closed_form_of_steck_2019():
    plays = random_plays(seed=6, users=80, items=30, density=0.2)
    model = EASE(regularization=3.0, min_count=2, dtype=np.float64).fit(plays)
    X = (plays.toarray() > 0).astype(float)[:, model.items_]
    P = np.linalg.inv(X.T @ X + 3.0 * np.eye(X.shape[1]))
    B = np.eye(X.shape[1]) - P / np.diag(P)
    np.fill_diagonal(B, 0.0)
    np.testing.assert_allclose(model.similarity_, B, atol=1e-10)
    assert np.array_equal(model.items_, np.flatnonzero((plays.toarray() > 0).sum(axis=0) >= 2))


def test_spd_inverse_of_a_matrix_larger_than_a_block():
    rng = np.random.default_rng(0)
    A = rng.random((50, 50))
    A = A @ A.T + np.eye(50)
    np.testing.assert_allclose(spd_inverse(A.copy(), block=16), np.linalg.inv(A), rtol=1e-8, atol=1e-10)


def test_rp3beta_is_the_popularity_discounted_walk_of_paudel_2016():
    plays = random_plays(seed=7, users=50, items=25, density=0.2)
    model = RP3beta(alpha=0.7, beta=0.4, neighbours=25, min_count=1, dtype=np.float64).fit(plays)
    X = (plays.toarray() > 0).astype(float)[:, model.items_]
    P_ui = X / np.maximum(X.sum(axis=1, keepdims=True), 1)
    P_iu = X.T / X.T.sum(axis=1, keepdims=True)
    W = (P_iu @ P_ui) ** 0.7 / X.sum(axis=0) ** 0.4
    np.fill_diagonal(W, 0.0)
    np.testing.assert_allclose(model.similarity_.toarray(), W, rtol=1e-10)


def test_rp3beta_keeps_each_rows_largest_neighbours():
    plays = random_plays(seed=8, users=50, items=25, density=0.3)
    full = RP3beta(neighbours=25, dtype=np.float64).fit(plays).similarity_.toarray()
    few = RP3beta(neighbours=4, dtype=np.float64).fit(plays).similarity_
    assert np.diff(few.indptr).max() == 4
    for row, dense in zip(few.toarray(), full):
        kept = np.flatnonzero(row)
        np.testing.assert_array_equal(row[kept], dense[kept])
        assert row[kept].min() >= np.sort(dense)[-4]


def test_keep_largest_per_row_breaks_ties_by_column_and_keeps_short_rows():
    matrix = sp.csr_matrix(np.array([[2.0, 2.0, 2.0, 1.0], [0.0, 0.0, 3.0, 0.0], [0.0] * 4]))
    assert keep_largest_per_row(matrix, 2).toarray().tolist() == [[2.0, 2.0, 0, 0], [0, 0, 3.0, 0], [0] * 4]


def test_both_beat_popularity_on_lastfm(lastfm_dir):
    train, test = holdout_split(read_interactions(lastfm_dir / "user_artists.dat", "lastfm").matrix, seed=42)
    counts = np.diff(train.tocsc().indptr).astype(np.float64)
    popularity = evaluate_ranking(lambda users: np.tile(counts, (len(users), 1)), train, test)["precision@10"]
    for model in (EASE(num_threads=2), RP3beta()):
        model.fit(train)
        precision = evaluate_ranking(lambda users: model.score_histories(train[users]), train, test)["precision@10"]
        assert precision > popularity + 0.05, type(model).__name__


def test_explain_many_equals_explain_of_each_item_of_each_row(make):
    plays = random_plays(seed=3)
    model = make().fit(plays)
    rows = plays[[2, 7, 11]]
    targets = [[0, 5, 9], [], [3, 3, plays.shape[1] - 1]]
    found = model.explain_many(rows, targets, n=2)
    assert [len(per_row) for per_row in found] == [3, 0, 3]
    for u, items in enumerate(targets):
        for item, explained in zip(items, found[u]):
            assert explained == model.explain(rows[u], item, n=2)
    with pytest.raises(ValueError, match="rows"):
        model.explain_many(rows, targets[:2])
