"""A seeded listener simulator: a catalogue, listeners with tastes, and their listening events.

Each track belongs to one genre cluster, whose audio-feature profile it was drawn from (or,
for a real catalogue, the profile nearest to its features). Plays follow a Zipf law over
popularity rank; each listener mixes a few favourite clusters, plays mostly from them and
now and then explores another cluster, where skips are more likely. Drifting listeners
(:func:`simulate_drifting_listens`) take up new clusters week by week, their events spread over
weeks of event time, for evaluations that replay a stream in time order.

>>> catalogue = generate_catalogue(200, seed=7)
>>> listeners = make_listeners(catalogue, 5, seed=7)
>>> events = list(simulate_listens(catalogue, listeners, 100, seed=7, start=0.0))
>>> len(events), events == list(simulate_listens(catalogue, listeners, 100, seed=7, start=0.0))
(100, True)
>>> all(a.ts < b.ts for a, b in zip(events, events[1:]))
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import numpy as np

from tables.listen import Listen
from tables.track import FEATURES, Track

ZIPF_EXPONENT = 1.0
EXPLORE_SHARE = 0.1
MAX_FAVOURITES = 3
TRACKS_PER_ARTIST = 6
COLLABORATION_SHARE = 0.1
PLAY_REPEAT_P = 0.45
MEAN_GAP_S = 2.0
MIN_GAP_S = 0.001
START = 1_700_000_000.0
CHUNK = 8192
WEEK_S = 7 * 86_400.0
# A drifting listener's week: a new cluster taken up with chance DRIFT_P, given DRIFT_SHARE of the
# taste. Over 8 weeks the clusters favoured at the start keep about 55% of the plays.
DRIFT_P = 0.25
DRIFT_SHARE = 0.3
# Event probabilities (play, skip, like, playlist_add): a favourite cluster is seldom
# skipped and often liked; a cluster explored by chance is skipped far more.
EVENT_KINDS = ("play", "skip", "like", "playlist_add")
FAVOURITE_EVENTS = (0.80, 0.08, 0.07, 0.05)
EXPLORED_EVENTS = (0.55, 0.40, 0.03, 0.02)


@dataclasses.dataclass(frozen=True)
class GenreCluster:
    """A family of genres and the mean audio features of its tracks."""

    name: str
    genres: tuple[str, ...]
    danceability: float
    energy: float
    loudness: float
    speechiness: float
    acousticness: float
    instrumentalness: float
    valence: float
    tempo: float
    major: float


CLUSTERS = (
    GenreCluster("pop", ("pop", "dance pop", "electropop", "indie pop"),
                 0.68, 0.68, -6.0, 0.06, 0.18, 0.01, 0.58, 118, 0.65),
    GenreCluster("rock", ("rock", "indie rock", "alternative rock", "garage rock"),
                 0.48, 0.80, -5.5, 0.05, 0.08, 0.06, 0.48, 128, 0.70),
    GenreCluster("hip hop", ("hip hop", "rap", "trap", "grime"),
                 0.78, 0.64, -6.5, 0.26, 0.14, 0.01, 0.50, 96, 0.50),
    GenreCluster("electronic", ("house", "techno", "edm", "drum and bass"),
                 0.70, 0.84, -5.5, 0.07, 0.04, 0.62, 0.38, 126, 0.50),
    GenreCluster("jazz", ("jazz", "bebop", "smooth jazz", "vocal jazz"),
                 0.55, 0.35, -12.0, 0.06, 0.74, 0.42, 0.55, 110, 0.60),
    GenreCluster("classical", ("classical", "baroque", "romantic era", "minimalism"),
                 0.28, 0.14, -20.0, 0.04, 0.92, 0.86, 0.22, 92, 0.65),
    GenreCluster("metal", ("metal", "death metal", "thrash metal", "metalcore"),
                 0.40, 0.93, -4.5, 0.08, 0.01, 0.22, 0.28, 136, 0.55),
    GenreCluster("folk", ("folk", "indie folk", "singer-songwriter", "americana"),
                 0.52, 0.36, -10.0, 0.04, 0.78, 0.10, 0.45, 112, 0.75),
    GenreCluster("r&b", ("r&b", "neo soul", "contemporary r&b", "soul"),
                 0.66, 0.54, -7.0, 0.09, 0.26, 0.01, 0.55, 100, 0.45),
    GenreCluster("latin", ("reggaeton", "latin pop", "salsa", "bachata"),
                 0.76, 0.76, -5.0, 0.08, 0.20, 0.01, 0.72, 104, 0.55),
)
# Spread of each continuous feature around its cluster mean, and the scale used to
# measure how near a real track is to a cluster (key, mode and time signature carry no genre).
_CONTINUOUS = ("danceability", "energy", "loudness", "speechiness", "acousticness",
               "instrumentalness", "valence", "tempo")
_SPREAD = np.array([0.08, 0.08, 2.0, 0.04, 0.10, 0.10, 0.12, 12.0])
_SCALE = np.array([0.15, 0.15, 4.0, 0.10, 0.25, 0.25, 0.20, 25.0])
_BOUNDS = {"loudness": (-40.0, 0.0), "tempo": (50.0, 220.0)}
_SYLLABLES = ("ka", "lo", "ve", "rin", "ta", "mo", "sa", "lee", "dor", "ni", "ze", "ra",
              "bel", "o", "mi", "an", "tu", "sol", "ky", "na")
_ADJECTIVES = ("Golden", "Silent", "Electric", "Broken", "Midnight", "Velvet", "Northern",
               "Paper", "Neon", "Slow", "Wild", "Blue", "Hollow", "Bright", "Lonely", "Summer")
_NOUNS = ("Rain", "Hearts", "Highway", "Echo", "River", "Fire", "Dreams", "Lights", "Ocean",
          "Garden", "Signal", "Horizon", "Shadows", "Letters", "Machine", "Bloom")


@dataclasses.dataclass(frozen=True)
class Catalogue:
    """Tracks, the cluster index of each, and each one's relative chance of being played."""

    tracks: list[Track]
    clusters: np.ndarray
    weights: np.ndarray


