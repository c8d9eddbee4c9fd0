"""spotipy clients with streamproc's request policy.

Every request, the token exchange included, goes to the configured API and accounts
URLs, gives up after ``STREAMPROC_SPOTIFY_TIMEOUT`` seconds, and fails with one
readable line (:class:`SpotifyError`). A 429 is retried here, not by spotipy: its
``Retry-After`` is honoured while the waits for one request add up to at most
``STREAMPROC_SPOTIFY_MAX_RETRY_AFTER`` seconds; a longer demand fails at once, where
spotipy's own retries would sleep for as long as Spotify asks (an hour is common).
A GET that meets a passing server error (500, 502, 503, 504) is tried again after 1 s,
then 2 s, within the same bound; other methods are not, as a repeated POST could create
a second playlist. An answer whose body is not JSON (a proxy's error page) is an error
too, where spotipy would return None and a playlist would read as empty.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
import spotipy
from spotipy.cache_handler import CacheFileHandler, MemoryCacheHandler
from spotipy.exceptions import SpotifyException, SpotifyOauthError
from spotipy.oauth2 import SpotifyAuthBase, SpotifyClientCredentials, SpotifyOAuth

from streamproc.errors import CommandError
from streamproc.spotify.config import SpotifyConfig

# One grant serves import-library and export, so a single authorisation covers both.
SCOPE = (
    "user-library-read playlist-read-private playlist-read-collaborative "
    "playlist-modify-private playlist-modify-public"
)
DEFAULT_RETRY_AFTER_S = 1.0
SERVER_ERRORS = (500, 502, 503, 504)
MAX_SERVER_ERRORS = 2
PAGE_LIMIT = 50

# spotipy logs every HTTP error it raises, which we turn into one line of our own (or, for
# an optional lookup, one warning), and at DEBUG it logs request headers with the bearer token.
logging.getLogger("spotipy").setLevel(logging.CRITICAL)

AuthT = TypeVar("AuthT", bound=SpotifyAuthBase)


class SpotifyError(CommandError):
    """A Spotify request failed; ``status`` is its HTTP status, None when unknown or unanswered.

    ``cause`` names the failure in a few words for summaries: the status, or what happened.

    >>> SpotifyError("no", 404).cause, SpotifyError("slow", cause="timeout").cause
    ('404', 'timeout')
    """

    def __init__(self, message: str, status: int | None = None, cause: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.cause = cause or (str(status) if status is not None else "error")


class _NotJSON(Exception):
    """A successful answer's body is not JSON (not a ValueError, which spotipy would swallow)."""


class BoundedSpotify(spotipy.Spotify):
    """spotipy's client with a bounded wait on 429, a timeout on every request and one-line errors."""

    def __init__(self, config: SpotifyConfig, auth_manager: SpotifyAuthBase) -> None:
        # A session of our own instead of retries=0: with spotipy's Retry even zero retries
        # turn a 429 into a RetryError that drops the Retry-After header (and a 5xx into a 429).
        session = requests.Session()
        session.hooks["response"].append(_require_json)
        super().__init__(
            auth_manager=auth_manager,
            requests_session=session,
            requests_timeout=config.timeout,
        )
        self.prefix = config.api_url
        self.config = config

    def _internal_call(self, method: str, url: str, payload: Any, params: dict) -> Any:
        where = f"{method} {urlsplit(urljoin(self.prefix, url)).path.rstrip('/')}"
        waited = 0.0
        server_errors = 0
        while True:
            try:
                # spotipy pops keys from params, so every attempt gets a fresh copy.
                return super()._internal_call(method, url, payload, dict(params))
            except SpotifyException as exc:
                delay = _retry_delay(method, exc, server_errors)
                if delay is None:
                    raise _http_error(where, exc, self.config) from None
                if waited + delay > self.config.max_retry_after:
                    if exc.http_status == 429:
                        raise _rate_limited(delay, self.config) from None
                    raise _http_error(where, exc, self.config) from None
                time.sleep(delay)
                waited += delay
                server_errors += exc.http_status != 429
            except SpotifyOauthError as exc:
                raise SpotifyError(
                    f"Spotify's accounts service refused the credentials "
                    f"({exc.error_description or exc.error or exc}); check SPOTIPY_CLIENT_ID and "
                    "SPOTIPY_CLIENT_SECRET"
                ) from None
            except requests.Timeout:
                raise SpotifyError(
                    f"Spotify did not answer {where} within "
                    f"{self.config.timeout:g} s (STREAMPROC_SPOTIFY_TIMEOUT)",
                    cause="timeout",
                ) from None
            except requests.ConnectionError:
                raise SpotifyError(f"cannot reach Spotify for {where}", cause="unreachable") from None
            except _NotJSON:
                raise SpotifyError(f"Spotify's answer to {where} is not JSON", cause="not JSON") from None


