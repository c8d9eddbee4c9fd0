"""The catalogue every worker holds in memory: item ids, names, artists, popularity, features.

>>> catalog = Catalog()
>>> catalog.upsert({"item_id": "t1", "name": "Song", "artists": ["A"], "features": None})
0
>>> catalog.name("t1"), catalog.artists("t1"), len(catalog)
('Song', ['A'], 1)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tables.track import FEATURES


class Catalog:
    """Tracks by id, with a dense index and a feature matrix for the tracks that have features."""

    def __init__(self) -> None:
        self._tracks: dict[str, dict[str, Any]] = {}
        self._features: dict[str, list[float]] = {}
        self.version = 0
        self._matrix: tuple[int, list[str], np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self._tracks)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._tracks

    def upsert(self, track: dict[str, Any]) -> int:
        """Add or replace a track (a ``tracks`` message as a dict) and return the catalogue size."""
        item_id = track["item_id"]
        self._tracks[item_id] = track
        features = track.get("features")
        if features:
            self._features[item_id] = [float(features[name]) for name in FEATURES]
        else:
            self._features.pop(item_id, None)
        self.version += 1
        return len(self._tracks) - 1

    def remove(self, item_id: str) -> None:
        """Forget a track (a tombstone on the catalogue changelog)."""
        if self._tracks.pop(item_id, None) is not None:
            self._features.pop(item_id, None)
            self.version += 1

    def get(self, item_id: str) -> dict[str, Any] | None:
        """Return the track's message, or None when it is not in the catalogue."""
        return self._tracks.get(item_id)

    def name(self, item_id: str) -> str | None:
        """Return the track's name, or None when unknown."""
        track = self._tracks.get(item_id)
        return track.get("name") or None if track else None

    def artists(self, item_id: str) -> list[str]:
        """Return the track's artists (empty when unknown)."""
        track = self._tracks.get(item_id)
        return list(track.get("artists") or []) if track else []

    def popularity(self, item_id: str) -> float:
        """Return the track's catalogue popularity, 0 when unknown."""
        track = self._tracks.get(item_id)
        return float(track.get("popularity") or 0) if track else 0.0

    def item_ids(self) -> list[str]:
        """Return every item id in the catalogue."""
        return list(self._tracks)

    def feature_matrix(self) -> tuple[list[str], np.ndarray]:
        """Return the ids of the tracks with audio features and their raw feature matrix (cached)."""
        if self._matrix is None or self._matrix[0] != self.version:
            ids = list(self._features)
            matrix = np.array([self._features[i] for i in ids], dtype=np.float64).reshape(-1, len(FEATURES))
            self._matrix = (self.version, ids, matrix)
        return self._matrix[1], self._matrix[2]