@dataclasses.dataclass(frozen=True)
class Listeners:
    """Listener ids, their taste (a mix over clusters, rows sum to 1) and share of all events."""

    user_ids: list[str]
    taste: np.ndarray
    activity: np.ndarray


def generate_catalogue(n_tracks: int, seed: int) -> Catalogue:
    """Return ``n_tracks`` made-up tracks whose genres and audio features follow their cluster.

    >>> catalogue = generate_catalogue(50, seed=1)
    >>> len(catalogue.tracks), catalogue.tracks[0].item_id, 0 <= catalogue.tracks[0].popularity <= 100
    (50, 'sim-track-0', True)
    """
    rng = np.random.default_rng([seed, 0])
    n_artists = max(1, n_tracks // TRACKS_PER_ARTIST)
    shares = rng.dirichlet(np.full(len(CLUSTERS), 3.0))
    artist_cluster = rng.choice(len(CLUSTERS), size=n_artists, p=shares)
    artist_names = _artist_names(n_artists, rng)
    artist_genres = [
        [str(g) for g in rng.choice(CLUSTERS[c].genres, size=rng.integers(1, 3), replace=False)]
        for c in artist_cluster
    ]
    peers_in = {c: np.flatnonzero(artist_cluster == c) for c in range(len(CLUSTERS))}
    ranks = rng.permutation(n_tracks) + 1
    tracks = []
    clusters = np.empty(n_tracks, dtype=int)
    for i in range(n_tracks):
        artists = [int(rng.integers(n_artists))]
        cluster = int(artist_cluster[artists[0]])
        peers = peers_in[cluster]
        if rng.random() < COLLABORATION_SHARE and len(peers) > 1:
            artists.append(int(rng.choice(peers[peers != artists[0]])))
        genres = list(dict.fromkeys(g for a in artists for g in artist_genres[a]))
        clusters[i] = cluster
        tracks.append(Track(
            item_id=f"sim-track-{i}",
            name=f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}",
            artists=[artist_names[a] for a in artists],
            popularity=round(float(100 * (1 - np.log(ranks[i]) / np.log(n_tracks + 1))), 1),
            release_date=_release_date(rng),
            genres=genres,
            features=_draw_features(CLUSTERS[cluster], rng),
        ))
    return Catalogue(tracks, clusters, _zipf(ranks))


def catalogue_from_tracks(tracks: Sequence[Track], seed: int) -> Catalogue:
    """Return a catalogue of real ``tracks``: each in the cluster nearest its audio features
    (a random one when it has none), played by the Zipf law over its popularity rank.

    >>> loud = dict(danceability=.4, energy=.95, key=1, loudness=-4, mode=1, speechiness=.08,
    ...             acousticness=0, instrumentalness=.2, liveness=.1, valence=.3, tempo=140,
    ...             time_signature=4)
    >>> catalogue = catalogue_from_tracks([Track("t1", features=loud), Track("t2")], seed=0)
    >>> CLUSTERS[catalogue.clusters[0]].name, round(float(catalogue.weights.sum()), 3)
    ('metal', 1.5)
    """
    rng = np.random.default_rng([seed, 0])
    tracks = list(tracks)
    centroids = np.array([[getattr(c, name) for name in _CONTINUOUS] for c in CLUSTERS])
    clusters = np.empty(len(tracks), dtype=int)
    for i, track in enumerate(tracks):
        if track.features is None:
            clusters[i] = rng.integers(len(CLUSTERS))
            continue
        point = np.array([track.features[name] for name in _CONTINUOUS])
        clusters[i] = np.argmin((((centroids - point) / _SCALE) ** 2).sum(axis=1))
    popularity = np.array([t.popularity or 0.0 for t in tracks])
    order = np.lexsort((rng.random(len(tracks)), -popularity))
    ranks = np.empty(len(tracks), dtype=int)
    ranks[order] = np.arange(1, len(tracks) + 1)
    return Catalogue(tracks, clusters, _zipf(ranks))


