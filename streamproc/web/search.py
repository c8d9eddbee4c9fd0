"""The search box: a user id, or part of a track's name.

>>> from streamproc.recommend.recommender import Recommender
>>> from streamproc.settings import Settings
>>> rec = Recommender(Settings())
>>> _ = rec.catalog.upsert({"item_id": "t1", "name": "Blue Monday", "artists": ["New Order"]})
>>> _ = rec.catalog.upsert({"item_id": "t2", "name": "Blue", "artists": ["Joni Mitchell"]})
>>> [t["name"] for t in search(rec, "BLUE")["tracks"]], search(rec, "u1", known_user={"u1"}.__contains__)["user"]
(['Blue', 'Blue Monday'], 'u1')
>>> search(rec, "  ")
Traceback (most recent call last):
...
ValueError: give a user id or part of a track name as ?q=
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streamproc.recommend.recommender import Recommender

MAX_QUERY = 200
MAX_RESULTS = 20


def search(rec: Recommender, query: str, known_user: Callable[[str], bool] = lambda user_id: False) -> dict[str, Any]:
    """Return the user ``query`` names (or None: ``known_user`` says who exists) and at most 20 tracks
    whose name contains it.

    Matching ignores case; exact names come first, then names starting with the query, then the
    rest, each group by name. Raises ValueError for an empty or too long query.
    """
    q = query.strip()
    if not q:
        raise ValueError("give a user id or part of a track name as ?q=")
    if len(q) > MAX_QUERY:
        raise ValueError(f"the query is longer than {MAX_QUERY} characters")
    needle = q.casefold()
    catalog = rec.catalog
    matches = []
    for item_id in catalog.item_ids():
        name = catalog.name(item_id) or ""
        folded = name.casefold()
        if needle in folded or item_id == q:
            matches.append((folded != needle and item_id != q, not folded.startswith(needle), folded, item_id))
    matches.sort()
    tracks = [
        {"item_id": item_id, "name": catalog.name(item_id), "artists": catalog.artists(item_id),
         "listeners": rec.item_users(item_id)}
        for *_, item_id in matches[:MAX_RESULTS]
    ]
    return {
        "query": q,
        "user": q if known_user(q) else None,
        "tracks": tracks,
        "total": len(matches),
    }
