"""The web view on each worker's Faust web server: routes of the pages and of their JSON API.

Pages: ``/`` (live counters), ``/users/{user_id}/`` (recommendations with reasons),
``/clusters/`` (the audio-feature clusters) and ``/search?q=`` (a user or tracks); each has a
JSON twin under ``/api/``, described in ``/api/openapi.json`` (:mod:`streamproc.web.openapi`).
What each page shows is computed in its own module (``web_users``, ``web_clusters``,
``web_search``) and drawn by :mod:`streamproc.web.html`. A user's pages are routed to the worker
that owns the user's partition, so any worker answers for any user. Bad parameters get a 4xx
with a message (JSON on the API), never a 500.
"""

from __future__ import annotations

from typing import Any

from faust.exceptions import SameNode
from faust.web import Request, Response, View

from agents import dead_letters
from streamproc.app import app
from streamproc import stats
from streamproc.runtime import runtime
from streamproc.web.clusters import ClusterSummary
from streamproc.web.html import (artists_text, esc, feature_chart, format_time, page, rate_chart, scatter, source_badge,
                                 swatch, user_href)
from streamproc.web.openapi import SPEC
from streamproc.web.search import search
from streamproc.web.users import MAX_USER_ID, user_view
from tables.store import user_controls

recommender = runtime.recommender
clusters = ClusterSummary(recommender)


