"""Turn Spotify playlists and saved tracks into ``tracks`` and ``listens`` messages.

Each track is described once per import: its audio features are fetched 100 at a time
and its artists' genres 50 at a time. Both are optional lookups (``enrichment``): when
one fails, in any way, one warning says why, the tracks go on without that field
(``features: null``, no genres) and the import's summary says how many lack it. Spotify
refuses audio features (403) to apps created since November 2024; the recommender serves
tracks without them by ALS and popularity only. Only reading the playlist or the library
itself stops an import.
"""

from __future__ import annotations

import dataclasses
import functools
import time
import warnings
from collections.abc import Iterable, Iterator
from datetime import datetime

import spotipy
from spotipy.exceptions import SpotifyException

from streamproc.errors import CommandError
from streamproc.kafka.producer import Message
from streamproc.spotify.client import PAGE_LIMIT, paged
from streamproc.spotify.enrichment import Enrichment, Shortfall
from tables.listen import Listen
from tables.topics import LISTENS, TRACKS
from tables.track import FEATURES, Track

FEATURES_BATCH = 100
ARTISTS_BATCH = 50


@dataclasses.dataclass(frozen=True)
class Imported:
    """An import's messages (its tracks, then its events) and the optional fields its tracks lack."""

    messages: list[Message]
    tracks: int
    shortfalls: tuple[Shortfall, ...] = ()

    def summary(self) -> str:
        """Return the line that says how many tracks were imported and how many lack what.

        >>> lacking = (Shortfall("audio features", "403", 120), Shortfall("genres", "404", 37))
        >>> Imported([], 120, lacking).summary()
        'imported 120 tracks; 120 without audio features (403), 37 without genres (404)'
        >>> Imported([], 5).summary()
        'imported 5 tracks'
        """
        lacking = ", ".join(map(str, self.shortfalls))
        return f"imported {self.tracks} tracks" + (f"; {lacking}" if lacking else "")


def playlist_import(client: spotipy.Spotify, playlist: str, as_user: str | None) -> Imported:
    """Return the playlist's tracks, then a ``like`` by ``as_user`` for each when given."""
    try:
        entries = list(_track_entries(_playlist_entries(client, playlist)))
    except SpotifyException:
        # Our client turns every HTTP error into SpotifyError; spotipy raises this one itself
        # when it cannot find a playlist ID in the argument.
        raise CommandError(f"not a Spotify playlist URL, URI or ID: {playlist!r}") from None
    events = [] if as_user is None else [_event(as_user, track, "like", at) for at, track in entries]
    return _imported(client, [track for _, track in entries], events)


def library_import(client: spotipy.Spotify, user: str) -> Imported:
    """Return the account's tracks, then ``user``'s events: a ``like`` per saved track and a
    ``playlist_add`` per track the account itself added to a playlist it owns or collaborates on.
    """
    me = client.me()["id"]
    likes = list(_track_entries(paged(client, client.current_user_saved_tracks(limit=PAGE_LIMIT))))
    adds = [
        entry
        for playlist in paged(client, client.current_user_playlists(limit=PAGE_LIMIT))
        if playlist["owner"]["id"] == me or playlist.get("collaborative")
        for entry in _track_entries(_playlist_entries(client, playlist["id"]), added_by=me)
    ]
    events = [_event(user, track, "like", added_at) for added_at, track in likes]
    events += [_event(user, track, "playlist_add", added_at) for added_at, track in adds]
    return _imported(client, [track for _, track in likes + adds], events)


