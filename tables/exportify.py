"""Read a playlist exported by Exportify (CSV) as Track messages.

>>> import io
>>> csv_text = ('\\ufeffSpotify ID,Track Name,Artist Name(s),Popularity,Genres\\n'
...             't1,Song,"Ann,Slaughter Beach, Dog",38,"indie pop,lo-fi"\\n')
>>> track = next(parse_tracks(io.StringIO(csv_text)))
>>> track.artists, track.genres, track.popularity, track.features
(['Ann', 'Slaughter Beach, Dog'], ['indie pop', 'lo-fi'], 38.0, None)
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from tables.errors import InvalidMessage
from tables.track import FEATURES, Track

REQUIRED_COLUMNS = ("Spotify ID", "Track Name", "Artist Name(s)")
FEATURE_COLUMNS = {
    "danceability": "Danceability",
    "energy": "Energy",
    "key": "Key",
    "loudness": "Loudness",
    "mode": "Mode",
    "speechiness": "Speechiness",
    "acousticness": "Acousticness",
    "instrumentalness": "Instrumentalness",
    "liveness": "Liveness",
    "valence": "Valence",
    "tempo": "Tempo",
    "time_signature": "Time Signature",
}
# Exportify joins list items with a bare comma; a comma followed by a space belongs to a
# name ("Slaughter Beach, Dog").
_LIST_SEPARATOR = re.compile(r",(?!\s)")


def read_tracks(path: Path | str) -> Iterator[Track]:
    """Yield the tracks of the Exportify CSV at ``path``; raise InvalidMessage naming a bad line."""
    with open(path, encoding="utf-8-sig", newline="") as text:
        yield from parse_tracks(text, str(path))


def parse_tracks(text: IO[str], name: str = "<csv>") -> Iterator[Track]:
    """Yield the tracks of the Exportify CSV read from ``text`` (``name`` is used in errors)."""
    rows = csv.DictReader(text)
    columns = [column.lstrip("\ufeff") for column in rows.fieldnames or []]
    rows.fieldnames = columns
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        raise InvalidMessage(f"{name}: not an Exportify CSV, it lacks columns {', '.join(missing)}")
    feature_columns = [column for column in FEATURE_COLUMNS.values() if column in columns]
    if feature_columns and len(feature_columns) < len(FEATURE_COLUMNS):
        lacking = [c for c in FEATURE_COLUMNS.values() if c not in feature_columns]
        raise InvalidMessage(f"{name}: audio-feature columns incomplete, lacks {', '.join(lacking)}")
    for row in rows:
        try:
            yield _track(row)
        except InvalidMessage as exc:
            raise InvalidMessage(f"{name}:{rows.line_num}: {exc}") from None


def split_list(field: str | None) -> list[str]:
    """Return the items of an Exportify list field.

    >>> split_list("quickly, quickly,ANH")
    ['quickly, quickly', 'ANH']
    >>> split_list("")
    []
    """
    return [item.strip() for item in _LIST_SEPARATOR.split(field or "") if item.strip()]


def _track(row: dict[str, str | None]) -> Track:
    popularity = (row.get("Popularity") or "").strip()
    return Track.from_dict(
        {
            "item_id": (row["Spotify ID"] or "").strip(),
            "name": row["Track Name"] or "",
            "artists": split_list(row["Artist Name(s)"]),
            "popularity": _number("Popularity", popularity) if popularity else None,
            "release_date": (row.get("Release Date") or "").strip() or None,
            "genres": split_list(row.get("Genres")),
            "features": _features(row),
        }
    )


def _features(row: dict[str, str | None]) -> dict[str, float] | None:
    values = {name: (row.get(FEATURE_COLUMNS[name]) or "").strip() for name in FEATURES}
    empty = [FEATURE_COLUMNS[name] for name, value in values.items() if not value]
    if len(empty) == len(FEATURES):
        return None
    if empty:
        raise InvalidMessage(f"audio features are partly empty: {', '.join(empty)}")
    return {name: _number(FEATURE_COLUMNS[name], value) for name, value in values.items()}


def _number(column: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise InvalidMessage(f"{column!r} must be a number, got {value!r:.40}") from None