def overview() -> dict[str, Any]:
    """Return the counts and model state shown on the overview page (users and events: this worker's)."""
    factors = recommender.factors
    return {
        "users": runtime.owned.users(),
        "tracks": len(recommender.catalog),
        "events": sum(state.total_events() for state in list(runtime.owned.partitions.values())),
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


def _redirect(web: View, location: str) -> Response:
    response = web.text(f"see {location}\n", status=302)
    response.headers["Location"] = location
    return response


def _bad_user_id(user_id: str) -> str | None:
    if len(user_id) > MAX_USER_ID:
        return f"the user id is longer than {MAX_USER_ID} characters"
    return None


# Overview --------------------------------------------------------------------------------------

@app.page("/")
async def home(web: View, request: Request) -> Response:
    """The overview page: counters refreshed every 2 s from ``/api/stats/``."""
    state = overview()
    model = state["model"]
    stream = state.get("stream") or {}
    latency = stream.get("latency_ms") or {}
    hits = stream.get("hit_rate") or {}
    counters = [
        ("events_per_second", "events/s", stream.get("events_per_second", "–")),
        ("users", "users", f"{state['users']:,}"),
        ("tracks", "tracks", f"{state['tracks']:,}"),
        ("events", "events", f"{state['events']:,}"),
        ("dead_letters", "dead letters", f"{state['dead_letters']:,}"),
        ("lag", "lag (messages)", f"{_total(stream['lag']):,}" if "lag" in stream else "–"),
        ("latency", "latency p50 / p99",
         f"{_ms(latency['p50'])} / {_ms(latency['p99'])}" if latency.get("p50") is not None else "–"),
        ("hit_rate", "hit rate: last minute / since start",
         f"{_percent(hits.get('last_minute'))} / {_percent(hits.get('since_start'))}"),
    ]
    boxes = "".join(
        f"<div class='counter'><b id='{key}'>{esc(value)}</b>{esc(label)}</div>" for key, label, value in counters
    )
    fit = f" in {model['fit_seconds']} s" if model["fit_seconds"] is not None else ""
    body = (
        f"<div class='counters'>{boxes}</div>"
        "<h2>Model</h2><table>"
        f"<tr><th>version</th><td id='model_version'>{model['version']}</td></tr>"
        f"<tr><th>last training</th><td id='trained_at'>{esc(format_time(model['trained_at']))}</td></tr>"
        f"<tr><th>trained on</th><td id='trained_on'>{model['users']:,} users × {model['items']:,} items{fit}"
        "</td></tr>"
        f"<tr><th>audio-feature clusters</th><td id='clusters'>{state['clusters']}</td></tr>"
        "</table><h2>Live hit rate</h2>"
        f"{rate_chart(hits.get('series') or [])}"
        "<p class='muted'>the share of plays, likes and playlist-adds whose track was on the listener's latest "
        "list when they came, per 10 s over the last half hour (0 to 100%)</p>"
        "<p class='muted' id='refreshed'>served by the worker; refreshing every 2 s</p>"
        "<p>Find a user or a track with the box above, or see the <a href='/clusters/'>clusters</a>.</p>"
    )
    return web.html(page("Overview", body, script=HOME_SCRIPT))


def _ms(value: float) -> str:
    """Return a latency in milliseconds as ``120 ms`` or, from a second up, ``1.5 s``."""
    return f"{value:.0f} ms" if value < 1000 else f"{value / 1000:.1f} s"


def _percent(share: float | None) -> str:
    """Return a share as ``12.5%``, or a dash when there is none yet."""
    return "–" if share is None else f"{share * 100:.1f}%"


def _total(value: Any) -> int:
    """Return the sum of the numbers in a nested dict (lag is topic → partition → messages)."""
    if isinstance(value, dict):
        return sum(_total(v) for v in value.values())
    return int(value) if isinstance(value, (int, float)) else 0


HOME_SCRIPT = """
const $ = id => document.getElementById(id), fmt = n => Number(n).toLocaleString('en');
const total = v => typeof v === 'number' ? v : v && typeof v === 'object'
  ? Object.values(v).reduce((a, b) => a + total(b), 0) : 0;
const pct = v => v == null ? '–' : (v * 100).toFixed(1) + '%';
const ms = v => v < 1000 ? Math.round(v) + ' ms' : (v / 1000).toFixed(1) + ' s';
const utc = t => t ? new Date(t * 1000).toISOString().replace('T', ' ').slice(0, 19) + ' UTC' : 'not yet';
let previous = null, refreshes = 0;
async function refresh() {
  try {
    const s = await (await fetch('/api/stats/', {cache: 'no-store'})).json();
    const stream = s.stream || {}, now = performance.now(), m = s.model;
    let rate = stream.events_per_second;
    if (rate == null && previous) rate = Math.max(0, (s.events - previous.events) / ((now - previous.at) / 1000));
    previous = {events: s.events, at: now};
    if (rate != null) $('events_per_second').textContent = fmt(Math.round(rate * 10) / 10);
    for (const key of ['users', 'tracks', 'events']) $(key).textContent = fmt(s[key]);
    $('dead_letters').textContent = fmt(stream.dead_letters ?? s.dead_letters);
    if (stream.lag) $('lag').textContent = fmt(total(stream.lag));
    const lat = stream.latency_ms;
    if (lat && lat.p50 != null) $('latency').textContent = ms(lat.p50) + ' / ' + ms(lat.p99);
    const hits = stream.hit_rate;
    if (hits) {
      $('hit_rate').textContent = pct(hits.last_minute) + ' / ' + pct(hits.since_start);
      const step = 360 / Math.max(hits.series.length - 1, 1);
      $('hit_rate_line').setAttribute('points', hits.series.map((b, i) => b.rate == null ? null
        : Math.round(i * step) + ',' + Math.round(60 * (1 - b.rate))).filter(p => p).join(' '));
    }
    $('model_version').textContent = m.version;
    $('trained_at').textContent = utc(m.trained_at);
    $('trained_on').textContent = fmt(m.users) + ' users × ' + fmt(m.items) + ' items'
      + (m.fit_seconds != null ? ' in ' + m.fit_seconds + ' s' : '');
    $('clusters').textContent = s.clusters;
    $('refreshed').textContent = 'updated ' + new Date().toISOString().slice(11, 19) + ' UTC';
    $('refreshed').dataset.refreshes = ++refreshes;
  } catch (error) {
    $('refreshed').textContent = 'the worker is not answering (' + error + ')';
  }
}
refresh();
setInterval(refresh, 2000);
"""


@app.page("/api/stats/")
async def stats_api(web: View, request: Request) -> Response:
    """The overview as JSON."""
    return web.json(overview())


# Users -----------------------------------------------------------------------------------------

@app.page("/users/{user_id}/")
@app.table_route(table=user_controls, match_info="user_id")
async def user_page(web: View, request: Request, user_id: str) -> Response:
    """A user's recommendations with reasons, most played items and their audio features."""
    problem = _bad_user_id(user_id)
    if problem:
        return web.html(page("Bad user id", f"<p>{esc(problem)}.</p>"), status=400)
    view = user_view(recommender, runtime.owned, user_id)
    if view is None:
        body = f"<p>No recommendations for user <b>{esc(user_id)}</b> yet.</p>"
        return web.html(page("Unknown user", body, query=user_id), status=404)
    return web.html(page(f"User {user_id}", _user_body(view), query=user_id))


def _user_body(view: dict[str, Any]) -> str:
    recs = view["recommendations"]
    items = "".join(
        f"<li><b>{esc(item['name'] or item['item_id'])}</b> <span class='muted'>"
        f"{esc(artists_text(item['name'], item['artists']))}</span> {source_badge(item['source'], item['model'])} <small>{item['score']:.3f}</small>"
        f"<div class='reason'>{esc(item['reason'])}</div></li>"
        for item in recs["items"]
    )
    played = "".join(
        f"<li>{esc(item['name'] or item['item_id'])} <span class='muted'>"
        f"{esc(artists_text(item['name'], item['artists']))}</span>"
        f" <small>{item['confidence']:g}</small></li>"
        for item in view["most_played"]
    )
    features = view["features"]
    series = {"favourites": features["favourites"], "recommended": features["recommended"]}
    chart = (
        feature_chart(features["names"], series) if any(series.values())
        else "<p class='muted'>None of these items has audio features (Last.fm artists have none).</p>"
    )
    model = recs.get("model") or {}
    return (
        f"<p class='muted'>{view['events']:,} events · list made {esc(format_time(recs.get('generated_at')))} "
        f"by {esc(model.get('kind', '?'))} (model version {esc(model.get('version', 0))}) · "
        f"<a href='{user_href(view['user_id'])}playlists/'>their weekly playlists</a></p>"
        "<div class='cols'>"
        f"<section><h2>Recommended</h2><ol id='recommendations'>{items}</ol></section>"
        f"<section><h2>Most played</h2><ol id='most-played'>{played}</ol>"
        f"<h2>Audio features</h2><p class='muted'>Mean of their most played tracks against the list.</p>"
        f"{chart}</section></div>"
    )


@app.page("/api/users/{user_id}/")
@app.table_route(table=user_controls, match_info="user_id")
async def user_api(web: View, request: Request, user_id: str) -> Response:
    """A user's page as JSON."""
    problem = _bad_user_id(user_id)
    if problem:
        return web.json({"error": problem}, status=400)
    view = user_view(recommender, runtime.owned, user_id)
    if view is None:
        return web.json({"error": f"unknown user {user_id!r}"}, status=404)
    return web.json(view)


# Clusters --------------------------------------------------------------------------------------

@app.page("/clusters/")
async def clusters_page(web: View, request: Request) -> Response:
    """The catalogue's audio-feature clusters on their first two principal components."""
    view = clusters.view()
    if not view["fitted"] or not view["tracks"]:
        body = "<p id='no-clusters'>No clusters yet: no track with audio features has arrived.</p>"
        return web.html(page("Clusters", body))
    silhouette = view["silhouette"]
    biggest = max(view["sizes"]) or 1
    sizes = "".join(
        f"<tr><td>{swatch(k)} {k}</td><td class='num'>{n:,}</td><td><svg width='200' height='10'>"
        f"<rect width='{200 * n / biggest:.0f}' height='10' fill='#bbb'/></svg></td></tr>"
        for k, n in enumerate(view["sizes"])
    )
    body = (
        f"<p>{view['tracks']:,} tracks with audio features in <b>{view['k']}</b> clusters "
        f"(standard-scaled features, incremental k-means). Silhouette "
        f"<b id='silhouette'>{'–' if silhouette is None else f'{silhouette:.3f}'}</b> "
        f"<small>on {view['silhouette_sample']:,} sampled tracks</small>.</p>"
        "<div class='cols'>"
        f"<section><h2>First two principal components</h2>{scatter(view['points'])}"
        f"<p class='muted'>{view['sample']:,} tracks sampled; hover a point for its name.</p></section>"
        f"<section><h2>Sizes</h2><table id='sizes'><tr><th>cluster</th><th>tracks</th><th></th></tr>{sizes}"
        "</table></section></div>"
    )
    return web.html(page("Clusters", body))


@app.page("/api/clusters/")
async def clusters_api(web: View, request: Request) -> Response:
    """The clusters page as JSON."""
    return web.json(clusters.view())


# Search ----------------------------------------------------------------------------------------

async def _on_owner(web: View, request: Request, answer: Any) -> Response:
    """Answer ``request`` on the worker that owns the user its ``q`` names (``answer()`` when that is this one)."""
    query = request.query.get("q", "").strip()
    if query and len(query) <= MAX_USER_ID:
        try:
            return await app.router.route_req(user_controls.name, query, web.web, request)
        except SameNode:
            pass
    return await answer()


def _search(query: str) -> dict[str, Any]:
    return search(recommender, query, known_user=lambda user_id: runtime.owned.history(user_id) is not None)


@app.page("/search")
async def search_page(web: View, request: Request) -> Response:
    """The search box: a user's page when the query is a user id, else tracks whose name matches.

    Asked on the worker that owns the user the query would name, which alone knows them."""
    return await _on_owner(web, request, lambda: _search_page(web, request))


async def _search_page(web: View, request: Request) -> Response:
    query = request.query.get("q", "")
    try:
        found = _search(query)
    except ValueError as error:
        return web.html(page("Search", f"<p>{esc(error)}.</p>", query=query[:200]), status=400)
    if found["user"] is not None:
        return _redirect(web, user_href(found["user"]))
    rows = "".join(
        f"<tr><td>{esc(t['name'] or t['item_id'])}</td><td>{esc(artists_text(t['name'], t['artists']))}</td>"
        f"<td class='num'>{t['listeners']:,}</td></tr>"
        for t in found["tracks"]
    )
    shown = len(found["tracks"])
    if shown:
        body = (f"<p>{found['total']:,} tracks match <b>{esc(found['query'])}</b>"
                f"{f', the first {shown} shown' if found['total'] > shown else ''}; no user has this id.</p>"
                f"<table id='results'><tr><th>track</th><th>artists</th><th>listeners</th></tr>{rows}</table>")
    else:
        body = f"<p id='no-results'>No user or track matches <b>{esc(found['query'])}</b>.</p>"
    return web.html(page("Search", body, query=found["query"]))


@app.page("/api/search")
async def search_api(web: View, request: Request) -> Response:
    """The search as JSON: the user the query names (or null) and at most 20 matching tracks."""
    return await _on_owner(web, request, lambda: _search_api(web, request))


async def _search_api(web: View, request: Request) -> Response:
    try:
        return web.json(_search(request.query.get("q", "")))
    except ValueError as error:
        return web.json({"error": str(error)}, status=400)


@app.page("/api/openapi.json")
async def openapi(web: View, request: Request) -> Response:
    """The OpenAPI 3 description of the JSON API."""
    return web.json(SPEC)
