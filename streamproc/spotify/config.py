"""The Spotify settings and credentials, read once from the environment.

Credentials come only from spotipy's own variables (``SPOTIPY_CLIENT_ID``,
``SPOTIPY_CLIENT_SECRET``, ``SPOTIPY_REDIRECT_URI``); everything else from
``STREAMPROC_SPOTIFY_*``. The secret is left out of ``repr`` so that printing or
logging the configuration never shows it.

>>> config = SpotifyConfig.from_env({"STREAMPROC_SPOTIFY_API_URL": "http://127.0.0.1:8000/v1",
...                                  "SPOTIPY_CLIENT_SECRET": "hush"})
>>> config.api_url, config.max_retry_after
('http://127.0.0.1:8000/v1/', 30.0)
>>> "hush" in repr(config)
False
>>> SpotifyConfig.from_env({"STREAMPROC_SPOTIFY_TIMEOUT": "0"})
Traceback (most recent call last):
...
streamproc.errors.SettingsError: STREAMPROC_SPOTIFY_TIMEOUT must be a positive number of seconds, got '0'
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

from streamproc.settings import SettingsError


def _env(name: str, default: object, *, zero_ok: bool = False, **kwargs: object) -> dataclasses.Field:
    return dataclasses.field(default=default, metadata={"env": name, "zero_ok": zero_ok}, **kwargs)


@dataclasses.dataclass(frozen=True)
class SpotifyConfig:
    """Where the Spotify API is, how long to wait for it, and the app's credentials."""

    api_url: str = _env("STREAMPROC_SPOTIFY_API_URL", "https://api.spotify.com/v1/")
    accounts_url: str = _env("STREAMPROC_SPOTIFY_ACCOUNTS_URL", "https://accounts.spotify.com/")
    cache: str = _env("STREAMPROC_SPOTIFY_CACHE", ".streamproc/spotify-token.json")
    max_retry_after: float = _env("STREAMPROC_SPOTIFY_MAX_RETRY_AFTER", 30.0, zero_ok=True)
    timeout: float = _env("STREAMPROC_SPOTIFY_TIMEOUT", 10.0)
    client_id: str = _env("SPOTIPY_CLIENT_ID", "")
    client_secret: str = _env("SPOTIPY_CLIENT_SECRET", "", repr=False)
    redirect_uri: str = _env("SPOTIPY_REDIRECT_URI", "")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "SpotifyConfig":
        """Return the configuration with every variable of ``environ`` applied."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            raw = environ.get(field.metadata["env"])
            if raw is not None:
                values[field.name] = raw if isinstance(field.default, str) else _seconds(field, raw)
        for name in ("api_url", "accounts_url"):
            # Both are joined with relative paths, which replace a last segment without a slash.
            url = str(values.get(name, getattr(cls, name)))
            values[name] = url if url.endswith("/") else url + "/"
        return cls(**values)

    def require_credentials(self, *, redirect: bool) -> None:
        """Raise SettingsError naming the first credential variable that is not set."""
        needed = {"SPOTIPY_CLIENT_ID": self.client_id, "SPOTIPY_CLIENT_SECRET": self.client_secret}
        if redirect:
            needed["SPOTIPY_REDIRECT_URI"] = self.redirect_uri
        for name, value in needed.items():
            if not value:
                raise SettingsError(f"{name} is not set; see docs/spotify.md for the set-up steps")


def _seconds(field: dataclasses.Field, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    least_ok = value >= 0 if field.metadata["zero_ok"] else value > 0
    if least_ok and value != float("inf"):
        return value
    kind = "non-negative" if field.metadata["zero_ok"] else "positive"
    raise SettingsError(f"{field.metadata['env']} must be a {kind} number of seconds, got {raw!r}")
