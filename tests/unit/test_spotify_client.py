"""The Spotify request policy against the fake API: URLs, tokens, 401, 429 and timeouts."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest
from spotify_fake import CLIENT_SECRET, ME, USER_TOKEN, Fault, config, fake  # noqa: F401

from streamproc.settings import SettingsError
from streamproc.spotify.client import SpotifyError, app_client, user_client
from streamproc.spotify.config import SpotifyConfig


def test_app_token_is_exchanged_at_the_configured_accounts_url(fake, config):
    client = app_client(config)
    assert client.playlist_items("pl1", limit=50)["total"] == 5
    assert len(fake.calls("POST", "/api/token")) == 1
    assert fake.calls("GET", "/v1/playlists/pl1/items")


def test_user_client_uses_the_seeded_token_cache_without_a_browser(fake, config):
    fake.seed_user_token(config.cache)
    assert user_client(config).me()["id"] == ME
    assert not fake.calls("POST", "/api/token")


def test_an_expired_user_token_is_refreshed_at_the_configured_accounts_url(fake, config):
    fake.seed_user_token(config.cache, expired=True)
    assert user_client(config).me()["id"] == ME
    [refresh] = fake.calls("POST", "/api/token")
    assert b"grant_type=refresh_token" in refresh.body
    assert json.loads(Path(config.cache).read_text())["access_token"] == "refreshed-token"


def test_bad_client_credentials_fail_with_one_line_that_hides_the_secret(fake, tmp_path):
    config = SpotifyConfig.from_env(fake.environ(tmp_path / "token.json", secret="wrong-secret"))
    with pytest.raises(SpotifyError) as failure:
        app_client(config).playlist_items("pl1")
    message = str(failure.value)
    assert "SPOTIPY_CLIENT_SECRET" in message and "Invalid client secret" in message
    assert "\n" not in message and "wrong-secret" not in message and CLIENT_SECRET not in message


def test_a_rejected_access_token_fails_with_one_line(fake, config):
    fake.seed_user_token(config.cache)
    fake.tokens.discard(USER_TOKEN)
    with pytest.raises(SpotifyError) as failure:
        user_client(config).me()
    assert failure.value.status == 401
    assert "Invalid access token" in str(failure.value) and config.cache in str(failure.value)
    assert "\n" not in str(failure.value) and USER_TOKEN not in str(failure.value)


def test_a_short_retry_after_is_honoured(fake, config):
    fake.seed_user_token(config.cache)
    fake.faults.append(Fault("/v1/me", retry_after=1))
    started = time.monotonic()
    assert user_client(config).me()["id"] == ME
    assert time.monotonic() - started >= 1
    assert len(fake.calls("GET", "/v1/me")) == 2


def test_a_retry_after_above_the_bound_fails_at_once(fake, config):
    """Regression: spotipy's own retries sleep for as long as Retry-After says (an hour)."""
    fake.seed_user_token(config.cache)
    fake.faults.append(Fault("/v1/me", retry_after=3600))
    started = time.monotonic()
    with pytest.raises(SpotifyError, match="asks to wait 3600 s, more than STREAMPROC_SPOTIFY_MAX_RETRY_AFTER=3 s"):
        user_client(config).me()
    assert time.monotonic() - started < 2
    assert len(fake.calls("GET", "/v1/me")) == 1


def test_waits_for_one_request_add_up_to_the_bound(fake, config):
    fake.seed_user_token(config.cache)
    fake.faults.append(Fault("/v1/me", retry_after=2, times=5))
    with pytest.raises(SpotifyError, match="rate-limiting"):
        user_client(config).me()
    assert len(fake.calls("GET", "/v1/me")) == 2  # waited 2 s once; a second 2 s would pass the 3 s bound


def test_a_get_is_tried_again_after_a_passing_server_error(fake, config):
    fake.seed_user_token(config.cache)
    fake.faults.append(Fault("/v1/me", status=503))
    assert user_client(config).me()["id"] == ME
    assert len(fake.calls("GET", "/v1/me")) == 2


def test_a_post_is_not_tried_again_after_a_server_error(fake, config):
    fake.seed_user_token(config.cache)
    fake.faults.append(Fault("/v1/me/playlists", status=502))
    with pytest.raises(SpotifyError, match="Spotify answered 502 to POST /v1/me/playlists: fault 502"):
        user_client(config).current_user_playlist_create("x")
    assert len(fake.calls("POST", "/v1/me/playlists")) == 1


def test_a_lasting_server_error_fails_after_two_retries(fake, config):
    fake.seed_user_token(config.cache)
    fake.faults.append(Fault("/v1/me", status=500, times=9))
    with pytest.raises(SpotifyError, match="Spotify answered 500 to GET /v1/me"):
        user_client(config).me()
    assert len(fake.calls("GET", "/v1/me")) == 3


def test_a_slow_answer_times_out_with_one_line(fake, config):
    fake.seed_user_token(config.cache)
    fake.delay = 1.0
    with pytest.raises(SpotifyError, match=r"did not answer GET /v1/me within 0.2 s"):
        user_client(dataclasses.replace(config, timeout=0.2)).me()


def test_missing_credentials_name_the_variable(fake, tmp_path):
    environ = fake.environ(tmp_path / "token.json")
    del environ["SPOTIPY_REDIRECT_URI"]
    app_client(SpotifyConfig.from_env(environ))  # the app flow needs no redirect
    with pytest.raises(SettingsError, match="SPOTIPY_REDIRECT_URI is not set"):
        user_client(SpotifyConfig.from_env(environ))


def test_no_cached_user_token_without_a_terminal_fails_instead_of_waiting_for_a_browser(config):
    with pytest.raises(SpotifyError, match="no Spotify user token with the needed scopes"):
        user_client(config)
