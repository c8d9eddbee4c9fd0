"""StreamingClusterer, choose_k, silhouette and project_2d as plain functions."""

from __future__ import annotations

import numpy as np
import pytest

from models.clustering import StreamingClusterer, choose_k, project_2d, silhouette


def blobs(centres=((0, 0, 0), (6, 0, 0), (0, 6, 0)), per=80, seed=0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(c, 0.3, (per, len(c))) for c in centres])
    return X * [1.0, 100.0, 0.01], np.repeat(np.arange(len(centres)), per)


def test_streamed_batches_find_the_blobs_whatever_the_feature_scales():
    X, truth = blobs()
    order = np.random.default_rng(1).permutation(len(X))
    clusterer = StreamingClusterer(n_clusters=3, batch_size=32)
    for batch in np.array_split(order, 10):
        clusterer.partial_fit(X[batch])
    labels = clusterer.predict(X)
    assert clusterer.n_seen_ == len(X)
    for blob in range(3):
        assert len(set(labels[truth == blob])) == 1
    assert len(set(labels)) == 3
    assert clusterer.kmeans_.cluster_centers_.shape == (3, 3)


def test_rows_are_buffered_until_there_are_as_many_as_clusters():
    X, _ = blobs()
    clusterer = StreamingClusterer(n_clusters=5)
    clusterer.partial_fit(X[:2]).partial_fit(X[2:4])
    assert not clusterer.is_fitted
    with pytest.raises(RuntimeError, match="at least 5 rows"):
        clusterer.predict(X[:1])
    clusterer.partial_fit(X[4:5])
    assert clusterer.is_fitted and clusterer.n_seen_ == 5
    assert clusterer.predict(X).shape == (len(X),)


def test_transform_standard_scales_with_everything_seen():
    X, _ = blobs()
    clusterer = StreamingClusterer(n_clusters=3).partial_fit(X[:100]).partial_fit(X[100:])
    scaled = clusterer.transform(X)
    np.testing.assert_allclose(scaled.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(scaled.std(axis=0), 1, atol=1e-9)


def test_bad_features_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        StreamingClusterer().partial_fit(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="2-D"):
        StreamingClusterer().partial_fit(np.ones(3))


def test_choose_k_picks_the_number_of_blobs_and_reports_every_candidate():
    X, _ = blobs()
    best, scores = choose_k(X, candidates=(2, 3, 4, 6, 1000))
    assert best == 3
    assert set(scores) == {2, 3, 4, 6}
    assert scores[3] == max(scores.values())


def test_silhouette_is_high_for_separated_labels_and_nan_for_one_cluster():
    X, truth = blobs()
    scaled = X / X.std(axis=0)
    shuffled = np.random.default_rng(0).permutation(truth)
    assert silhouette(scaled, truth, sample_size=100) > 0.4 > 0.1 > silhouette(scaled, shuffled)
    assert np.isnan(silhouette(X, np.zeros(len(X), dtype=int)))


def test_project_2d_keeps_the_rows_and_pads_a_single_feature():
    X, _ = blobs()
    assert project_2d(X).shape == (len(X), 2)
    one = project_2d(np.array([[1.0], [2.0], [4.0]]))
    assert one.shape == (3, 2) and np.all(one[:, 1] == 0)
