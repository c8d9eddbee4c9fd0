"""Importing playlists and libraries against the fake API: pagination, features, genres, events."""

from __future__ import annotations

import logging

import pytest
from spotify_fake import SpotifyFake, config, fake, track_id  # noqa: F401

from streamproc.errors import CommandError
from streamproc.spotify.client import SpotifyError, app_client, user_client
from streamproc.spotify.config import SpotifyConfig
from streamproc.spotify.importer import library_import, playlist_import
from tables.listen import Listen
from tables.topics import LISTENS, TRACKS
from tables.track import Track


def _tracks(messages) -> list[Track]:
    return [Track.from_bytes(m.value) for m in messages if m.topic == TRACKS]


def _listens(messages) -> list[Listen]:
    return [Listen.from_bytes(m.value) for m in messages if m.topic == LISTENS]


def test_a_playlist_is_read_across_pages_with_genres_and_null_features_when_refused(fake, config, caplog):
    with caplog.at_level(logging.WARNING):
        imported = playlist_import(app_client(config), "https://open.spotify.com/playlist/pl1?si=x", None)
    messages = imported.messages
    tracks = _tracks(messages)
    assert [t.item_id for t in tracks] == [track_id(n) for n in range(5)]
    assert len(fake.calls("GET", "/v1/playlists/pl1/items")) == 2  # pages of 3
    assert all(t.features is None for t in tracks)
    assert tracks[1].genres == ["genre1", "indie"] and tracks[1].artists == ["Artist 1"]
    assert tracks[2].popularity == 20 and tracks[2].release_date == "2022-01-01"
    assert len(caplog.records) == 1 and "403" in caplog.text and "features: null" in caplog.text
    assert imported.summary() == "imported 5 tracks; 5 without audio features (403)"
    assert not _listens(messages)


def test_as_user_adds_a_like_per_track_keyed_by_the_user(fake, config):
    messages = playlist_import(app_client(config), "spotify:playlist:pl1", "u7").messages
    likes = [m for m in messages if m.topic == LISTENS]
    assert {m.key for m in likes} == {"u7"}
    events = _listens(messages)
    assert [(e.user_id, e.item_id, e.event) for e in events] == [("u7", track_id(n), "like") for n in range(5)]
    assert events[0].ts == 1735689600.0  # the entry's added_at, 2025-01-01


def test_granted_audio_features_are_fetched_in_batches_of_100():
    with SpotifyFake(n_tracks=150) as big:
        big.features_granted = True
        big.playlists["pl1"]["entries"] = [{"added_at": None, "item": t} for t in big.tracks.values()]
        tracks = _tracks(playlist_import(app_client(SpotifyConfig.from_env(big.environ("unused"))), "pl1", None).messages)
        batches = [len(call.query["ids"][0].split(",")) for call in big.calls("GET", "/v1/audio-features")]
    assert batches == [100, 50]
    assert len(tracks) == 150 and tracks[3].feature_vector() == [0.3] * 12


def test_refused_artists_leave_genres_empty_with_one_warning(fake, config, caplog):
    fake.artists_granted = False
    fake.features_granted = True
    with caplog.at_level(logging.WARNING):
        tracks = _tracks(playlist_import(app_client(config), "pl1", None).messages)
    assert all(t.genres == [] for t in tracks) and tracks[0].features is not None
    assert len(caplog.records) == 1 and "genres" in caplog.text


def test_the_library_gives_likes_for_saved_tracks_and_playlist_adds_for_own_playlists(fake, config):
    fake.seed_user_token(config.cache)
    fake.add_playlist("Followed", "someone-else", list(fake.tracks.values()))
    messages = library_import(user_client(config), "u1").messages
    events = [(e.event, e.item_id) for e in _listens(messages)]
    assert events == [("like", track_id(n)) for n in range(2, 6)] + [
        ("playlist_add", track_id(n)) for n in range(4, 7)
    ]
    assert {m.key for m in messages if m.topic == LISTENS} == {"u1"}
    assert sorted(t.item_id for t in _tracks(messages)) == [track_id(n) for n in range(2, 7)]
    assert len(fake.calls("GET", "/v1/me/tracks")) == 2
    # Only playlists the account owns are read; the curator's and the followed one are not.
    assert not fake.calls("GET", "/v1/playlists/pl1/items") and not fake.calls("GET", "/v1/playlists/pl3/items")


def test_an_argument_that_is_no_playlist_fails_with_one_line(config):
    with pytest.raises(CommandError, match="not a Spotify playlist URL, URI or ID: 'spotify:track:x'"):
        playlist_import(app_client(config), "spotify:track:x", None)


def test_an_unknown_playlist_fails_with_one_line(config):
    with pytest.raises(SpotifyError, match="Spotify answered 404 to GET /v1/playlists/nope/items: Resource not found"):
        playlist_import(app_client(config), "nope", None)
