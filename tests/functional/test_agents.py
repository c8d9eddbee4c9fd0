"""The listens and catalogue agents on events put straight into their streams."""

from __future__ import annotations

import json

import numpy as np

from agents.catalog import process_tracks
from agents.listens import process_listens
from streamproc.app import recommender
from tables import store
from tables.track import FEATURES
from tests.functional.conftest import settle


def listen(user: str, item: str, event: str = "play", count: int = 1) -> bytes:
    return json.dumps({"user_id": user, "item_id": item, "event": event, "count": count, "ts": 1.0}).encode()


def reasons(mock) -> list[str]:
    return [call.kwargs["headers"]["x-reason"].decode() for call in mock.await_args_list]


async def test_listens_build_history_and_a_list_of_unplayed_items(sent):
    for i in range(12):
        recommender.catalog.upsert({"item_id": f"t{i}", "name": f"Track {i}", "artists": ["A"], "features": None})
    recommender.interactions.put("other", {f"t{i}": 1.0 for i in range(12)}, events=12)
    async with process_listens.test_context() as agent:
        await agent.put(listen("u1", "t0", count=3), key=b"u1")
        await agent.put(listen("u1", "t1", "like"), key=b"u1")
        await agent.put(listen("u1", "t0", "skip"), key=b"u1")
        await settle()
    history = store.user_history["u1"]
    assert history["items"] == {"t0": 2.0, "t1": 5.0}
    assert history["events"] == 3
    value = json.loads(sent["recommendations"].call_args.kwargs["value"])
    items = [item["item_id"] for item in value["items"]]
    assert len(items) == len(set(items)) == 10
    assert not {"t0", "t1"} & set(items)
    assert sent["recommendations"].call_args.kwargs["key"] == "u1"
    assert json.loads(store.latest_recommendations["u1"]) == value


async def test_malformed_listens_go_to_dead_letters_with_their_reason(sent):
    bad = {
        "not json": (b"{nope", b"u1"),
        "missing user_id": (json.dumps({"item_id": "a"}).encode(), b"u1"),
        "negative count": (listen("u1", "a", count=-2), b"u1"),
        "unknown event": (listen("u1", "a", event="hum"), b"u1"),
        "1 MB value": (b'{"user_id": "u1", "pad": "' + b"x" * 1_000_000 + b'"}', b"u1"),
        "wrong key": (listen("u1", "a"), b"u2"),
    }
    async with process_listens.test_context() as agent:
        for value, key in bad.values():
            await agent.put(value, key=key)
        await agent.put(listen("u3", "a"), key=b"u3")
        await settle()
    found = reasons(sent["dead_letters"])
    assert len(found) == len(bad)
    assert "not JSON" in found[0]
    assert "missing 'user_id'" in found[1]
    assert "'count' must be between 1" in found[2]
    assert "'event' must be one of" in found[3]
    assert "more than the limit" in found[4]
    assert "is not the user_id" in found[5]
    raw = [call.kwargs["value"] for call in sent["dead_letters"].await_args_list]
    assert raw == [value for value, _ in bad.values()]
    assert store.user_history["u3"]["events"] == 1


async def test_tracks_with_features_are_clustered(sent):
    rng = np.random.default_rng(0)
    async with process_tracks.test_context() as agent:
        for i in range(40):
            features = dict(zip(FEATURES, rng.random(len(FEATURES)).tolist()))
            track = {"item_id": f"t{i}", "name": f"T{i}", "artists": ["A"], "features": features}
            await agent.put(json.dumps(track).encode(), key=f"t{i}".encode())
        await agent.put(json.dumps({"item_id": "plain", "features": None}).encode(), key=b"plain")
        await agent.put(b"[]", key=b"x")
        await settle(0.8)
    assert store.track_table["t3"]["name"] == "T3"
    assert "plain" in store.track_table
    assert recommender.clusterer.is_fitted
    labels = {store.track_clusters[f"t{i}"] for i in range(40)}
    assert labels <= set(range(recommender.clusterer.n_clusters))
    assert "plain" not in store.track_clusters
    assert reasons(sent["dead_letters"]) == ["value is a JSON array, expected an object"]
