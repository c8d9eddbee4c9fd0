"""The live hit rate on a running worker: a play of a track on the listener's latest list is a hit,
a play of one that is not is a miss, and a skip is not scored."""

from __future__ import annotations

import json

import pytest

from streamproc.kafka.cluster import Producer, send_listens, simulated, stream_stats, wait_until

pytestmark = pytest.mark.integration


def listen(user_id: str, item_id: str, event: str = "play") -> bytes:
    return json.dumps({"user_id": user_id, "item_id": item_id, "event": event, "count": 1, "ts": 1.0}).encode()


def test_the_worker_counts_plays_of_listed_tracks_as_hits(broker, start_worker):
    # One model only, so that no retraining changes the lists while the test reads them.
    worker = start_worker(retrain_seconds="3600")
    producer = Producer(broker.bootstrap)
    warm = simulated(n_users=30, n_events=600, seed=3)
    send_listens(producer, warm)
    producer.flush()
    wait_until(lambda: stream_stats(worker).get("events_total") == len(warm), 60, "the worker took every event")
    user = warm[0].user_id

    def list_of_the_model() -> bool:
        status, view = worker.get_json(f"/api/users/{user}/")
        return status == 200 and view["recommendations"]["model"]["version"] >= 1

    wait_until(list_of_the_model, 60, "the user's list ranked with the first model")
    status, view = worker.get_json(f"/api/users/{user}/")
    listed = [item["item_id"] for item in view["recommendations"]["items"]]
    before = stream_stats(worker)["hit_rate"]
    assert before["listens"] == sum(1 for event in warm if event.event != "skip")
    for item, event in [(listed[0], "play"), (listed[1], "skip"), ("not-in-any-list", "play"), (listed[2], "like")]:
        producer.send("listens", user.encode(), listen(user, item, event))
    producer.flush()
    wait_until(lambda: stream_stats(worker)["events_total"] == len(warm) + 4, 30, "the worker took the new events")
    after = stream_stats(worker)["hit_rate"]
    assert (after["hits"] - before["hits"], after["listens"] - before["listens"]) == (2, 3)
    assert after["last_minute"] is not None and after["series"]