def make_listeners(catalogue: Catalogue, n_users: int, seed: int) -> Listeners:
    """Return ``n_users`` listeners, each fond of 1 to ``MAX_FAVOURITES`` of the catalogue's clusters.

    >>> listeners = make_listeners(generate_catalogue(100, seed=2), 3, seed=2)
    >>> listeners.user_ids, bool(np.allclose(listeners.taste.sum(axis=1), 1))
    (['sim-user-0', 'sim-user-1', 'sim-user-2'], True)
    """
    rng = np.random.default_rng([seed, 1])
    populated = np.unique(catalogue.clusters)
    taste = np.zeros((n_users, len(CLUSTERS)))
    for user in range(n_users):
        count = rng.integers(1, min(MAX_FAVOURITES, len(populated)) + 1)
        favourites = rng.choice(populated, size=count, replace=False)
        taste[user, favourites] = rng.dirichlet(np.full(count, 2.0))
    activity = rng.lognormal(0.0, 1.0, size=n_users)
    return Listeners([f"sim-user-{u}" for u in range(n_users)], taste, activity / activity.sum())


def simulate_listens(
    catalogue: Catalogue, listeners: Listeners, n_events: int, seed: int, start: float = START
) -> Iterator[Listen]:
    """Yield ``n_events`` listening events with increasing timestamps from ``start``; the same
    arguments always yield the same events."""
    rng = np.random.default_rng([seed, 2])
    draw = _ItemDraw(catalogue)
    taste = np.cumsum(listeners.taste, axis=1)
    clock = start
    for offset in range(0, n_events, CHUNK):
        size = min(CHUNK, n_events - offset)
        users = rng.choice(len(listeners.user_ids), size=size, p=listeners.activity)
        items, kinds, counts = draw.events(rng, taste[users])
        stamps = clock + np.cumsum(MIN_GAP_S + rng.exponential(MEAN_GAP_S, size=size))
        clock = float(stamps[-1])
        yield from _listens(catalogue, listeners, users, items, kinds, counts, stamps)


def drifting_tastes(catalogue: Catalogue, listeners: Listeners, weeks: int, seed: int,
                    drift: float = DRIFT_P) -> np.ndarray:
    """Return every listener's taste in each of ``weeks`` weeks, shape (weeks, users, clusters), rows summing to 1.

    Week 0 is ``listeners.taste``. Each later week a listener takes up a cluster they did not
    favour with chance ``drift``, which gets ``DRIFT_SHARE`` of their taste while the others
    shrink in proportion: old favourites fade over a few months rather than vanish overnight.

    >>> catalogue = generate_catalogue(100, seed=2)
    >>> tastes = drifting_tastes(catalogue, make_listeners(catalogue, 4, seed=2), weeks=6, seed=2)
    >>> tastes.shape[:2], bool(np.allclose(tastes.sum(axis=2), 1)), bool((tastes[5] != tastes[0]).any())
    ((6, 4), True, True)
    """
    rng = np.random.default_rng([seed, 3])
    populated = np.unique(catalogue.clusters)
    tastes = np.empty((max(weeks, 1), *listeners.taste.shape))
    tastes[0] = listeners.taste
    for week in range(1, weeks):
        taste = tastes[week - 1].copy()
        for user in np.flatnonzero(rng.random(len(taste)) < drift):
            others = populated[taste[user, populated] < DRIFT_SHARE / 2]
            if len(others):
                taste[user] *= 1.0 - DRIFT_SHARE
                taste[user, rng.choice(others)] += DRIFT_SHARE
        tastes[week] = taste
    return tastes


