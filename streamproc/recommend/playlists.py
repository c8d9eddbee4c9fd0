"""Discover Weekly, emerging artists and similar items, as plain functions over a Recommender.

A playlist belongs to a *period*: the time since the last firing of ``STREAMPROC_DISCOVER_CRON``
(Monday 00:00 by default) in ``STREAMPROC_TIMEZONE``. Within a period a user's playlist of a
kind is made once and handed out again on request; a new period gets a new list with none of
the items of the user's lists of the last ``STREAMPROC_PLAYLIST_NO_REPEAT_DAYS`` (28) days.
The per-user record of those lists is the ``user_playlists`` table value that
:func:`next_playlist` reads and returns.

>>> from datetime import timezone
>>> period_start("0 0 * * 1", timezone.utc, 1763942400.0)  # Monday 24 Nov 2025, 00:00 UTC
'2025-11-24T00:00:00+00:00'
>>> period_start("0 0 * * 1", timezone.utc, 1763942399.0)
'2025-11-17T00:00:00+00:00'
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

import numpy as np
from croniter import croniter

from models.content import nearest_items
from models.ranking import blend, manhattan_scores, minmax
from streamproc.recommend import personalise, skips
from streamproc.settings import SettingsError
from tables.control import Preferences
from tables.recommendation import RecommendedItem

if TYPE_CHECKING:
    from streamproc.recommend.recommender import Recommender

DAY_S = 86400.0
FAVOURITES = 50


def period_start(cron: str, tz: tzinfo, now: float) -> str:
    """Return the ISO time of the last firing of ``cron`` in ``tz`` at or before ``now``."""
    moment = datetime.fromtimestamp(now + 1e-3, tz)
    return croniter(cron, moment).get_prev(datetime).isoformat()


def recent_items(record: Mapping[str, Any] | None, kind: str, now: float, days: float) -> set[str]:
    """Return the items of the user's ``kind`` lists generated in the last ``days`` before ``now``."""
    entries = ((record or {}).get(kind) or {}).get("entries") or []
    return {item for entry in entries if entry["generated_at"] > now - days * DAY_S for item in entry["items"]}


