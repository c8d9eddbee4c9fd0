"""Turn Spotify playlists and saved tracks into ``tracks`` and ``listens`` messages.

Each track is described once per import: its audio features are fetched 100 at a time
and its artists' genres 50 at a time. Spotify refuses audio features (403) to apps
created since November 2024; then every track carries ``features: null`` and one
warning says why, and the recommender serves those tracks by ALS and popularity only.
Genres are left empty in the same way when the artists endpoint is refused.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterable, Iterator
from datetime import datetime

import spotipy
from spotipy.exceptions import SpotifyException

from streamproc.errors import CommandError
from streamproc.kafka.producer import Message
from streamproc.spotify.client import PAGE_LIMIT, SpotifyError, paged
from tables.listen import Listen
from tables.topics import LISTENS, TRACKS
from tables.track import FEATURES, Track

FEATURES_BATCH = 100
ARTISTS_BATCH = 50

log = logging.getLogger(__name__)


def playlist_messages(client: spotipy.Spotify, playlist: str, as_user: str | None) -> list[Message]:
    """Return the playlist's tracks, then a ``like`` by ``as_user`` for each when given."""
    try:
        entries = list(_track_entries(_playlist_entries(client, playlist)))
    except SpotifyException:
        # Our client turns every HTTP error into SpotifyError; spotipy raises this one itself
        # when it cannot find a playlist ID in the argument.
        raise CommandError(f"not a Spotify playlist URL, URI or ID: {playlist!r}") from None
    messages = _track_messages(client, [track for _, track in entries])
    if as_user is not None:
        messages += [_event(as_user, track, "like", added_at) for added_at, track in entries]
    return messages


def library_messages(client: spotipy.Spotify, user: str) -> list[Message]:
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
    messages = _track_messages(client, [track for _, track in likes + adds])
    messages += [_event(user, track, "like", added_at) for added_at, track in likes]
    messages += [_event(user, track, "playlist_add", added_at) for added_at, track in adds]
    return messages


def describe(client: spotipy.Spotify, tracks: list[dict]) -> list[Track]:
    """Return a :class:`Track` per distinct Spotify track, with features and genres where granted."""
    unique = list({track["id"]: track for track in tracks}.values())
    features = _audio_features(client, [track["id"] for track in unique])
    genres = _genres(client, {a["id"] for track in unique for a in track["artists"] if a.get("id")})
    return [
        Track(
            item_id=track["id"],
            name=track.get("name") or "",
            artists=[artist["name"] for artist in track["artists"]],
            popularity=track.get("popularity"),
            release_date=(track.get("album") or {}).get("release_date"),
            genres=list(dict.fromkeys(g for a in track["artists"] for g in genres.get(a.get("id"), []))),
            features=features.get(track["id"]),
        )
        for track in unique
    ]


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


def _track_messages(client: spotipy.Spotify, tracks: list[dict]) -> list[Message]:
    return [Message(TRACKS, track.item_id, track.to_bytes()) for track in describe(client, tracks)]


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
    found: dict[str, dict[str, float]] = {}
    for start in range(0, len(ids), FEATURES_BATCH):
        try:
            with warnings.catch_warnings():
                # spotipy marks the endpoint deprecated; we know, and handle its refusal below.
                warnings.simplefilter("ignore", DeprecationWarning)
                answers = client.audio_features(ids[start:start + FEATURES_BATCH])
        except SpotifyError as exc:
            if exc.status != 403:
                raise
            log.warning(
                "Spotify refuses audio features to this app (403: apps created since November 2024 "
                "have no access); tracks are imported with features: null and are recommended by "
                "ALS and popularity only"
            )
            return {}
        for answer in answers or []:
            if answer and all(answer.get(name) is not None for name in FEATURES):
                found[answer["id"]] = {name: float(answer[name]) for name in FEATURES}
    return found


def _genres(client: spotipy.Spotify, artist_ids: set[str]) -> dict[str, list[str]]:
    ids = sorted(artist_ids)
    genres: dict[str, list[str]] = {}
    for start in range(0, len(ids), ARTISTS_BATCH):
        try:
            answer = client.artists(ids[start:start + ARTISTS_BATCH])
        except SpotifyError as exc:
            if exc.status != 403:
                raise
            log.warning(
                "Spotify refuses the artists endpoint to this app (403); tracks are imported without genres"
            )
            return {}
        for artist in answer.get("artists") or []:
            if artist:
                genres[artist["id"]] = artist.get("genres") or []
    return genres