def simulate_drifting_listens(
    catalogue: Catalogue, listeners: Listeners, n_events: int, weeks: int, seed: int, start: float = START,
    drift: float = DRIFT_P,
) -> Iterator[Listen]:
    """Yield ``n_events`` listening events spread over ``weeks`` weeks of event time from ``start``,
    each listener playing from their taste of that week (:func:`drifting_tastes` with ``drift``); seeded.

    >>> catalogue = generate_catalogue(200, seed=7)
    >>> events = list(simulate_drifting_listens(catalogue, make_listeners(catalogue, 5, seed=7), 300, weeks=3, seed=7))
    >>> 2 * WEEK_S < events[-1].ts - events[0].ts < 4 * WEEK_S, all(a.ts < b.ts for a, b in zip(events, events[1:]))
    (True, True)
    """
    rng = np.random.default_rng([seed, 2])
    clock_rng = np.random.default_rng([seed, 4])
    draw = _ItemDraw(catalogue)
    tastes = np.cumsum(drifting_tastes(catalogue, listeners, weeks, seed, drift), axis=2)
    gap = weeks * WEEK_S / max(n_events, 1)
    clock = start
    for offset in range(0, n_events, CHUNK):
        size = min(CHUNK, n_events - offset)
        users = rng.choice(len(listeners.user_ids), size=size, p=listeners.activity)
        stamps = clock + np.cumsum(MIN_GAP_S + clock_rng.exponential(gap, size=size))
        clock = float(stamps[-1])
        week = np.minimum(((stamps - start) // WEEK_S).astype(int), len(tastes) - 1)
        items, kinds, counts = draw.events(rng, tastes[week, users])
        yield from _listens(catalogue, listeners, users, items, kinds, counts, stamps)


class _ItemDraw:
    """Draws events' items from their listeners' tastes, and the kind and count of each event."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.populated = np.unique(catalogue.clusters)
        self.members = {int(c): np.flatnonzero(catalogue.clusters == c) for c in self.populated}
        self.cumulative = {c: np.cumsum(catalogue.weights[m]) / catalogue.weights[m].sum()
                           for c, m in self.members.items()}

    def events(self, rng: np.random.Generator, taste: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the (item, kind, count) of one event per row of ``taste`` (cumulative over clusters)."""
        size = len(taste)
        explored = rng.random(size) < EXPLORE_SHARE
        clusters = (taste < rng.random(size)[:, None]).sum(axis=1)
        clusters = np.minimum(clusters, len(CLUSTERS) - 1)
        clusters[explored] = rng.choice(self.populated, size=int(explored.sum()))
        items = np.empty(size, dtype=int)
        for cluster in np.unique(clusters):
            picked = clusters == cluster
            members = self.members[int(cluster)]
            at = np.searchsorted(self.cumulative[int(cluster)], rng.random(int(picked.sum())))
            items[picked] = members[np.minimum(at, len(members) - 1)]
        kinds = np.where(
            explored,
            rng.choice(len(EVENT_KINDS), size=size, p=EXPLORED_EVENTS),
            rng.choice(len(EVENT_KINDS), size=size, p=FAVOURITE_EVENTS),
        )
        counts = np.where(kinds == 0, rng.geometric(PLAY_REPEAT_P, size=size), 1)
        return items, kinds, counts


def _listens(catalogue: Catalogue, listeners: Listeners, users: np.ndarray, items: np.ndarray,
             kinds: np.ndarray, counts: np.ndarray, stamps: np.ndarray) -> Iterator[Listen]:
    for user, item, kind, count, ts in zip(users, items, kinds, counts, stamps):
        yield Listen(
            user_id=listeners.user_ids[user],
            item_id=catalogue.tracks[item].item_id,
            event=EVENT_KINDS[kind],
            count=int(count),
            ts=float(ts),
        )


def _zipf(ranks: np.ndarray) -> np.ndarray:
    return ranks.astype(float) ** -ZIPF_EXPONENT


def _draw_features(cluster: GenreCluster, rng: np.random.Generator) -> dict[str, float]:
    means = np.array([getattr(cluster, name) for name in _CONTINUOUS])
    drawn = dict(zip(_CONTINUOUS, rng.normal(means, _SPREAD)))
    features = {
        name: float(np.clip(value, *_BOUNDS.get(name, (0.0, 1.0))))
        for name, value in drawn.items()
    }
    features["key"] = float(rng.integers(12))
    features["mode"] = float(rng.random() < cluster.major)
    features["liveness"] = float(min(1.0, 0.03 + rng.exponential(0.12)))
    features["time_signature"] = 4.0 if rng.random() < 0.9 else 3.0
    return {name: round(features[name], 4) for name in FEATURES}


def _artist_names(n_artists: int, rng: np.random.Generator) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < n_artists:
        words = [
            "".join(rng.choice(_SYLLABLES, size=rng.integers(2, 4))).capitalize()
            for _ in range(rng.integers(1, 3))
        ]
        name = " ".join(words)
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def _release_date(rng: np.random.Generator) -> str:
    # Catalogues lean to recent releases, as streaming ones do.
    year = int(max(1955, 2025 - rng.exponential(8.0)))
    return f"{year}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}"
