"""A local fake of Spotify's Web API and accounts service, for spotipy to talk to in tests.

It answers the calls streamproc makes (token exchange, playlist items, saved tracks,
audio features, artists, the account's playlists, creating and filling a playlist),
paginates with absolute ``next`` URLs as Spotify does, and records every request. Modes
reproduce the failures worth testing: audio features refused (403, as for apps created
since November 2024) or granted, artists refused, and bad credentials (400 from the
token endpoint, 401 for an unknown bearer token). A :class:`Fault` makes any endpoint
answer a given status (a 429 with a given ``Retry-After``, a 404, a server error), hang
past the client's timeout, or send a body that is not JSON or not shaped as expected.

>>> with SpotifyFake() as fake:
...     SpotifyConfig.from_env(fake.environ("/tmp/unused")).api_url == fake.url + "/v1/"
True
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from streamproc.spotify.client import SCOPE
from streamproc.spotify.config import SpotifyConfig
from tables.track import FEATURES

CLIENT_ID = "fake-client"
CLIENT_SECRET = "fake-secret"
USER_TOKEN = "user-token"
REFRESH_TOKEN = "refresh-token"
ME = "alice"


@dataclasses.dataclass
class Fault:
    """Misanswer requests whose path starts with ``prefix``: after the first ``skip`` of them,
    the next ``times`` (every one when None).

    A fault answers ``status`` (with ``Retry-After`` when given); or, with ``body``, answers
    200 with those bytes as they are (not JSON, or JSON of the wrong shape); or, with
    ``hang``, waits that many seconds (set it past the client's timeout) and then answers
    as usual.
    """

    prefix: str
    status: int = 429
    retry_after: int | None = None
    times: int | None = 1
    skip: int = 0
    hang: float = 0.0
    body: bytes | None = None

    def take(self, path: str) -> bool:
        """Return whether this fault applies to a request for ``path``, counting it."""
        if not path.startswith(self.prefix) or self.times == 0:
            return False
        if self.skip > 0:
            self.skip -= 1
            return False
        if self.times is not None:
            self.times -= 1
        return True

    def answer(self) -> tuple[int, dict, Any]:
        """Return (status, extra headers, body) for a request this fault took, unless it hangs."""
        if self.body is not None:
            return 200, {}, self.body
        extra = {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}
        return self.status, extra, _error(self.status, f"fault {self.status}")


@dataclasses.dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


class SpotifyFake:
    """The fake server, listening on 127.0.0.1 on a free port while used as a context manager."""

    def __init__(self, n_tracks: int = 7, page_size: int = 3, n_artists: int = 3) -> None:
        self.page_size = page_size
        self.features_granted = False
        self.delay = 0.0
        self.artists_granted = True
        self.faults: list[Fault] = []
        self.requests: list[Recorded] = []
        self.tokens = {USER_TOKEN}
        self.artists = {
            f"ar{n}": {"id": f"ar{n}", "name": f"Artist {n}", "genres": [f"genre{n}", "indie"]}
            for n in range(n_artists)
        }
        self.tracks = {track_id(n): _track(n, self.artists[f"ar{n % n_artists}"]) for n in range(n_tracks)}
        self.playlists: dict[str, dict] = {
            "pl1": _playlist("pl1", "Fresh finds", "curator", list(self.tracks.values())[:5]),
            "pl2": _playlist("pl2", "Mine", ME, list(self.tracks.values())[4:], added_by=ME),
        }
        self.saved = [{"added_at": _iso(n), "track": t} for n, t in enumerate(self.tracks.values())][2:6]
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._lock = threading.Lock()
        self._closing = threading.Event()

    @property
    def url(self) -> str:
        """Return the fake's base URL, ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def environ(self, cache: str | Path, secret: str = CLIENT_SECRET) -> dict[str, str]:
        """Return the environment pointing streamproc at this fake, with ``cache`` as token cache."""
        return {
            "STREAMPROC_SPOTIFY_API_URL": self.url + "/v1",
            "STREAMPROC_SPOTIFY_ACCOUNTS_URL": self.url,
            "STREAMPROC_SPOTIFY_CACHE": str(cache),
            "STREAMPROC_SPOTIFY_MAX_RETRY_AFTER": "3",
            "STREAMPROC_SPOTIFY_TIMEOUT": "5",
            "SPOTIPY_CLIENT_ID": CLIENT_ID,
            "SPOTIPY_CLIENT_SECRET": secret,
            "SPOTIPY_REDIRECT_URI": "http://127.0.0.1:8888/callback",
        }

    def seed_user_token(self, cache: str | Path, expired: bool = False) -> None:
        """Write a user token to ``cache`` as an earlier authorisation would have (no browser needed)."""
        expires_at = int(time.time()) + (-60 if expired else 3600)
        Path(cache).write_text(json.dumps({
            "access_token": "expired-token" if expired else USER_TOKEN,
            "token_type": "Bearer", "expires_in": 3600, "expires_at": expires_at,
            "refresh_token": REFRESH_TOKEN, "scope": SCOPE,
        }))

    def add_playlist(self, name: str, owner: str, tracks: list[dict]) -> str:
        """Add a playlist and return its ID."""
        playlist_id = f"pl{len(self.playlists) + 1}"
        self.playlists[playlist_id] = _playlist(playlist_id, name, owner, tracks)
        return playlist_id

    def calls(self, method: str, pattern: str) -> list[Recorded]:
        """Return the recorded requests of ``method`` whose path matches the regular expression."""
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]

    def __enter__(self) -> "SpotifyFake":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()  # ends every hang
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def answer(self, method: str, url: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, Any]:
        """Return (status, extra headers, body) for one request: JSON, or bytes sent as they are."""
        parts = urlsplit(url)
        path = parts.path.rstrip("/")
        query = parse_qs(parts.query)
        payload = json.loads(body) if body and headers.get("Content-Type") == "application/json" else body
        time.sleep(self.delay)
        with self._lock:
            self.requests.append(Recorded(method, path, query, payload))
            fault = next((fault for fault in self.faults if fault.take(path)), None)
        if fault is not None and fault.hang:
            self._closing.wait(fault.hang)
        elif fault is not None:
            return fault.answer()
        with self._lock:
            if path == "/api/token":
                return self._token(headers, parse_qs(body.decode()))
            if headers.get("Authorization", "").removeprefix("Bearer ") not in self.tokens:
                return 401, {}, _error(401, "Invalid access token")
            return self._api(method, path.removeprefix("/v1"), query, payload)

    def _token(self, headers: dict[str, str], form: dict[str, list[str]]) -> tuple[int, dict, Any]:
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if headers.get("Authorization") != expected:
            return 400, {}, {"error": "invalid_client", "error_description": "Invalid client secret"}
        grant = form.get("grant_type", [""])[0]
        if grant == "refresh_token" and form.get("refresh_token") != [REFRESH_TOKEN]:
            return 400, {}, {"error": "invalid_grant", "error_description": "Invalid refresh token"}
        token = "app-token" if grant == "client_credentials" else "refreshed-token"
        self.tokens.add(token)
        return 200, {}, {"access_token": token, "token_type": "Bearer", "expires_in": 3600}

    def _api(self, method: str, path: str, query: dict, payload: Any) -> tuple[int, dict, Any]:
        ids = query.get("ids", [""])[0].split(",")
        route = (method, re.sub(r"^/playlists/[^/]+", "/playlists/ID", path))
        if route == ("GET", "/audio-features"):
            if not self.features_granted:
                return 403, {}, _error(403, "Forbidden")
            return 200, {}, {"audio_features": [_features(i) if i in self.tracks else None for i in ids]}
        if route == ("GET", "/artists"):
            if not self.artists_granted:
                return 403, {}, _error(403, "Forbidden")
            return 200, {}, {"artists": [self.artists.get(i) for i in ids]}
        if route == ("GET", "/me"):
            return 200, {}, {"id": ME, "display_name": "Alice"}
        if route == ("GET", "/me/tracks"):
            return 200, {}, self._page(path, query, self.saved)
        if route == ("GET", "/me/playlists"):
            return 200, {}, self._page(path, query, [_simple(p) for p in self.playlists.values()])
        if route == ("POST", "/me/playlists"):
            return 201, {}, _simple(self.playlists[self.add_playlist(payload["name"], ME, [])])
        playlist = self.playlists.get(path.split("/")[2]) if path.startswith("/playlists/") else None
        if route[1] == "/playlists/ID/items" and playlist is None:
            return 404, {}, _error(404, "Resource not found")
        if route == ("GET", "/playlists/ID/items"):
            return 200, {}, self._page(path, query, playlist["entries"])
        if route == ("PUT", "/playlists/ID/items"):
            playlist["entries"] = [self._entry(uri) for uri in payload["uris"]]
            return 200, {}, {"snapshot_id": "s1"}
        if route == ("POST", "/playlists/ID/items"):
            playlist["entries"] += [self._entry(uri) for uri in payload]
            return 201, {}, {"snapshot_id": "s2"}
        return 404, {}, _error(404, f"no route {method} {path}")

    def _page(self, path: str, query: dict, items: list) -> dict:
        offset = int(query.get("offset", ["0"])[0])
        # Spotify's own limit is 50; the fake's smaller page makes short lists paginate.
        limit = min(int(query.get("limit", ["20"])[0]), self.page_size)
        following = offset + limit
        return {
            "items": items[offset:following], "offset": offset, "limit": limit, "total": len(items),
            "next": f"{self.url}/v1{path}?offset={following}&limit={limit}" if following < len(items) else None,
        }

    def _entry(self, uri: str) -> dict:
        return {"added_at": _iso(0), "added_by": {"id": ME}, "item": self.tracks[uri.rsplit(":", 1)[1]]}


