"""Optional lookups that fail, against the fake API: the import goes on, warns once, and says what is lacking.

Each optional endpoint (audio features, artists for genres) is made to answer 403, 404 and
500, to hang past the client's timeout, to send a body that is not JSON and one of the
wrong shape; the playlist endpoint failing the same ways still stops the import.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from collections.abc import Iterator

import pytest
from spotify_fake import CLIENT_SECRET, Fault, SpotifyFake, config, fake, track_id  # noqa: F401

from streamproc import cli as streamproc_cli
from streamproc.spotify import cli
from streamproc.spotify.client import SpotifyError, app_client, user_client
from streamproc.spotify.config import SpotifyConfig
from streamproc.spotify.importer import library_import, playlist_import
from tables.topics import LISTENS, TRACKS
from tables.track import Track

N_TRACKS = 120  # two audio-feature batches (100 + 20)
N_ARTISTS = 60  # two artist batches (50 + 10)
TIMEOUT_S = 0.3
ENDPOINTS = [
    pytest.param("/v1/audio-features", "audio features", id="audio-features"),
    pytest.param("/v1/artists", "genres", id="artists"),
]
# (the fault's settings, the cause the summary gives, a piece of the warning)
FAILURES = [
    pytest.param({"status": 403}, "403", "answered 403 to GET", id="403"),
    pytest.param({"status": 404}, "404", "answered 404 to GET", id="404"),
    pytest.param({"status": 500}, "500", "answered 500 to GET", id="500"),
    pytest.param({"hang": 5.0}, "timeout", f"did not answer GET /v1/{{}} within {TIMEOUT_S:g} s",
                 id="timeout"),
    pytest.param({"body": b"<html>502 Bad Gateway</html>"}, "not JSON", "is not JSON", id="not-json"),
    pytest.param(
        {"body": b'{"artists": "none", "audio_features": 7}'}, "malformed answer", "not shaped as expected",
        id="wrong-shape",
    ),
]


@pytest.fixture
def big() -> Iterator[SpotifyFake]:
    """Yield a fake granting every lookup, with playlist pl3 holding N_TRACKS tracks by N_ARTISTS artists."""
    with SpotifyFake(n_tracks=N_TRACKS, page_size=50, n_artists=N_ARTISTS) as server:
        server.features_granted = True
        server.add_playlist("Everything", "curator", list(server.tracks.values()))
        yield server


def quick(fake: SpotifyFake, tmp_path) -> SpotifyConfig:
    """Return a configuration for ``fake`` with a short timeout and no retry of server errors."""
    config = SpotifyConfig.from_env(fake.environ(tmp_path / "token.json"))
    return dataclasses.replace(config, timeout=TIMEOUT_S, max_retry_after=0)


def _tracks(messages) -> list[Track]:
    return [Track.from_bytes(m.value) for m in messages if m.topic == TRACKS]


def _has(track: Track, field: str) -> bool:
    return track.features is not None if field == "audio features" else bool(track.genres)


def _warnings(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]


@pytest.mark.parametrize("fault, cause, warning", FAILURES)
@pytest.mark.parametrize("endpoint, field", ENDPOINTS)
def test_a_failing_optional_lookup_leaves_its_field_out_with_one_warning(
    big, tmp_path, caplog, endpoint, field, fault, cause, warning
):
    big.faults.append(Fault(endpoint, times=None, **fault))
    with caplog.at_level(logging.WARNING):
        imported = playlist_import(app_client(quick(big, tmp_path)), "pl3", None)
    tracks = _tracks(imported.messages)
    assert [t.item_id for t in tracks] == [track_id(n) for n in range(N_TRACKS)]
    other = "genres" if field == "audio features" else "audio features"
    assert not any(_has(t, field) for t in tracks) and all(_has(t, other) for t in tracks)
    assert imported.summary() == f"imported {N_TRACKS} tracks; {N_TRACKS} without {field} ({cause})"
    [line] = _warnings(caplog)  # one warning for the run, not one per batch or per track
    assert warning.format(endpoint.removeprefix("/v1/")) in line and field in line
    assert CLIENT_SECRET not in line
    # After the failure the lookup asks no more: the second batch goes unasked.
    assert len(big.calls("GET", endpoint)) == 1


def test_a_lookup_failing_on_a_later_batch_keeps_what_the_earlier_ones_gave(big, tmp_path, caplog):
    big.faults.append(Fault("/v1/audio-features", status=500, skip=1, times=None))
    with caplog.at_level(logging.WARNING):
        imported = playlist_import(app_client(quick(big, tmp_path)), "pl3", None)
    tracks = _tracks(imported.messages)
    assert all(t.features is not None for t in tracks[:100]) and all(t.features is None for t in tracks[100:])
    assert imported.summary() == f"imported {N_TRACKS} tracks; 20 without audio features (500)"
    assert len(_warnings(caplog)) == 1


def test_a_library_import_goes_on_when_both_lookups_fail_and_warns_once_for_each(fake, config, caplog):
    fake.seed_user_token(config.cache)
    fake.faults.append(Fault("/v1/artists", status=404, times=None))
    with caplog.at_level(logging.WARNING):
        imported = library_import(user_client(config), "u1")
    assert sorted(t.item_id for t in _tracks(imported.messages)) == [track_id(n) for n in range(2, 7)]
    assert sum(m.topic == LISTENS for m in imported.messages) == 7
    assert imported.summary() == "imported 5 tracks; 5 without audio features (403), 5 without genres (404)"
    features, genres = _warnings(caplog)
    assert "Spotify refuses audio features" in features and "features: null" in features
    assert "404 to GET /v1/artists" in genres and "without genres" in genres


@pytest.mark.parametrize("fault, message", [
    ({"status": 403}, "Spotify answered 403 to GET /v1/playlists/pl1/items"),
    ({"status": 500}, "Spotify answered 500 to GET /v1/playlists/pl1/items"),
    ({"hang": 5.0}, f"Spotify did not answer GET /v1/playlists/pl1/items within {TIMEOUT_S:g} s"),
    ({"body": b"<html>502 Bad Gateway</html>"},
     "Spotify's answer to GET /v1/playlists/pl1/items is not JSON"),
], ids=["403", "500", "timeout", "not-json"])
def test_the_playlist_failing_is_still_an_error(fake, tmp_path, fault, message):
    fake.faults.append(Fault("/v1/playlists/pl1", times=None, **fault))
    with pytest.raises(SpotifyError, match=message):
        playlist_import(app_client(quick(fake, tmp_path)), "pl1", None)
    assert not fake.calls("GET", "/v1/audio-features") and not fake.calls("GET", "/v1/artists")


@pytest.fixture
def environ(fake: SpotifyFake, tmp_path, monkeypatch) -> None:
    for name, value in fake.environ(tmp_path / "token.json").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("STREAMPROC_SPOTIFY_TIMEOUT", str(TIMEOUT_S))


def test_the_command_prints_what_tracks_lack_and_sends_them_all(fake, environ, monkeypatch, capsys, caplog):
    fake.faults.append(Fault("/v1/artists", status=404, times=None))
    sent = []

    def send(broker, messages, **options) -> int:  # no broker needed: the test keeps what is sent
        sent.extend(messages)
        return len(sent)

    monkeypatch.setattr(cli, "send_messages", send)
    parser = argparse.ArgumentParser(prog="streamproc")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["spotify", "import-playlist", "pl1", "--broker", "127.0.0.1:1"])
    with caplog.at_level(logging.WARNING):
        assert args.func(args) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "imported 5 tracks; 5 without audio features (403), 5 without genres (404)",
        "sent 5 tracks and 0 events from playlist pl1 to 127.0.0.1:1",
    ]
    assert len(_warnings(caplog)) == 2 and len(_tracks(sent)) == 5
    assert CLIENT_SECRET not in out + err + caplog.text


def test_the_command_stops_with_one_line_when_the_playlist_fails(fake, environ, capsys):
    fake.faults.append(Fault("/v1/playlists/pl1", hang=5.0, times=None))
    assert streamproc_cli.main(["spotify", "import-playlist", "pl1", "--broker", "127.0.0.1:1"]) == 1
    out, err = capsys.readouterr()
    assert not out
    assert err == (
        f"streamproc: error: Spotify did not answer GET /v1/playlists/pl1/items within {TIMEOUT_S:g} s "
        "(STREAMPROC_SPOTIFY_TIMEOUT)\n"
    )