def describe(client: spotipy.Spotify, tracks: list[dict]) -> tuple[list[Track], tuple[Shortfall, ...]]:
    """Return a :class:`Track` per distinct Spotify track, with features and genres where Spotify
    gave them, and how many of those tracks lack either because its lookup failed.
    """
    unique = list({track["id"]: track for track in tracks}.values())
    features = Enrichment(
        "audio features", functools.partial(_audio_features, client), FEATURES_BATCH,
        consequence=(
            "tracks are imported without audio features (features: null), recommended by ALS and "
            "popularity only"
        ),
        reasons={"403": "Spotify refuses audio features to apps created since November 2024"},
    )
    genres = Enrichment("genres", functools.partial(_genres, client), ARTISTS_BATCH)
    found_features = features.lookup(track["id"] for track in unique)
    found_genres = genres.lookup(sorted({a for track in unique for a in _artist_ids(track) if a}))
    described = [
        Track(
            item_id=track["id"],
            name=track.get("name") or "",
            artists=[artist["name"] for artist in track["artists"]],
            popularity=track.get("popularity"),
            release_date=(track.get("album") or {}).get("release_date"),
            genres=list(dict.fromkeys(g for a in _artist_ids(track) for g in found_genres.get(a, []))),
            features=found_features.get(track["id"]),
        )
        for track in unique
    ]
    for track, result in zip(unique, described):
        features.tally([track["id"]], found=result.features is not None)
        genres.tally(_artist_ids(track), found=bool(result.genres))
    return described, tuple(e.shortfall for e in (features, genres) if e.shortfall is not None)


def _artist_ids(track: dict) -> list[str | None]:
    return [artist.get("id") for artist in track["artists"]]


def _playlist_entries(client: spotipy.Spotify, playlist: str) -> Iterator[dict]:
    first = client.playlist_items(playlist, limit=PAGE_LIMIT, additional_types=("track",))
    return paged(client, first)


def _track_entries(
    entries: Iterable[dict], added_by: str | None = None
) -> Iterator[tuple[str | None, dict]]:
    """Yield (added_at, track object) for the real tracks among playlist or library entries."""
    for entry in entries:
        # Spotify renamed a playlist entry's "track" to "item" in 2026; saved tracks keep "track".
        track = entry.get("item") or entry.get("track") or {}
        if track.get("type", "track") != "track" or track.get("is_local") or not track.get("id"):
            continue
        if added_by is not None and (entry.get("added_by") or {}).get("id") != added_by:
            continue
        yield entry.get("added_at"), track


def _imported(client: spotipy.Spotify, tracks: list[dict], events: list[Message]) -> Imported:
    described, shortfalls = describe(client, tracks)
    messages = [Message(TRACKS, track.item_id, track.to_bytes()) for track in described]
    return Imported(messages + events, len(described), shortfalls)


def _event(user: str, track: dict, event: str, added_at: str | None) -> Message:
    ts = _timestamp(added_at) if added_at else time.time()
    return Message(LISTENS, user, Listen(user, track["id"], event, ts=ts).to_bytes())


def _timestamp(iso: str) -> float:
    """Return Spotify's ``added_at`` as seconds since the epoch.

    >>> _timestamp("2025-01-02T00:00:00Z")
    1735776000.0
    """
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _audio_features(client: spotipy.Spotify, ids: list[str]) -> dict[str, dict[str, float]]:
    with warnings.catch_warnings():
        # spotipy marks the endpoint deprecated; we know, and Enrichment handles its refusal.
        warnings.simplefilter("ignore", DeprecationWarning)
        answers = client.audio_features(ids)
    return {
        answer["id"]: {name: float(answer[name]) for name in FEATURES}
        for answer in _listed(answers, dict, nulls=True)
        if answer and all(answer.get(name) is not None for name in FEATURES)
    }


def _genres(client: spotipy.Spotify, artist_ids: list[str]) -> dict[str, list[str]]:
    return {
        artist["id"]: _listed(artist.get("genres") or [], str)
        for artist in _listed(client.artists(artist_ids)["artists"], dict, nulls=True)
        if artist
    }


def _listed(value: object, kind: type, nulls: bool = False) -> list:
    """Return ``value`` if it is a list of ``kind`` (or None, with ``nulls``: Spotify's answer
    for an unknown ID); raise TypeError if not, as an answer of the wrong shape.

    >>> _listed(["rock", "indie"], str), _listed([{"id": "a"}, None], dict, nulls=True)
    (['rock', 'indie'], [{'id': 'a'}, None])
    >>> _listed("rock", str)
    Traceback (most recent call last):
    ...
    TypeError: expected a list of str, got 'rock'
    """
    if not isinstance(value, list) or not all(
        isinstance(item, kind) or (nulls and item is None) for item in value
    ):
        raise TypeError(f"expected a list of {kind.__name__}, got {value!r:.60}")
    return value
