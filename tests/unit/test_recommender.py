"""The recommender: fallbacks on the partial state a worker may have at start, and its batched fold-in."""

import numpy as np
import scipy.sparse as sp

from models.als import ImplicitALS
from streamproc.recommend.recommender import FactorModel, Recommender
from streamproc.settings import Settings
from tests.trained import trainer_with


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
