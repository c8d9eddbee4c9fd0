"""The web view's parts as plain functions: search, the clusters cache, reasons, HTML helpers."""

from __future__ import annotations

import numpy as np
import pytest

from streamproc.web import clusters as web_clusters, search as web_search
from streamproc.recommend.recommender import Recommender
from streamproc.settings import Settings
from models.clustering import StreamingClusterer
from streamproc.web.clusters import SAMPLE, ClusterSummary
from tests.trained import install_trained
from tables.track import FEATURES


def _track(item_id: str, values: np.ndarray, name: str = "") -> dict:
    return {"item_id": item_id, "name": name or f"Track {item_id}", "artists": [f"Artist {item_id}"],
            "features": dict(zip(FEATURES, map(float, values)))}


def _recommender(n_tracks: int, seed: int = 0) -> Recommender:
    rec = Recommender(Settings(clusters=4, min_train_users=1))
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 1, (4, len(FEATURES)))
    rows = centres[rng.integers(0, 4, n_tracks)] + rng.normal(0, 0.03, (n_tracks, len(FEATURES)))
    for i, row in enumerate(rows):
        rec.catalog.upsert(_track(f"t{i}", row))
    rec.clusterer = StreamingClusterer(n_clusters=4).partial_fit(rows)
    return rec


def test_clusters_view_samples_and_is_computed_once_per_version(monkeypatch) -> None:
    rec = _recommender(3500)
    calls = []
    real = web_clusters.silhouette
    monkeypatch.setattr(web_clusters, "silhouette", lambda X, labels, **kw: calls.append(len(X)) or real(X, labels, **kw))
    now = [0.0]
    summary = ClusterSummary(rec, clock=lambda: now[0])
    view = summary.view()
    assert view["tracks"] == 3500 and view["sample"] == len(view["points"]) == SAMPLE
    assert sum(view["sizes"]) == 3500 and len(view["sizes"]) == 4
    assert 0.5 < view["silhouette"] <= 1  # four tight, far apart blobs
    assert summary.view() is view and calls == [SAMPLE]
    rec.catalog.upsert(_track("new", np.full(len(FEATURES), 0.5)))
    now[0] = 1.0
    assert summary.view() is view  # changed, but computed less than MIN_AGE_S ago
    now[0] = 60.0
    assert summary.view()["tracks"] == 3501 and calls == [SAMPLE, SAMPLE]


def test_clusters_view_before_any_features() -> None:
    view = ClusterSummary(Recommender(Settings())).view()
    assert view["fitted"] is False and view["points"] == [] and view["silhouette"] is None


def test_search_rejects_blank_and_long_queries_and_caps_results() -> None:
    rec = Recommender(Settings())
    for i in range(30):
        rec.catalog.upsert({"item_id": f"i{i}", "name": f"Song {i}", "artists": []})
    found = web_search.search(rec, "song")
    assert found["total"] == 30 and len(found["tracks"]) == web_search.MAX_RESULTS and found["user"] is None
    assert web_search.search(rec, "i7")["tracks"][0]["item_id"] == "i7"  # an item id matches too
    for bad in ("", "   ", "x" * (web_search.MAX_QUERY + 1)):
        with pytest.raises(ValueError):
            web_search.search(rec, bad)


def test_reasons_follow_the_source(monkeypatch) -> None:
    import streamproc.app  # noqa: F401 - the app first: web_users is one of the modules it loads
    from streamproc.web import users as web_users

    rec = _recommender(200)
    played = {"t0": 5.0, "t1": 1.0}
    install_trained(rec, {"u1": played, "u2": {"t0": 1.0, "t5": 2.0}})
    rec.factors = None  # until the als reasons below
    reasons = web_users.Reasons(rec, played)
    # content: the favourite nearest in scaled features; a track identical to t1 is nearest to t1
    rec.catalog.upsert(_track("twin", np.array(list(rec.catalog.get("t1")["features"].values()))))
    assert reasons.reason({"item_id": "twin", "source": "content"}) == {
        "reason": "sounds like Track t1 by Artist t1, which you played", "because": "t1"}
    assert reasons.reason({"item_id": "t5", "source": "popular"})["reason"] == "popular with 1 listener"
    given = {"item_id": "t9", "source": "als", "explanation": {"kind": "als", "items": ["t0", "t1"]}}
    assert reasons.reason(given) == {"reason": "because you played Track t0 by Artist t0", "because": "t0"}
    # hybrid: the item its explanation names, and the part of the blend the score owes most
    hybrid = {"item_id": "t9", "source": "hybrid", "explanation": {"kind": "hybrid", "part": "ease", "items": ["t1"]}}
    assert reasons.reason(hybrid) == {"reason": "because you played Track t1 by Artist t1 (hybrid, mostly EASE)",
                                      "because": "t1"}
    assert web_users.model_label(hybrid) == "hybrid, mostly EASE" and web_users.model_label(given) == "als"
    # als without a given explanation: ask the model which played item contributes most
    install_trained(rec, {"u1": played, "u2": {"t0": 1.0, "t5": 2.0}}, version=2)
    found = reasons.reason({"item_id": "t5", "source": "als"})
    assert found["because"] in played and found["reason"].startswith("because you played Track t")
    assert "something different" in reasons.reason({"item_id": "t7", "source": "content", "exploration": True})["reason"]
    assert "chart" not in web_users.CHART_FEATURES and set(web_users.CHART_FEATURES) < set(FEATURES)