def app_client(config: SpotifyConfig) -> BoundedSpotify:
    """Return a client acting as the app alone (client credentials): catalogue reads only."""
    config.require_credentials(redirect=False)
    auth = SpotifyClientCredentials(
        client_id=config.client_id,
        client_secret=config.client_secret,
        requests_timeout=config.timeout,
        # An app token is cheap to get again; spotipy would otherwise write it to ./.cache.
        cache_handler=MemoryCacheHandler(),
    )
    return BoundedSpotify(config, _at_accounts(auth, config.accounts_url))


def user_client(config: SpotifyConfig) -> BoundedSpotify:
    """Return a client acting for the authorised account, its token kept in ``config.cache``."""
    config.require_credentials(redirect=True)
    cache = CacheFileHandler(cache_path=config.cache)
    token = cache.get_cached_token() or {}
    # Without a token of these scopes spotipy starts the browser flow and waits for the
    # redirect indefinitely: fine in a terminal, a hang anywhere else.
    if not set(SCOPE.split()) <= set((token.get("scope") or "").split()) and not sys.stdin.isatty():
        raise SpotifyError(
            f"no Spotify user token with the needed scopes in {config.cache}: run this command "
            "once in a terminal to authorise the account (see docs/spotify.md)"
        )
    Path(config.cache).parent.mkdir(parents=True, exist_ok=True)
    auth = SpotifyOAuth(
        client_id=config.client_id,
        client_secret=config.client_secret,
        redirect_uri=config.redirect_uri,
        scope=SCOPE,
        requests_timeout=config.timeout,
        cache_handler=cache,
    )
    return BoundedSpotify(config, _at_accounts(auth, config.accounts_url))


def paged(client: spotipy.Spotify, page: dict | None) -> Iterator[dict]:
    """Yield the items of a paged result and of every page after it."""
    while page:
        yield from page["items"]
        page = client.next(page)


def retry_after(headers: Mapping[str, str] | None) -> float:
    """Return the seconds a 429 answer asks to wait (1 when it does not say).

    >>> retry_after({"Retry-After": "7"}), retry_after({}), retry_after({"Retry-After": "soon"})
    (7.0, 1.0, 1.0)
    """
    try:
        return max(0.0, float((headers or {}).get("Retry-After", DEFAULT_RETRY_AFTER_S)))
    except ValueError:
        return DEFAULT_RETRY_AFTER_S


def _retry_delay(method: str, exc: SpotifyException, server_errors: int) -> float | None:
    """Return the seconds to wait before trying again, None when the error is final."""
    if exc.http_status == 429:
        return retry_after(exc.headers)
    if exc.http_status in SERVER_ERRORS and method == "GET" and server_errors < MAX_SERVER_ERRORS:
        return float(server_errors + 1)
    return None


def _require_json(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """Raise _NotJSON for a successful answer with a body that is not JSON (empty is fine: 204)."""
    # This parses the body once more than spotipy does; pages are at most 100 items.
    if response.ok and response.content.strip():
        try:
            response.json()
        except ValueError:
            raise _NotJSON() from None


def _rate_limited(delay: float, config: SpotifyConfig) -> SpotifyError:
    return SpotifyError(
        f"Spotify is rate-limiting this app and asks to wait {delay:g} s, more than "
        f"STREAMPROC_SPOTIFY_MAX_RETRY_AFTER={config.max_retry_after:g} s; try again later",
        429,
    )


def _at_accounts(auth: AuthT, accounts_url: str) -> AuthT:
    # spotipy reads its token and authorise URLs as self.OAUTH_*: instance attributes win.
    auth.OAUTH_TOKEN_URL = urljoin(accounts_url, "api/token")
    if isinstance(auth, SpotifyOAuth):
        auth.OAUTH_AUTHORIZE_URL = urljoin(accounts_url, "authorize")
    return auth


def _http_error(where: str, exc: SpotifyException, config: SpotifyConfig) -> SpotifyError:
    # spotipy's message is "URL:\n reason"; the URL may carry IDs the user did not ask about.
    reason = str(exc.msg).splitlines()[-1].strip() if exc.msg else "no reason given"
    if exc.http_status == 401:
        return SpotifyError(
            f"Spotify rejected the access token for {where} ({reason}); check SPOTIPY_CLIENT_ID "
            f"and SPOTIPY_CLIENT_SECRET, or delete {config.cache} and authorise again",
            401,
        )
    return SpotifyError(f"Spotify answered {exc.http_status} to {where}: {reason}", exc.http_status)

