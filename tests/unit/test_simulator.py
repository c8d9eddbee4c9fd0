"""The listener simulator: determinism, a power-law popularity, tastes, and valid messages."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from streamproc.simulator import (
    CLUSTERS,
    EXPLORE_SHARE,
    WEEK_S,
    Catalogue,
    Listeners,
    catalogue_from_tracks,
    generate_catalogue,
    make_listeners,
    simulate_drifting_listens,
    simulate_listens,
)
from tables.exportify import read_tracks
from tables.listen import EVENTS, Listen
from tables.track import FEATURES, Track

N_TRACKS, N_USERS, N_EVENTS = 2000, 300, 60_000


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return generate_catalogue(N_TRACKS, seed=11)


@pytest.fixture(scope="module")
def listeners(catalogue) -> Listeners:
    return make_listeners(catalogue, N_USERS, seed=11)


@pytest.fixture(scope="module")
def events(catalogue, listeners) -> list[Listen]:
    return list(simulate_listens(catalogue, listeners, N_EVENTS, seed=11))


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data(catalogue, events):
    again = generate_catalogue(N_TRACKS, seed=11)
    other = generate_catalogue(N_TRACKS, seed=12)

    assert again.tracks == catalogue.tracks
    assert other.tracks != catalogue.tracks
    replayed = simulate_listens(again, make_listeners(again, N_USERS, seed=11), N_EVENTS, seed=11)
    assert list(replayed) == events
    assert list(simulate_listens(again, make_listeners(again, N_USERS, seed=12), 500, seed=12)) != events[:500]


def test_every_message_passes_validation(catalogue, events):
    assert all(Track.from_bytes(t.to_bytes()) == t for t in catalogue.tracks)
    assert all(Listen.from_bytes(e.to_bytes()) == e for e in events)
    assert len({t.item_id for t in catalogue.tracks}) == N_TRACKS


def test_timestamps_increase(events):
    stamps = np.array([e.ts for e in events])

    assert (np.diff(stamps) > 0).all()


def test_popularity_follows_a_power_law(catalogue, events):
    plays = Counter(e.item_id for e in events)
    counts = np.array(sorted(plays.values(), reverse=True))

    top_tenth_share = counts[: N_TRACKS // 10].sum() / len(events)
    assert top_tenth_share > 0.5
    # On a log-log plot of count against rank, a power law is a straight falling line.
    ranks = np.arange(1, 201)
    slope = np.polyfit(np.log(ranks), np.log(counts[:200]), 1)[0]
    assert -1.4 < slope < -0.5
    # The catalogue's popularity field ranks tracks much as plays do.
    popularity = np.array([t.popularity for t in catalogue.tracks])
    played = np.array([plays[t.item_id] for t in catalogue.tracks])
    assert rank_correlation(popularity, played) > 0.7


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.argsort().argsort(), b.argsort().argsort())[0, 1])


def test_plays_concentrate_in_each_listeners_taste(catalogue, listeners, events):
    cluster = {t.item_id: c for t, c in zip(catalogue.tracks, catalogue.clusters)}
    user = {u: i for i, u in enumerate(listeners.user_ids)}

    in_taste = np.mean([listeners.taste[user[e.user_id], cluster[e.item_id]] > 0 for e in events])

    assert in_taste > 1 - EXPLORE_SHARE - 0.02
    assert ((listeners.taste > 0).sum(axis=1) <= 3).all()


def test_events_are_mostly_plays_with_some_skips_likes_and_playlist_adds(events):
    kinds = Counter(e.event for e in events)

    assert set(kinds) == set(EVENTS)
    assert 0.6 < kinds["play"] / len(events) < 0.9
    assert all(e.count >= 1 for e in events)
    assert max(e.count for e in events if e.event == "play") > 1
    assert {e.count for e in events if e.event != "play"} == {1}


def test_audio_features_follow_the_genre_cluster(catalogue):
    energy = FEATURES.index("energy")
    by_cluster = {
        CLUSTERS[c].name: np.mean([t.feature_vector()[energy] for t, k in zip(catalogue.tracks, catalogue.clusters) if k == c])
        for c in np.unique(catalogue.clusters)
    }

    assert by_cluster["metal"] > 0.8 > 0.3 > by_cluster["classical"]
    genres = {c.name: set(c.genres) for c in CLUSTERS}
    assert all(set(t.genres) <= genres[CLUSTERS[c].name] for t, c in zip(catalogue.tracks, catalogue.clusters))


def test_a_real_catalogue_is_played_by_popularity_and_clustered_by_features(emergify_csv):
    tracks = list(read_tracks(emergify_csv))
    catalogue = catalogue_from_tracks(tracks, seed=3)
    listeners = make_listeners(catalogue, 100, seed=3)

    events = list(simulate_listens(catalogue, listeners, 20_000, seed=3))

    assert {e.item_id for e in events} <= {t.item_id for t in tracks}
    assert len(np.unique(catalogue.clusters)) >= 5
    plays = Counter(e.item_id for e in events)
    popularity = np.array([t.popularity for t in tracks])
    played = np.array([plays[t.item_id] for t in tracks])
    popular = popularity >= np.quantile(popularity, 0.75)
    assert played[popular].mean() > 3 * played[~popular].mean()


def test_drifting_listeners_leave_their_first_favourites_week_by_week(catalogue, listeners):
    weeks = 8
    events = list(simulate_drifting_listens(catalogue, listeners, 40_000, weeks, seed=11))
    again = list(simulate_drifting_listens(catalogue, listeners, 2_000, weeks, seed=11))
    cluster = {t.item_id: c for t, c in zip(catalogue.tracks, catalogue.clusters)}
    user = {u: i for i, u in enumerate(listeners.user_ids)}
    week = np.array([int((e.ts - events[0].ts) // WEEK_S) for e in events])
    first_taste = np.array([listeners.taste[user[e.user_id], cluster[e.item_id]] > 0 for e in events])

    assert again == list(simulate_drifting_listens(catalogue, listeners, 2_000, weeks, seed=11))
    assert set(week.tolist()) == set(range(weeks))
    assert all(Listen.from_bytes(e.to_bytes()) == e for e in events[:500])
    # Week 0 plays the first taste as the plain simulator does; by the last week much less of it.
    assert first_taste[week == 0].mean() > 1 - EXPLORE_SHARE - 0.03
    assert first_taste[week == weeks - 1].mean() < first_taste[week == 0].mean() - 0.15
