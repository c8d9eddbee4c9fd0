"""Web routes of the playlists and similar items, on each worker's Faust web server.

- ``/api/users/{user_id}/playlists/{kind}`` (``discover`` or ``emerging``): the user's latest
  playlist of that kind, as sent to ``playlists``; routed to the worker that owns the user; 404
  when the user has none yet (ask for one with ``streamproc playlist KIND --user U``).
- ``/users/{user_id}/playlists/``: both lists as a page.
- ``/api/items/{item_id}/similar?n=10``: similar items (ALS item factors and audio features, each
  result saying which) and similar artists; any worker answers, from its global view.

:func:`playlist_view` is what a user page shows of a user's lists.
"""

from __future__ import annotations

import html
from typing import Any

from faust.web import Request, Response, View

from streamproc.app import app
from streamproc.runtime import runtime
from streamproc.recommend.playlists import similar
from streamproc.web.html import model_label, page
from tables.control import PLAYLIST_KINDS
from tables.store import user_playlists

MAX_SIMILAR = 100


def playlist_view(user_id: str, kind: str) -> dict[str, Any] | None:
    """Return the user's latest playlist message of ``kind`` (a local table read), or None."""
    record = user_playlists.get(user_id) or {}
    return (record.get(kind) or {}).get("latest")


@app.page("/api/users/{user_id}/playlists/{kind}")
@app.table_route(table=user_playlists, match_info="user_id")
async def playlist_api(web: View, request: Request, user_id: str, kind: str) -> Response:
    """The user's latest playlist of ``kind`` as JSON."""
    if kind not in PLAYLIST_KINDS:
        return web.json({"error": f"kind must be one of {', '.join(PLAYLIST_KINDS)}, got {kind!r}"}, status=404)
    playlist = playlist_view(user_id, kind)
    if playlist is None:
        return web.json({"error": f"no {kind} playlist for user {user_id!r} yet"}, status=404)
    return web.json(playlist)


@app.page("/users/{user_id}/playlists/")
@app.table_route(table=user_playlists, match_info="user_id")
async def playlists_page(web: View, request: Request, user_id: str) -> Response:
    """The user's Discover Weekly and emerging lists."""
    sections = []
    for kind, title in (("discover", "Discover Weekly"), ("emerging", "Emerging artists")):
        playlist = playlist_view(user_id, kind)
        if playlist is None:
            sections.append(f"<h2>{title}</h2><p>None yet.</p>")
            continue
        rows = "".join(
            f"<li>{html.escape(item.get('name') or item['item_id'])} "
            f"<small>{html.escape(', '.join(item.get('artists') or []))} · {_why(item)}</small></li>"
            for item in playlist["items"]
        )
        sections.append(f"<h2>{title}</h2><p><small>week of {html.escape(playlist['period'])}</small></p>"
                        f"<ol id='{kind}'>{rows}</ol>")
    back = f"<p><a href='/users/{html.escape(user_id, quote=True)}/'>recommendations</a></p>"
    return web.html(page(f"Playlists of {user_id}", "".join(sections) + back))


@app.page("/api/items/{item_id}/similar")
async def similar_api(web: View, request: Request, item_id: str) -> Response:
    """Items and artists similar to ``item_id``, as JSON."""
    try:
        n = int(request.query.get("n", "10"))
    except ValueError:
        return web.json({"error": "n must be a whole number"}, status=400)
    if not 1 <= n <= MAX_SIMILAR:
        return web.json({"error": f"n must be between 1 and {MAX_SIMILAR}"}, status=400)
    found = similar(runtime.recommender, item_id, n)
    if found is None:
        return web.json({"error": f"unknown item {item_id!r}"}, status=404)
    return web.json(found)


def _why(item: dict[str, Any]) -> str:
    explanation = item.get("explanation") or {}
    if item.get("exploration"):
        return "something new, outside your usual sound"
    because = [html.escape(i) for i in explanation.get("items") or []]
    if explanation.get("kind") in ("als", "hybrid") and because:
        mostly = f" ({html.escape(model_label(item))})" if explanation.get("kind") == "hybrid" else ""
        return f"listeners of {', '.join(because)} play it{mostly}"
    if explanation.get("kind") == "content" and because:
        return f"sounds like {because[0]}"
    return "popular"