@pytest.fixture
def fake() -> Iterator[SpotifyFake]:
    """Yield a running fake with the default catalogue."""
    with SpotifyFake() as server:
        yield server


@pytest.fixture
def config(fake: SpotifyFake, tmp_path: Path) -> SpotifyConfig:
    """Return a configuration pointing at ``fake``, its token cache in ``tmp_path``."""
    return SpotifyConfig.from_env(fake.environ(tmp_path / "token.json"))


def _handler(fake: SpotifyFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, extra, answer = fake.answer(self.command, self.path, dict(self.headers), body)
            raw = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
            kind = "text/html" if isinstance(answer, bytes) else "application/json"
            try:
                self.send_response(status)
                for name, value in {**extra, "Content-Type": kind}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
            except ConnectionError:
                pass  # the client gave up waiting (a hang past its timeout)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean; requests are recorded on the fake instead

    return Handler


def track_id(n: int) -> str:
    """Return the fake's ``n``-th track ID, 22 base-62 characters like Spotify's.

    >>> track_id(3)
    'tr00000000000000000003'
    """
    return f"tr{n:020d}"


def _track(n: int, artist: dict) -> dict:
    return {
        "id": track_id(n), "type": "track", "uri": f"spotify:track:{track_id(n)}", "name": f"Song {n}",
        "is_local": False, "popularity": 10 * n,
        "artists": [{"id": artist["id"], "name": artist["name"]}],
        "album": {"name": f"Album {n}", "release_date": f"202{n % 10}-01-01"},
    }


def _features(track_id: str) -> dict:
    n = int(track_id.removeprefix("tr"))
    return {"id": track_id, "type": "audio_features", **{name: n / 10 for name in FEATURES}}


def _playlist(pid: str, name: str, owner: str, tracks: list[dict], added_by: str = "curator") -> dict:
    entries = [{"added_at": _iso(n), "added_by": {"id": added_by}, "item": t} for n, t in enumerate(tracks)]
    return {"id": pid, "name": name, "owner": {"id": owner}, "entries": entries}


def _simple(playlist: dict) -> dict:
    return {"id": playlist["id"], "name": playlist["name"], "owner": playlist["owner"],
            "items": {"total": len(playlist["entries"])}}


def _iso(day: int) -> str:
    return f"2025-01-{day + 1:02d}T00:00:00Z"


def _error(status: int, message: str) -> dict:
    return {"error": {"status": status, "message": message}}