def next_playlist(rec: "Recommender", user_id: str, history: Mapping[str, float], kind: str,
                  record: Mapping[str, Any] | None, now: float | None = None, tz: tzinfo | None = None,
                  skipped: Mapping[str, int] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the user's playlist message of ``kind`` for the current period, and the new ``record``.

    The period's list when it exists already (the record unchanged); otherwise a new one, with
    none of the items of the last ``playlist_no_repeat_days``, recorded in the returned record.
    The items the user only skipped (``skipped``: item → skips) are lowered as in their lists.
    """
    s = rec.settings
    now = time.time() if now is None else now
    period = period_start(s.discover_cron, tz or _zone(s.timezone), now)
    record = dict(record or {})
    mine = dict(record.get(kind) or {})
    latest = mine.get("latest")
    if latest and latest.get("period") == period:
        return latest, record
    exclude = recent_items(record, kind, now, s.playlist_no_repeat_days)
    if kind == "discover":
        items = rec.recommend(user_id, history, n=s.discover_size, exclude=exclude, salt=period, skipped=skipped).items
    elif kind == "emerging":
        items = emerging(rec, user_id, history, s.emerging_size, exclude=exclude, salt=period, skipped=skipped)
    else:
        raise ValueError(f"kind must be discover or emerging, got {kind!r}")
    message = {
        "user_id": user_id,
        "kind": kind,
        "generated_at": now,
        "period": period,
        "items": [describe(rec, item) for item in items],
    }
    entries = [e for e in mine.get("entries") or [] if e["generated_at"] > now - s.playlist_no_repeat_days * DAY_S]
    entries.append({"period": period, "generated_at": now, "items": [item.item_id for item in items]})
    record[kind] = {"entries": entries, "latest": message}
    return message, record


def describe(rec: "Recommender", item: RecommendedItem) -> dict[str, Any]:
    """Return a playlist entry: the recommended item with its name and artists."""
    entry = {"item_id": item.item_id, "name": rec.catalog.name(item.item_id),
             "artists": rec.catalog.artists(item.item_id), "score": item.score, "source": item.source,
             "explanation": item.explanation}
    if item.exploration:
        entry["exploration"] = True
    return entry


def emerging(rec: "Recommender", user_id: str, history: Mapping[str, float], n: int,
             exclude: Collection[str] = (), salt: str = "",
             skipped: Mapping[str, int] | None = None) -> list[RecommendedItem]:
    """Return up to ``n`` unplayed items under the popularity threshold, nearest the user's favourites.

    Candidates are catalogue items with a known popularity below ``emerging_popularity``. Each
    is scored by its Manhattan distance to the nearest of the user's favourites in scaled audio
    features, blended half and half (after min-max scaling) with the ALS score where the model
    knows the user and the item; without either, by listeners. Controls and exploration apply,
    and the items the user only skipped (``skipped``: item → skips) are lowered (:mod:`~streamproc.recommend.skips`);
    without ``skipped``, every item of the history is left out.
    """
    prefs = Preferences.from_state(rec.controls.get(user_id))
    if prefs.opted_out or skipped is None:
        skipped = {}
    if prefs.opted_out:
        history = {}
    seen = skips.left_out(history, skipped, rec.skip_penalty).union(exclude)
    threshold = rec.settings.emerging_popularity
    candidates = [
        item for item in rec.catalog.item_ids()
        if item not in seen and (rec.catalog.get(item) or {}).get("popularity") is not None
        and rec.catalog.popularity(item) < threshold
    ]
    if not candidates:
        return []
    content = _content_scores(rec, history, candidates)
    als = _als_scores(rec, history, candidates)
    if content is not None and als is not None:
        als = np.nan_to_num(als, nan=-np.inf)
        scores = blend(als, content)
        source = np.where(np.isfinite(als) & (minmax(als) >= minmax(content)), "als", "content")
    elif content is not None or als is not None:
        scores = content if content is not None else np.nan_to_num(als, nan=-np.inf)
        source = np.full(len(candidates), "content" if content is not None else "als")
    else:
        scores = np.array([personalise.popularity_of(rec, item) for item in candidates])
        source = np.full(len(candidates), "popular")
    order = np.argsort(-scores, kind="stable")[: n * 4]
    by_source = {candidates[i]: str(source[i]) for i in order}
    ids, ranked = [candidates[i] for i in order], scores[order]
    if skipped:
        ids, ranked = skips.lowered(ids, ranked, skipped, rec.skip_penalty)
    ids, kept = personalise.filter_and_rerank(rec, ids, ranked, n, prefs)
    items = [RecommendedItem(item, float(score), by_source[item]) for item, score in zip(ids, kept)]
    if not prefs.opted_out:
        items = personalise.explore(rec, user_id, history, items, n, seen, prefs, salt, allowed=set(candidates),
                                    skipped=skipped)
    return personalise.explain(rec, history, items)


def _content_scores(rec: "Recommender", history: Mapping[str, float], candidates: list[str]) -> np.ndarray | None:
    if not rec.clusterer.is_fitted:
        return None
    _, index, scaled, _ = rec.content_view()
    favourites = sorted(((r, item) for item, r in history.items() if r > 0 and item in index), reverse=True)
    favourites = [index[item] for _, item in favourites[:FAVOURITES]]
    if not favourites:
        return None
    scores = np.full(len(candidates), -np.inf)
    rows = [(i, index[item]) for i, item in enumerate(candidates) if item in index]
    if not rows:
        return None
    at, found = zip(*rows)
    fav = scaled[favourites]
    nearest = np.array([manhattan_scores(fav, scaled[row]).max() for row in found])
    scores[list(at)] = nearest
    return scores


def _als_scores(rec: "Recommender", history: Mapping[str, float], candidates: list[str]) -> np.ndarray | None:
    factors = rec.factors
    if factors is None:
        return None
    at = [(i, factors.item_index[item]) for i, item in enumerate(candidates) if item in factors.item_index]
    folded = factors.fold_in([history], rec.settings.min_als_items)
    if not folded.positions or not at:
        return None
    scores = np.full(len(candidates), np.nan)
    positions, columns = zip(*at)
    scores[list(positions)] = factors.model.item_factors_[list(columns)] @ folded.vectors[0]
    return scores


def similar(rec: "Recommender", item_id: str, n: int = 10) -> dict[str, Any] | None:
    """Return the items and artists most similar to ``item_id``, or None for an unknown item.

    Items come from the ALS item factors (cosine, ``"source": "als"``) and, for a track with
    audio features, from the scaled features (Manhattan, ``"source": "content"``); artists are
    those of the similar items (other than the item's own), by summed rank score.
    """
    factors = rec.factors
    in_model = factors is not None and item_id in factors.item_index
    has_features = rec.clusterer.is_fitted and item_id in rec.content_view()[1]
    if item_id not in rec.catalog and not in_model:
        return None
    items: list[dict[str, Any]] = []
    if in_model:
        found, scores = factors.model.similar_items(factors.item_index[item_id], n=n)
        items += [_similar_entry(rec, factors.item_ids[i], s, "als") for i, s in zip(found, scores)]
    if has_features:
        ids, index, scaled, _ = rec.content_view()
        found, scores = nearest_items(scaled, index[item_id], n=n)
        items += [_similar_entry(rec, ids[i], s, "content") for i, s in zip(found, scores)]
    own = {a.casefold() for a in rec.catalog.artists(item_id)}
    artists: dict[str, dict[str, Any]] = {}
    for source in ("als", "content"):
        ranked = [item for item in items if item["source"] == source]
        for rank, item in enumerate(ranked):
            for artist in item["artists"]:
                if artist.casefold() in own:
                    continue
                entry = artists.setdefault(artist, {"artist": artist, "score": 0.0, "sources": []})
                entry["score"] += 1.0 - rank / max(len(ranked), 1)
                if source not in entry["sources"]:
                    entry["sources"].append(source)
    return {
        "item_id": item_id,
        "name": rec.catalog.name(item_id),
        "artists": rec.catalog.artists(item_id),
        "items": items,
        "similar_artists": sorted(artists.values(), key=lambda a: (-a["score"], a["artist"]))[:n],
    }


def _similar_entry(rec: "Recommender", item_id: str, score: float, source: str) -> dict[str, Any]:
    return {"item_id": item_id, "name": rec.catalog.name(item_id), "artists": rec.catalog.artists(item_id),
            "score": float(score), "source": source}


def schedule(cron: str, timezone: str) -> tzinfo:
    """Return the time zone of the playlist schedule; raise SettingsError for a bad cron line or zone.

    >>> schedule("0 0 * * 1", "Europe/Paris")
    zoneinfo.ZoneInfo(key='Europe/Paris')
    >>> schedule("every monday", "UTC")
    Traceback (most recent call last):
    ...
    streamproc.errors.SettingsError: STREAMPROC_DISCOVER_CRON='every monday' is not a cron line (minute hour day month weekday)
    """
    if not croniter.is_valid(cron):
        raise SettingsError(f"STREAMPROC_DISCOVER_CRON={cron!r} is not a cron line (minute hour day month weekday)")
    return _zone(timezone)


def _zone(name: str) -> tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"STREAMPROC_TIMEZONE={name!r} is not a time zone (e.g. Europe/Paris, UTC)") from None
