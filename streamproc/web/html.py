"""HTML of the web view: the page layout with its search box, and the small inline SVG charts.

Plain strings, no templates and no JavaScript libraries: every page works offline. Everything
that comes from data goes through :func:`esc`.

>>> "<svg" in feature_chart(["energy"], {"favourites": [0.5], "recommended": [0.25]})
True
>>> esc("<b>")
'&lt;b&gt;'
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

# Twenty colours that stay apart on white (the "tab20" order, strong shades first).
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)
SERIES_COLOURS = {"favourites": "#1f77b4", "recommended": "#ff7f0e"}
SERIES_LABELS = {"favourites": "their favourites", "recommended": "recommended"}

CSS = """
body{font-family:system-ui,sans-serif;margin:0;color:#222}
header{background:#1e2a38;color:#fff;padding:.6em 2em;display:flex;gap:1.5em;align-items:center}
header a{color:#fff;text-decoration:none}header b a{font-size:1.2em}
header form{margin-left:auto}header input{width:16em}
main{margin:1.5em 2em;max-width:76em}
table{border-collapse:collapse}th,td{text-align:left;padding:.2em 1em .2em 0;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.counters{display:flex;flex-wrap:wrap;gap:1em;margin:1em 0}
.counter{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;min-width:8em}
.counter b{display:block;font-size:1.6em;font-variant-numeric:tabular-nums}
.src{font-size:.8em;padding:0 .4em;border-radius:3px;color:#fff}
.src-als{background:#1f77b4}.src-hybrid{background:#9467bd}.src-content{background:#2ca02c}.src-popular{background:#7f7f7f}
small,.muted{color:#777}.reason{color:#555;font-size:.9em}
.cols{display:flex;flex-wrap:wrap;gap:2em}.cols>section{flex:1 1 24em}
"""


def esc(value: object) -> str:
    """Return ``value`` as text safe inside HTML (and SVG) elements and quoted attributes."""
    return html.escape(str(value), quote=True)


def user_href(user_id: str) -> str:
    """Return the path of a user's page."""
    return f"/users/{quote(user_id, safe='')}/"


def format_time(timestamp: float | None) -> str:
    """Return a Unix time as ``YYYY-MM-DD HH:MM:SS UTC``, or ``not yet`` for None.

    >>> format_time(0), format_time(None)
    ('1970-01-01 00:00:00 UTC', 'not yet')
    """
    if not timestamp:
        return "not yet" if timestamp is None else "1970-01-01 00:00:00 UTC"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def page(title: str, body: str, query: str = "", script: str = "") -> str:
    """Return a whole page: the header with its links and search box, then ``body`` (HTML)."""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(title)} · streamproc</title><style>{CSS}</style></head><body>"
        "<header><b><a href='/'>streamproc</a></b><a href='/'>overview</a><a href='/clusters/'>clusters</a>"
        "<form action='/search' method='get' role='search'>"
        f"<input type='search' name='q' value='{esc(query)}' maxlength='200' required "
        "placeholder='user id or track name' aria-label='Find a user or a track'> <button>Find</button>"
        "</form></header>"
        f"<main><h1>{esc(title)}</h1>{body}</main>"
        f"{f'<script>{script}</script>' if script else ''}</body></html>"
    )


def artists_text(name: str | None, artists: Sequence[str]) -> str:
    """Return the artists to show beside ``name``: none when they only repeat it (Last.fm artists).

    >>> artists_text("Air", ["Air"]), artists_text("Song", ["A", "B"])
    ('', 'A, B')
    """
    return "" if list(artists) in ([], [name]) else ", ".join(artists)


PART_NAMES = {"als": "ALS", "ease": "EASE", "rp3beta": "RP3beta"}


def model_label(item: Mapping[str, Any]) -> str:
    """Return which model a list item came from: its source, and for a hybrid item the part its score owes most.

    >>> model_label({"source": "hybrid", "explanation": {"kind": "hybrid", "part": "ease", "items": []}})
    'hybrid, mostly EASE'
    >>> model_label({"source": "content"})
    'content'
    """
    source = item.get("source", "")
    explanation = item.get("explanation")
    part = explanation.get("part") if isinstance(explanation, Mapping) else None
    return f"hybrid, mostly {PART_NAMES.get(part, part)}" if source == "hybrid" and part else source


def source_badge(source: str, label: str | None = None) -> str:
    """Return the label (the source itself by default) of a recommendation, coloured by its source
    (als, hybrid, content, popular)."""
    return f"<span class='src src-{esc(source)}'>{esc(label or source)}</span>"


def feature_chart(names: Sequence[str], series: Mapping[str, Sequence[float] | None],
                  width: int = 520) -> str:
    """Return an SVG grouped bar chart of mean 0-1 audio features, one bar per series and feature."""
    shown = [(key, values) for key, values in series.items() if values]
    bar, gap, left, top = 12, 10, 120, 28
    group = bar * max(1, len(shown)) + gap
    height = top + group * len(names) + 24
    scale = width - left - 50
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' "
             "aria-label='mean audio features' class='feature-chart' font-size='12'>"]
    for i, (key, _) in enumerate(shown):
        x = left + i * 150
        parts.append(f"<rect x='{x}' y='6' width='12' height='12' fill='{SERIES_COLOURS.get(key, '#999')}'/>"
                     f"<text x='{x + 16}' y='16'>{esc(SERIES_LABELS.get(key, key))}</text>")
    for tick in (0.0, 0.5, 1.0):
        x = left + tick * scale
        parts.append(f"<line x1='{x:.1f}' y1='{top - 4}' x2='{x:.1f}' y2='{height - 20}' stroke='#ddd'/>"
                     f"<text x='{x:.1f}' y='{height - 6}' text-anchor='middle' fill='#777'>{tick:g}</text>")
    for f, name in enumerate(names):
        y0 = top + f * group
        parts.append(f"<text x='{left - 6}' y='{y0 + group / 2 - 2:.1f}' text-anchor='end'>{esc(name)}</text>")
        for i, (key, values) in enumerate(shown):
            value = min(max(float(values[f]), 0.0), 1.0)
            parts.append(
                f"<rect x='{left}' y='{y0 + i * bar}' width='{value * scale:.1f}' height='{bar - 2}' "
                f"fill='{SERIES_COLOURS.get(key, '#999')}'><title>{esc(name)}: {value:.2f}</title></rect>"
                f"<text x='{left + value * scale + 4:.1f}' y='{y0 + i * bar + bar - 3}' fill='#555' "
                f"font-size='10'>{value:.2f}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def scatter(points: Sequence[Sequence], width: int = 560, height: int = 420) -> str:
    """Return an SVG scatter of ``points`` (x, y, cluster, ..., label), coloured by cluster.

    >>> scatter([[0.0, 0.0, 0, "a"], [1.0, 2.0, 1, "b"]]).count("<circle")
    2
    """
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' "
             "aria-label='clusters on the first two principal components' class='scatter'>"
             f"<style>circle{{fill-opacity:.7}}{''.join(f'.c{i}{{fill:{c}}}' for i, c in enumerate(PALETTE))}</style>"
             f"<rect width='{width}' height='{height}' fill='#fafafa' stroke='#ddd'/>"]
    finite = [p for p in points if math.isfinite(p[0]) and math.isfinite(p[1])]
    if finite:
        xs, ys = [p[0] for p in finite], [p[1] for p in finite]
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        sx, sy = (width - 20) / ((x1 - x0) or 1.0), (height - 20) / ((y1 - y0) or 1.0)
        for x, y, cluster, *_, label in finite:
            parts.append(f"<circle class='c{int(cluster) % len(PALETTE)}' cx='{10 + (x - x0) * sx:.0f}' "
                         f"cy='{height - 10 - (y - y0) * sy:.0f}' r='2.5'><title>{esc(label)}</title></circle>")
    parts.append(f"<text x='{width - 8}' y='{height - 6}' text-anchor='end' fill='#999' font-size='11'>PC1 →</text>"
                 "<text x='8' y='16' fill='#999' font-size='11'>↑ PC2</text></svg>")
    return "".join(parts)


RATE_CHART_W, RATE_CHART_H = 360, 60


def rate_points(series: Sequence[Mapping[str, Any]]) -> str:
    """Return SVG polyline points of the buckets' rates (0 to 1), oldest left, one point per bucket.

    >>> rate_points([{"rate": 0.0}, {"rate": None}, {"rate": 1.0}])
    '0,60 360,0'
    """
    step = RATE_CHART_W / max(len(series) - 1, 1)
    return " ".join(f"{i * step:.0f},{RATE_CHART_H * (1 - b['rate']):.0f}"
                    for i, b in enumerate(series) if b["rate"] is not None)


def rate_chart(series: Sequence[Mapping[str, Any]]) -> str:
    """Return an SVG line of the live hit rate per bucket, with id ``hit_rate_line`` for the page's script."""
    return (f"<svg width='{RATE_CHART_W}' height='{RATE_CHART_H}' role='img' aria-label='live hit rate over time'>"
            f"<rect width='{RATE_CHART_W}' height='{RATE_CHART_H}' fill='#f6f6f6'/>"
            f"<polyline id='hit_rate_line' fill='none' stroke='#1db954' stroke-width='2' "
            f"points='{rate_points(series)}'/></svg>")


def swatch(cluster: int) -> str:
    """Return a small square in the colour of ``cluster``."""
    return (f"<svg width='12' height='12' aria-hidden='true'><rect width='12' height='12' "
            f"fill='{PALETTE[int(cluster) % len(PALETTE)]}'/></svg>")
