"""The ``tracks`` message: one catalogue item with its metadata and audio features.

>>> track = Track.from_dict({"item_id": "t1", "name": "Song", "artists": ["A"],
...                          "features": dict.fromkeys(FEATURES, 0.5)})
>>> track.feature_vector()[:3]
[0.5, 0.5, 0.5]
>>> Track.from_dict({"item_id": "t1", "features": {"energy": 2}})
Traceback (most recent call last):
...
tables.errors.InvalidMessage: 'features' lacks danceability, key, loudness, mode, speechiness, acousticness, instrumentalness, liveness, valence, tempo, time_signature
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tables.codec import decode_object, encode, optional_number, require_str, string_list
from tables.errors import InvalidMessage

# The audio features of Spotify's Web API, in the order of every feature vector.
FEATURES = (
    "danceability",
    "energy",
    "key",
    "loudness",
    "mode",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
    "time_signature",
)


@dataclasses.dataclass(frozen=True)
class Track:
    """A catalogue item, keyed by ``item_id`` on the ``tracks`` topic."""

    item_id: str
    name: str = ""
    artists: list[str] = dataclasses.field(default_factory=list)
    popularity: float | None = None
    release_date: str | None = None
    genres: list[str] = dataclasses.field(default_factory=list)
    features: dict[str, float] | None = None

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> "Track":
        """Return the validated track in ``obj``; raise InvalidMessage with the reason."""
        name = obj.get("name") or ""
        release = obj.get("release_date")
        if not isinstance(name, str):
            raise InvalidMessage("'name' must be a string")
        if release is not None and not isinstance(release, str):
            raise InvalidMessage("'release_date' must be a string or null")
        return cls(
            item_id=require_str(obj, "item_id"),
            name=name,
            artists=string_list(obj, "artists"),
            popularity=optional_number(obj, "popularity", None),
            release_date=release,
            genres=string_list(obj, "genres"),
            features=_features(obj.get("features")),
        )

    @classmethod
    def from_bytes(cls, raw: bytes | None, max_bytes: int | None = None) -> "Track":
        """Return the track encoded in ``raw``; raise InvalidMessage with the reason."""
        return cls.from_dict(decode_object(raw, max_bytes))

    def to_dict(self) -> dict[str, Any]:
        """Return the track as its JSON object."""
        return dataclasses.asdict(self)

    def to_bytes(self) -> bytes:
        """Return the track as UTF-8 JSON."""
        return encode(self.to_dict())

    def feature_vector(self) -> list[float] | None:
        """Return the audio features in ``FEATURES`` order, or None when the track has none."""
        if self.features is None:
            return None
        return [float(self.features[name]) for name in FEATURES]


def _features(value: Any) -> dict[str, float] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidMessage("'features' must be an object or null")
    missing = [name for name in FEATURES if name not in value]
    if missing:
        raise InvalidMessage(f"'features' lacks {', '.join(missing)}")
    nulls = [name for name in FEATURES if value[name] is None]
    if nulls:
        raise InvalidMessage(f"'features' has null {', '.join(nulls)}")
    return {name: float(optional_number(value, name, None)) for name in FEATURES}
