"""Content-based recommendation: taste vectors, nearest clusters, similar songs."""

from __future__ import annotations

import numpy as np
import pytest

from models.content import content_recommend, nearest_items, taste_vector

X = np.array([[0.0, 0.0], [0.2, 0.0], [0.0, 0.5], [5.0, 5.0], [5.1, 5.0], [-5.0, 5.0]])
LABELS = np.array([0, 0, 0, 1, 1, 2])
CENTRES = np.array([[0.07, 0.17], [5.05, 5.0], [-5.0, 5.0]])


def test_taste_vector_is_the_weighted_mean_of_the_users_items():
    np.testing.assert_allclose(taste_vector(X, np.array([0, 3]), np.array([1.0, 4.0])), [4.0, 4.0])


@pytest.mark.parametrize("weights", [np.array([0.0]), np.array([-1.0]), np.array([np.nan])])
def test_taste_vector_refuses_weights_that_do_not_define_a_mean(weights):
    with pytest.raises(ValueError, match="weights"):
        taste_vector(X, np.array([0]), weights)


def test_content_recommend_ranks_by_manhattan_distance_within_the_nearest_clusters():
    items, scores = content_recommend(np.array([0.0, 0.0]), X, LABELS, CENTRES, n=10, n_clusters=1)
    assert items.tolist() == [0, 1, 2]
    np.testing.assert_allclose(scores, [0.0, -0.2, -0.5])


def test_content_recommend_widens_to_more_clusters_and_excludes_items():
    items, _ = content_recommend(np.array([1.0, 1.0]), X, LABELS, CENTRES, n=10, n_clusters=2, exclude=[0, 3])
    assert set(items.tolist()) == {1, 2, 4}
    assert 5 not in items


def test_content_recommend_refuses_labels_of_another_length():
    with pytest.raises(ValueError, match="labels"):
        content_recommend(np.zeros(2), X, LABELS[:3], CENTRES)


@pytest.mark.parametrize("metric, expected", [("manhattan", [4, 2]), ("euclidean", [4, 2]), ("cosine", [4, 1])])
def test_nearest_items_by_each_metric_leave_out_the_seed(metric, expected):
    items, scores = nearest_items(X, 3, n=2, metric=metric)
    assert items.tolist() == expected
    assert np.all(np.diff(scores) <= 0)


def test_nearest_items_refuses_an_unknown_metric():
    with pytest.raises(ValueError, match="metric"):
        nearest_items(X, 0, metric="hamming")
