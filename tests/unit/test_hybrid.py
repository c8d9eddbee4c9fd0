"""The served hybrid: the trainer fits the item model beside the ALS, the bundle carries it, the recommender blends."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest

from models.ranking import minmax
from streamproc.recommend.recommender import Recommender
from streamproc.settings import Settings
from tables.model_bundle import Blend, decode_model, encode_model
from tests.trained import install_trained
from tests.unit.test_als import checker_board

BLOCKS, SIZE = 3, 8


def board_histories() -> dict[str, dict[str, float]]:
    """Return test_als's checker board as histories: user ``u{n}`` plays every item of their block but ``i{n}``."""
    plays = checker_board(BLOCKS, SIZE)
    return {f"u{u}": {f"i{i}": float(plays[u, i]) for i in plays[u].indices} for u in range(plays.shape[0])}


def settings(**overrides) -> Settings:
    return Settings(**{"min_train_users": 2, "als_factors": 4, "als_iterations": 10, "exploration": 0.0,
                       "item_neighbours": 6, **overrides})


@pytest.fixture(scope="module")
def board():
    histories = board_histories()
    rec = Recommender(settings())
    model = install_trained(rec, histories)
    return rec, model, histories


def test_the_trainer_publishes_the_sparse_item_model_with_the_blend_of_the_settings(board):
    _, model, _ = board
    assert type(model.item_model).__name__ == "EASE" and model.hybrid == Blend(0.8, "minmax")
    similarity = model.item_model.similarity_
    assert similarity.format == "csr" and similarity.getnnz(axis=0).max() <= 6
    assert model.item_model.n_items_ == len(model.item_ids)


def test_the_served_blend_ranks_the_missing_item_of_the_users_block_first(board):
    rec, _, histories = board
    for user, history in histories.items():
        result = rec.recommend(user, history, n=SIZE)
        assert result.model.kind == "hybrid"
        first = result.items[0]
        assert first.item_id == "i" + user[1:] and first.source == "hybrid"
        # The rest of the list is the other blocks' items: nothing of the own block is left unplayed.
        assert all(int(item.item_id[1:]) // SIZE != int(user[1:]) // SIZE for item in result.items[1:])
        assert first.explanation["kind"] == "hybrid" and first.explanation["part"] in ("als", "ease")
        assert first.explanation["items"] and set(first.explanation["items"]) <= set(history)


def test_served_scores_are_the_weighted_normalised_parts(board):
    rec, model, histories = board
    factors = rec.factors
    users = list(histories.values())[:5]
    folded = factors.fold_in(users)
    scores, als_led = folded.scores(0, len(users))
    als = folded.vectors @ model.als.item_factors_.T
    item = model.item_model.score_histories(folded.rows)
    for row in range(len(users)):
        als_part, item_part = 0.8 * minmax(als[row]), 0.2 * minmax(item[row])
        np.testing.assert_allclose(scores[row], als_part + item_part, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(als_led[row], als_part >= item_part)


def test_a_weight_of_zero_ranks_as_the_item_model_and_an_item_explanation_names_its_neighbours():
    histories = board_histories()
    rec = Recommender(settings(hybrid_weight=0.0))
    model = install_trained(rec, histories)
    for user, history in histories.items():
        row = rec.factors.fold_in([history]).rows
        expected, _ = model.item_model.recommend(0, n=1, user_items=row)
        first = rec.recommend(user, history, n=3).items[0]
        assert first.item_id == model.item_ids[expected[0]] == "i" + user[1:]
        assert first.explanation["part"] == "ease"
        named = model.item_model.explain(row, int(expected[0]), n=3)
        assert first.explanation["items"] == [model.item_ids[j] for j, value in named if value > 0]


@pytest.mark.parametrize("overrides", [{"item_model": "none"}, {"hybrid_weight": 1.0}])
def test_without_an_item_model_or_at_weight_one_the_als_ranks_alone(overrides):
    histories = board_histories()
    rec = Recommender(settings(**overrides))
    model = install_trained(rec, histories)
    assert model.item_model is None and model.hybrid is None
    result = rec.recommend("u0", histories["u0"], n=3)
    assert result.model.kind == "als" and {item.source for item in result.items} == {"als"}
    assert all(item.explanation["kind"] == "als" for item in result.items)


def test_the_trainer_publishes_the_als_alone_when_the_item_model_cannot_be_fitted(caplog):
    # Every item has one listener: EASE keeps none with its min_count of 2, and the ALS is served alone.
    histories = {f"u{u}": {f"i{u}a": 2.0, f"i{u}b": 1.0} for u in range(6)}
    rec = Recommender(settings())
    with caplog.at_level(logging.WARNING):
        model = install_trained(rec, histories)
    assert model.als is not None and model.item_model is None
    assert "the ALS is served alone" in caplog.text
    assert rec.recommend("u0", histories["u0"], n=2).model.kind == "als"


def test_the_bundle_round_trips_the_sparse_item_model_and_the_blend(board):
    rec, model, histories = board
    decoded = decode_model(encode_model(model))
    assert decoded.hybrid == model.hybrid and type(decoded.item_model) is type(model.item_model)
    before, after = model.item_model, decoded.item_model
    assert after.get_params() == before.get_params()
    np.testing.assert_array_equal(after.items_, before.items_)
    assert after.similarity_.dtype == np.float32 and (after.similarity_ != 0).nnz == (before.similarity_ != 0).nnz
    # The bundle stores the weights in float16: equal to 3 significant digits.
    np.testing.assert_allclose(after.similarity_.toarray(), before.similarity_.toarray(), rtol=1e-3, atol=1e-6)
    served = Recommender(rec.settings)
    served.install(decoded)
    for user, history in histories.items():
        assert [i.item_id for i in served.recommend(user, history, n=3).items] == \
            [i.item_id for i in rec.recommend(user, history, n=3).items]
    # Half the item model's bytes: uint16 columns and float16 weights.
    without = len(encode_model(dataclasses.replace(model, item_model=None, hybrid=None)))
    assert len(encode_model(model)) - without < 5 * model.item_model.similarity_.nnz + 4096
