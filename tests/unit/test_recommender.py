"""The recommender: fallbacks on the partial state a worker may have at start, its batched fold-in,
and what a skip does to the user's next lists (known answers on popular lists of known listener counts)."""

import numpy as np
import pytest
import scipy.sparse as sp

from models.als import ImplicitALS
from streamproc.errors import SettingsError
from streamproc.recommend.factors import FactorModel
from streamproc.recommend.recommender import Recommender
from streamproc.settings import Settings
from tables.user_state import PartitionState
from tests.trained import install_trained, trainer_with

# Items and how many listeners each has: the popular lists' scores, so every answer below is known.
LISTENERS = {"a": 10, "b": 8, "c": 6, "d": 4, "e": 2, "f": 1}
WEIGHTS = {"play": 1.0, "skip": -1.0, "like": 5.0, "playlist_add": 3.0}


def test_fitted_clusterer_with_no_featured_tracks_in_the_catalogue_falls_back_to_popular():
    # Regression: the clusterer had learnt from the catalogue agent's batch before the changelog
    # feed brought any featured track, and transforming the empty feature matrix crashed the agent.
    recommender = Recommender(Settings(clusters=2))
    recommender.catalog.upsert({"item_id": "a", "name": "A", "artists": ["x"], "features": None})
    recommender.catalog.upsert({"item_id": "b", "name": "B", "artists": ["y"], "features": None})
    trainer = trainer_with(recommender, {"other": {"a": 1.0, "b": 2.0}, "more": {"b": 1.0}})
    trainer.clusterer.partial_fit(np.random.default_rng(0).random((10, 12)))
    recommender.install(trainer.train(trainer.snapshot(), version=1))
    result = recommender.recommend("u", {"a": 1.0}, n=1)
    assert [(item.item_id, item.source) for item in result.items] == [("b", "popular")]


def test_factor_model_fold_in_keeps_known_positive_items_sorted_and_skips_users_with_too_few():
    model = ImplicitALS(factors=2, random_state=0).fit(sp.csr_matrix(np.array([[3.0, 0, 1], [0, 2, 0]])))
    factors = FactorModel(model, ["a", "b", "c"], {"a": 0, "b": 1, "c": 2}, 1, 0.0, 0.0, 2)
    histories = [{"c": 2.0, "a": 1, "zz": 4.0}, {"b": 0.0, "a": -1.0}, {}, {"b": 1.5, "c": 3.0}]
    folded = factors.fold_in(histories, min_items=1)
    assert folded.positions == {0: 0, 3: 1}
    assert folded.rows.toarray().tolist() == [[1.0, 0.0, 2.0], [0.0, 1.5, 3.0]]
    np.testing.assert_array_equal(folded.vectors, model.fold_in_users(folded.rows))
    assert factors.fold_in(histories, min_items=2).positions == {0: 0, 3: 1}
    assert factors.fold_in(histories, min_items=3).positions == {}


def popular_only(skip_penalty: float) -> Recommender:
    """Return a recommender with no ALS (too few users) and no audio features: every list is popular."""
    rec = Recommender(Settings(min_train_users=1000, skip_penalty=skip_penalty))
    for item in LISTENERS:
        rec.catalog.upsert({"item_id": item, "name": item.upper(), "artists": [f"artist {item}"], "features": None})
    install_trained(rec, {f"o{j}": {item: 1.0 for item, count in LISTENERS.items() if j < count} for j in range(10)})
    return rec


def ranked(rec: Recommender, history: dict[str, float], skipped: dict[str, int] | None, n: int = 6):
    """Return the (item, score) of the user's list."""
    return [(item.item_id, item.score) for item in rec.recommend("u", history, n=n, skipped=skipped).items]


def test_a_skipped_item_moves_down_by_half_its_height_above_the_weakest_candidate_per_skip():
    rec = popular_only(0.5)
    assert ranked(rec, {}, {}) == [("a", 10.0), ("b", 8.0), ("c", 6.0), ("d", 4.0), ("e", 2.0), ("f", 1.0)]
    # The candidates are a..f (fewer than 3 n), the weakest f with 1 listener: a's 10 becomes 1 + 9 / 2.
    assert ranked(rec, {"a": -1.0}, {"a": 1}) == [("b", 8.0), ("c", 6.0), ("a", 5.5), ("d", 4.0), ("e", 2.0),
                                                  ("f", 1.0)]
    # More skips lower it further: 1 + 9 / 4, then 1 + 9 / 16; never below the weakest.
    assert [item for item, _ in ranked(rec, {"a": -2.0}, {"a": 2})] == ["b", "c", "d", "a", "e", "f"]
    assert ranked(rec, {"a": -4.0}, {"a": 4})[4] == ("a", 1.5625)
    assert ranked(rec, {"a": -40.0}, {"a": 40})[4:] == [("a", pytest.approx(1.0)), ("f", 1.0)]
    # A short list leaves the lowered item out, the others in their order.
    assert [item for item, _ in ranked(rec, {"a": -1.0}, {"a": 1}, n=2)] == ["b", "c"]


def test_penalty_one_means_never_again_and_zero_leaves_the_list_as_it_was():
    skipped = ({"a": -1.0, "c": -1.0}, {"a": 1, "c": 1})
    assert [item for item, _ in ranked(popular_only(1.0), *skipped)] == ["b", "d", "e", "f"]
    assert ranked(popular_only(0.0), *skipped) == ranked(popular_only(0.0), {}, {})
    with pytest.raises(SettingsError, match="SKIP_PENALTY"):
        popular_only(1.5)


def test_without_skip_counts_every_item_of_the_history_is_left_out_as_before():
    assert [item for item, _ in ranked(popular_only(0.5), {"a": -1.0, "c": 2.0}, None)] == ["b", "d", "e", "f"]


def test_a_played_item_is_never_recommended_whatever_its_skips_and_the_others_keep_their_order():
    # As a worker counts them: b played then skipped (total 0), a skipped twice, c liked after a skip.
    state = PartitionState(0, WEIGHTS)
    for offset, (item, event) in enumerate([("b", "play"), ("b", "skip"), ("a", "skip"), ("a", "skip"),
                                            ("c", "skip"), ("c", "like")]):
        state.apply("u", item, event, 1, offset)
    assert state.history("u") == {"b": 0.0, "a": -2.0, "c": 4.0} and state.skips("u") == {"a": 2}
    for penalty in (0.0, 0.5, 0.9):
        items = [item for item, _ in ranked(popular_only(penalty), state.history("u"), state.skips("u"))]
        assert not {"b", "c"} & set(items)
        assert [item for item in items if item != "a"] == ["d", "e", "f"]
        assert "a" in items
    assert [item for item, _ in ranked(popular_only(0.0), state.history("u"), state.skips("u"))] == ["a", "d", "e", "f"]


def test_a_skipped_item_keeps_a_popular_explanation_and_lowered_items_of_several_users_rank_together():
    rec = popular_only(0.5)
    together = rec.recommend_many([("u1", {"a": -1.0}), ("u2", {}), ("u3", {"d": -2.0})], n=6,
                                  skipped=[{"a": 1}, {}, {"d": 2}])
    assert [[i.item_id for i in r.items] for r in together] == [["b", "c", "a", "d", "e", "f"],
                                                                ["a", "b", "c", "d", "e", "f"],
                                                                ["a", "b", "c", "e", "d", "f"]]
    assert {(i.source, i.explanation["kind"]) for r in together for i in r.items} == {("popular", "popular")}
