"""Read the HetRec 2011 Last.fm data set (``hetrec2011-lastfm-2k``) as messages.

``user_artists.dat`` becomes one ``play`` Listen per (user, artist) row, its play count
as ``count``; ``artists.dat`` becomes one Track per artist so that names can be shown.

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "user_artists.dat"
>>> _ = path.write_bytes(b"userID\\tartistID\\tweight\\r\\n2\\t51\\t13883\\r\\n")
>>> [(e.user_id, e.item_id, e.event, e.count) for e in read_listens(path, start=0.0)]
[('2', '51', 'play', 13883)]
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from tables.errors import InvalidMessage
from tables.listen import Listen
from tables.track import Track

LISTENS_FILE = "user_artists.dat"
ARTISTS_FILE = "artists.dat"
LISTENS_HEADER = ["userID", "artistID", "weight"]
# HetRec has no timestamps: rows are stamped this far apart from ``start`` in file order,
# so anything that orders by ``ts`` sees the file's order.
ROW_SPACING_S = 0.001


def read_listens(path: Path | str, start: float | None = None) -> Iterator[Listen]:
    """Yield one ``play`` per row of ``user_artists.dat``; raise InvalidMessage naming a bad line.

    Timestamps start at ``start`` (default: now) and grow by ``ROW_SPACING_S`` a row.
    """
    start = time.time() if start is None else start
    with open(path, encoding="utf-8", newline="") as lines:
        header = next(lines, "").rstrip("\r\n").split("\t")
        if header != LISTENS_HEADER:
            raise InvalidMessage(f"{path}: header is {header}, expected {LISTENS_HEADER}")
        for row, line in enumerate(lines):
            if not line.strip():
                continue
            yield _listen(line, start + row * ROW_SPACING_S, f"{path}:{row + 2}")


def read_artists(path: Path | str) -> Iterator[Track]:
    """Yield a Track with ``name`` and ``artists=[name]`` per artist of ``artists.dat``.

    Names are taken verbatim, quotes included (``"Weird Al" Yankovic``); rows without an id
    or a name are left out, as they can name nothing.
    """
    with open(path, encoding="utf-8", newline="") as lines:
        next(lines, None)
        for line in lines:
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) < 2 or not fields[0].strip() or not fields[1].strip():
                continue
            name = fields[1].strip()
            yield Track(item_id=fields[0].strip(), name=name, artists=[name])


def _listen(line: str, ts: float, where: str) -> Listen:
    fields = line.rstrip("\r\n").split("\t")
    if len(fields) != len(LISTENS_HEADER):
        raise InvalidMessage(f"{where}: expected 3 tab-separated fields, got {len(fields)}")
    user_id, artist_id, weight = fields
    if not weight.strip().isdigit():
        raise InvalidMessage(f"{where}: weight must be a whole number, got {weight!r:.40}")
    try:
        return Listen.from_dict(
            {"user_id": user_id, "item_id": artist_id, "count": int(weight), "ts": ts}
        )
    except InvalidMessage as exc:
        raise InvalidMessage(f"{where}: {exc}") from None
