"""Ranking helpers: top-n selection, score functions, hybrid blending, popularity, artist caps."""

from __future__ import annotations

import numpy as np
import pytest

from models.ranking import (blend, cap_per_artist, cosine_scores, dot_scores, euclidean_scores,
                            manhattan_scores, minmax, popularity_top_n, rank_normalise, top_n,
                            top_n_rows)


def test_top_n_is_best_first_and_breaks_ties_by_index():
    items, scores = top_n(np.array([1.0, 5.0, 3.0, 5.0, 0.0]), 3)
    assert items.tolist() == [1, 3, 2]
    assert scores.tolist() == [5.0, 5.0, 3.0]


def test_top_n_never_returns_excluded_nan_or_minus_infinity():
    scores = np.array([np.nan, -np.inf, 2.0, 1.0, 9.0])
    items, values = top_n(scores, 10, exclude=[4])
    assert items.tolist() == [2, 3]
    assert np.isfinite(values).all()


def test_top_n_handles_empty_and_non_positive_n():
    assert top_n(np.array([]), 3)[0].size == 0
    assert top_n(np.array([1.0]), 0)[0].size == 0


def test_top_n_matches_a_full_sort_on_random_scores():
    scores = np.random.default_rng(0).normal(size=10_000)
    items, _ = top_n(scores, 25)
    assert items.tolist() == np.argsort(-scores)[:25].tolist()


def test_score_functions_say_higher_is_better():
    matrix = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    query = np.array([1.0, 0.1])
    assert np.argmax(dot_scores(matrix, query)) == 0
    assert np.argmax(cosine_scores(matrix, query)) == 0
    assert cosine_scores(matrix, query)[2] == 0.0
    assert np.argmax(manhattan_scores(matrix, query)) == 0
    assert np.argmax(euclidean_scores(matrix, query)) == 0
    assert np.all(manhattan_scores(matrix, query) <= 0)


def test_normalisations_map_to_the_unit_interval():
    scores = np.array([3.0, -1.0, 1.0, np.inf])
    assert minmax(scores).tolist() == [1.0, 0.0, 0.5, 0.0]
    assert minmax(np.array([2.0, 2.0])).tolist() == [0.0, 0.0]
    assert rank_normalise(np.array([0.3, 0.1, 0.2])).tolist() == [1.0, 0.0, 0.5]


def test_blend_mixes_normalised_scores():
    als = np.array([10.0, 0.0, 5.0])
    content = np.array([-1.0, -3.0, -5.0])
    np.testing.assert_allclose(blend(als, content, weight=0.5), [1.0, 0.25, 0.25])
    np.testing.assert_allclose(blend(als, content, weight=1.0), minmax(als))
    np.testing.assert_allclose(blend(als, content, weight=0.0, normalise="rank"), [1.0, 0.5, 0.0])


@pytest.mark.parametrize("kwargs, message", [({"weight": 1.5}, "weight"), ({"normalise": "z"}, "normalise")])
def test_blend_refuses_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        blend(np.zeros(2), np.zeros(2), **kwargs)


def test_blend_refuses_scores_of_different_shapes():
    with pytest.raises(ValueError, match="shapes"):
        blend(np.zeros(2), np.zeros(3))


def test_popularity_top_n_excludes_the_users_items():
    items, counts = popularity_top_n(np.array([3, 10, 7, 1]), 2, exclude=[1])
    assert items.tolist() == [2, 0]
    assert counts.tolist() == [7.0, 3.0]


def test_cap_per_artist_counts_collaborations_against_every_artist():
    items = np.array([0, 1, 2, 3, 4])
    scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    artists = ["a", ("a", "b"), "b", "c", "b"]
    picked, kept = cap_per_artist(items, scores, artists, max_per_artist=1, n=5)
    assert picked.tolist() == [0, 2, 3]
    assert kept.tolist() == [5.0, 3.0, 2.0]


def test_cap_per_artist_zero_means_no_cap_and_n_truncates():
    items, scores = np.array([4, 2, 9]), np.array([3.0, 2.0, 1.0])
    picked, kept = cap_per_artist(items, scores, {4: "a", 2: "a", 9: "a"}, 0, 2)
    assert picked.tolist() == [4, 2] and kept.tolist() == [3.0, 2.0]


def test_top_n_rows_equals_top_n_of_each_row_with_its_exclusions():
    import scipy.sparse as sp

    rng = np.random.default_rng(4)
    scores = rng.random((7, 30)).astype(np.float32)
    scores[2, :25] = np.nan
    exclude = sp.random(7, 30, density=0.3, random_state=1, format="csr")
    for row, (items, values) in enumerate(top_n_rows(scores, 8, exclude=exclude)):
        expected_items, expected_values = top_n(scores[row], 8, exclude=exclude[row].indices)
        assert items.tolist() == expected_items.tolist()
        assert values.tolist() == expected_values.tolist()
