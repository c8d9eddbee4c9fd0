"""The web view on each worker's Faust web server: an overview and each user's recommendations.

Every page has a JSON twin under ``/api/``. A user's pages are routed to the worker that owns
the user's partition, so any worker answers for any user.
"""

from __future__ import annotations

import html
import time
from typing import Any

from faust.web import Request, Response, View

from agents import dead_letters
from streamproc.app import app, recommender
from streamproc import stats
from tables.store import latest_recommendations, user_history


def overview() -> dict[str, Any]:
    """Return the counts and model state shown on the overview page."""
    factors = recommender.factors
    return {
        "users": len(recommender.interactions),
        "tracks": len(recommender.catalog),
        "events": recommender.interactions.total_events,
        "dead_letters": dead_letters.dead_letter_count,
        "model": {
            "version": factors.version if factors else 0,
            "trained_at": factors.trained_at if factors else None,
            "fit_seconds": round(factors.fit_seconds, 3) if factors else None,
            "users": factors.n_users if factors else 0,
            "items": len(factors.item_ids) if factors else 0,
        },
        "clusters": recommender.clusterer.n_clusters if recommender.clusterer.is_fitted else 0,
        "stream": stats.snapshot(),
    }


def user_view(user_id: str) -> dict[str, Any] | None:
    """Return the user's latest recommendations with item names, or None for an unknown user."""
    latest = latest_recommendations.get(user_id)
    if latest is None:
        return None
    history = user_history.get(user_id) or {"items": {}, "events": 0}
    top = sorted(history["items"].items(), key=lambda kv: -kv[1])[:10]
    return {
        "user_id": user_id,
        "events": history["events"],
        "recommendations": {
            **latest,
            "items": [{**item, "name": recommender.catalog.name(item["item_id"])} for item in latest["items"]],
        },
        "most_played": [
            {"item_id": item, "name": recommender.catalog.name(item), "confidence": r} for item, r in top
        ],
    }


@app.page("/")
async def home(web: View, request: Request) -> Response:
    """The overview page."""
    state = overview()
    trained = state["model"]["trained_at"]
    rows = [
        ("users", state["users"]),
        ("tracks", state["tracks"]),
        ("events", state["events"]),
        ("dead letters", state["dead_letters"]),
        ("model version", state["model"]["version"]),
        ("last training", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(trained)) if trained else "not yet"),
    ]
    body = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    form = '<form action="/users/" method="get">User id: <input name="id"><button>Show</button></form>'
    return web.html(_page("streamproc", f"<table>{body}</table>{form}"))


@app.page("/users/")
async def find_user(web: View, request: Request) -> Response:
    """Redirect the overview's search box to the user's page."""
    user_id = request.query.get("id", "").strip()
    if not user_id:
        return web.html(_page("Missing user id", "<p>Give a user id.</p>"), status=400)
    return web.redirect(f"/users/{user_id}/")


@app.page("/api/stats/")
async def stats_api(web: View, request: Request) -> Response:
    """The overview as JSON."""
    return web.json(overview())


@app.page("/users/{user_id}/")
@app.table_route(table=latest_recommendations, match_info="user_id")
async def user_page(web: View, request: Request, user_id: str) -> Response:
    """A user's recommendations and most played items."""
    view = user_view(user_id)
    if view is None:
        return web.html(_page("Unknown user", f"<p>No user {html.escape(user_id)}.</p>"), status=404)
    items = "".join(
        f"<li>{html.escape(item['name'] or item['item_id'])} <small>{item['source']} "
        f"{item['score']:.3f}</small></li>"
        for item in view["recommendations"]["items"]
    )
    played = "".join(f"<li>{html.escape(item['name'] or item['item_id'])}</li>" for item in view["most_played"])
    body = (
        f"<h2>Recommended for {html.escape(user_id)}</h2><ol>{items}</ol>"
        f"<h2>Most played</h2><ol>{played}</ol><p><a href='/'>overview</a></p>"
    )
    return web.html(_page(f"User {user_id}", body))


@app.page("/api/users/{user_id}/")
@app.table_route(table=latest_recommendations, match_info="user_id")
async def user_api(web: View, request: Request, user_id: str) -> Response:
    """A user's recommendations and most played items, as JSON."""
    view = user_view(user_id)
    if view is None:
        return web.json({"error": f"unknown user {user_id!r}"}, status=404)
    return web.json(view)


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:50em}th{text-align:left;padding-right:1em}"
        "small{color:#777}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
