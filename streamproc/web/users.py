"""What a user's page shows: the latest list with names, artists and a one-line reason per item,
the most played items, and the mean audio features of the favourites against the list's.

Reasons follow the item's source: for ``als`` the played item contributing most to the score
(Hu, Koren and Volinsky 2008, section 5, ``ImplicitALS.explain``); for ``hybrid`` the played item
the ranking's explanation names, from the part of the blend (ALS or the item model) the score
owes most, which the reason says; for ``content`` the favourite nearest to the item in
standard-scaled audio-feature space (Manhattan, as the content ranking); for ``popular`` how
many listeners played it. Each item's ``model`` says which model it came from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from streamproc.owned_users import OwnedUsers
from streamproc.recommend.recommender import Recommender
from streamproc.web.html import model_label
from tables.track import FEATURES

# The audio features between 0 and 1, which the chart can put on one axis (as EMERGIFY did).
CHART_FEATURES = ("danceability", "energy", "speechiness", "acousticness", "instrumentalness", "liveness", "valence")
MOST_PLAYED = 10
FAVOURITES = 20  # the most played items with audio features that the chart and content reasons use
MAX_USER_ID = 256
def user_view(recommender: Recommender, owned: OwnedUsers, user_id: str) -> dict[str, Any] | None:
    """Return the user's latest recommendations with names and reasons, or None for a user no owned
    partition holds. A user whose partition was just loaded has no list sent yet: one is ranked for the page."""
    history = owned.history(user_id)
    if history is None:
        return None
    sent = owned.latest.get(user_id)
    latest = (json.loads(sent.message) if sent
              else recommender.recommend(user_id, history, skipped=owned.skips(user_id)).to_dict())
    played = {item: float(r) for item, r in history.items() if r > 0}
    top = sorted(played.items(), key=lambda kv: (-kv[1], kv[0]))
    catalog = recommender.catalog
    reasons = Reasons(recommender, played)
    items = [
        {**item, "name": catalog.name(item["item_id"]), "artists": catalog.artists(item["item_id"]),
         "model": model_label(item), **reasons.reason(item)}
        for item in latest["items"]
    ]
    favourites = [item for item, _ in top if _features(recommender, item) is not None][:FAVOURITES]
    return {
        "user_id": user_id,
        "events": owned.find(user_id).events(user_id),
        "recommendations": {**latest, "items": items},
        "most_played": [
            {"item_id": item, "name": catalog.name(item), "artists": catalog.artists(item), "confidence": r}
            for item, r in top[:MOST_PLAYED]
        ],
        "features": {
            "names": list(CHART_FEATURES),
            "favourites": _mean_features(recommender, favourites),
            "recommended": _mean_features(recommender, [item["item_id"] for item in latest["items"]]),
        },
    }


class Reasons:
    """One-line reasons for the items of one user's list, from the recommender's current models."""

    def __init__(self, rec: Recommender, played: Mapping[str, float]) -> None:
        self.rec = rec
        self.played = played
        self._row: sp.csr_matrix | None = None
        self._favourites: tuple[list[str], np.ndarray] | None = None

    def reason(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """Return ``{"reason": one line, "because": the played item it rests on or None}`` for a list item.

        An ``explanation`` the ranking attached to the item (its played items, strongest first) is
        used as it is; otherwise the reason is worked out from the current models.
        """
        item_id, source = item["item_id"], item.get("source", "")
        explanation = item.get("explanation")
        given = explanation.get("items") if isinstance(explanation, Mapping) else None
        because = given[0] if given and isinstance(given[0], str) else None
        if item.get("exploration") or (isinstance(explanation, Mapping) and explanation.get("kind") == "exploration"):
            return {"reason": "something different: from a sound you have not played yet", "because": None}
        if source == "hybrid":
            mostly = f" ({model_label(item)})"
            if because:
                return self._because(because, f"because you played {self._label(because)}{mostly}")
            return {"reason": f"listeners with a taste like yours play it{mostly}", "because": None}
        if source == "als":
            because = because or self._als_because(item_id)
            if because:
                return self._because(because, f"because you played {self._label(because)}")
            return {"reason": "listeners with a taste like yours play it", "because": None}
        if source == "content":
            because = because or self._nearest_favourite(item_id)
            if because:
                return self._because(because, f"sounds like {self._label(because)}, which you played")
            return {"reason": "its audio features match your taste", "because": None}
        listeners = self.rec.item_users(item_id)
        return {"reason": f"popular with {listeners} listener{'s' if listeners != 1 else ''}", "because": None}

    @staticmethod
    def _because(item_id: str, text: str) -> dict[str, Any]:
        return {"reason": text, "because": item_id}

    def _label(self, item_id: str) -> str:
        name = self.rec.catalog.name(item_id) or item_id
        artists = self.rec.catalog.artists(item_id)
        return f"{name} by {', '.join(artists)}" if artists and artists != [name] else name

    def _als_because(self, item_id: str) -> str | None:
        factors = self.rec.factors
        if factors is None or item_id not in factors.item_index:
            return None
        if self._row is None:
            known = sorted((factors.item_index[i], r) for i, r in self.played.items() if i in factors.item_index)
            columns = [c for c, _ in known]
            self._row = sp.csr_matrix(
                (np.asarray([r for _, r in known], np.float32), np.asarray(columns, np.int64), [0, len(known)]),
                shape=(1, len(factors.item_ids)),
            )
        if self._row.nnz == 0:
            return None
        top = factors.model.explain(self._row, factors.item_index[item_id], n=1)
        return factors.item_ids[top[0][0]] if top else None

    def _nearest_favourite(self, item_id: str) -> str | None:
        clusterer = self.rec.clusterer
        target = _features(self.rec, item_id)
        if target is None or not clusterer.is_fitted:
            return None
        if self._favourites is None:
            ids = [i for i, _ in sorted(self.played.items(), key=lambda kv: -kv[1])
                   if _features(self.rec, i) is not None][:FAVOURITES * 10]
            raw = np.array([_features(self.rec, i) for i in ids], dtype=np.float64).reshape(-1, len(FEATURES))
            self._favourites = (ids, clusterer.transform(raw) if ids else raw)
        ids, scaled = self._favourites
        if not ids:
            return None
        point = clusterer.transform(np.asarray([target], dtype=np.float64))[0]
        return ids[int(np.abs(scaled - point).sum(axis=1).argmin())]


def _features(recommender: Recommender, item_id: str) -> list[float] | None:
    track = recommender.catalog.get(item_id)
    features = track.get("features") if track else None
    return [float(features[name]) for name in FEATURES] if features else None


def _mean_features(recommender: Recommender, item_ids: list[str]) -> list[float] | None:
    """Return the mean of each chart feature over the items that have features, or None if none has."""
    rows = []
    for item in item_ids:
        track = recommender.catalog.get(item)
        features = track.get("features") if track else None
        if features:
            rows.append([float(features[name]) for name in CHART_FEATURES])
    return [round(float(v), 4) for v in np.mean(rows, axis=0)] if rows else None
