"""The recommender's fallbacks on the partial state a worker may have at start."""

import numpy as np

from streamproc.recommender import Recommender
from streamproc.settings import Settings


def test_fitted_clusterer_with_no_featured_tracks_in_the_catalogue_falls_back_to_popular():
    # Regression: the clusterer had learnt from the catalogue agent's batch before the changelog
    # feed brought any featured track, and transforming the empty feature matrix crashed the agent.
    recommender = Recommender(Settings(clusters=2))
    recommender.clusterer.partial_fit(np.random.default_rng(0).random((10, 12)))
    recommender.catalog.upsert({"item_id": "a", "name": "A", "artists": ["x"], "features": None})
    recommender.catalog.upsert({"item_id": "b", "name": "B", "artists": ["y"], "features": None})
    recommender.interactions.put("other", {"a": 1.0, "b": 2.0}, events=2)
    result = recommender.recommend("u", {"a": 1.0}, n=1)
    assert [(item.item_id, item.source) for item in result.items] == [("b", "popular")]
