"""The whole system: embedded broker, worker process, replay CLI, and librdkafka reading the output."""

from __future__ import annotations

import json
import time
from collections import defaultdict

import pytest

from streamproc.processes import TopicReader
from tables import topics
from tables.lastfm import read_listens
from tests.integration.conftest import streamproc

pytestmark = pytest.mark.integration
LASTFM_BUDGET_S = 180


def good_users(latest: dict[str, dict], played: dict[str, set[str]]) -> list[str]:
    """Return the users whose latest list has 10 distinct items, none of them played."""
    good = []
    for user, value in latest.items():
        items = {item["item_id"] for item in value["items"]}
        if len(items) == len(value["items"]) == 10 and not items & played[user]:
            good.append(user)
    return good


def test_lastfm_replay_gives_every_user_ten_unplayed_items(broker, start_worker, lastfm_dir):
    played: dict[str, set[str]] = defaultdict(set)
    for listen in read_listens(lastfm_dir / "user_artists.dat"):
        played[listen.user_id].add(listen.item_id)
    worker = start_worker()
    started = time.monotonic()
    replay = streamproc("replay", "lastfm", str(lastfm_dir), "--broker", broker.bootstrap)
    assert replay.returncode == 0, replay.stderr

    latest: dict[str, dict] = {}
    consumed = 0

    def covered(messages: list) -> bool:
        nonlocal consumed
        for message in messages[consumed:]:
            latest[message.key().decode()] = json.loads(message.value())
        consumed = len(messages)
        return len(good_users(latest, played)) >= 0.95 * len(played)

    reader = TopicReader(broker.bootstrap, topics.RECOMMENDATIONS)
    try:
        reader.poll_until(covered, timeout_s=LASTFM_BUDGET_S - (time.monotonic() - started))
    finally:
        reader.close()
    elapsed = time.monotonic() - started
    good = good_users(latest, played)
    print(f"lastfm replay: {len(good)} of {len(played)} users with 10 unplayed items in {elapsed:.1f} s")
    assert len(good) >= 0.95 * len(played)
    assert elapsed < LASTFM_BUDGET_S
    deadline = time.monotonic() + 60
    while worker.get_json("/api/stats/")[1]["events"] < 92834 and time.monotonic() < deadline:
        time.sleep(0.5)
    status, stats = worker.get_json("/api/stats/")
    assert status == 200 and stats["users"] == len(played) and stats["events"] == 92834
    status, body = worker.get_json(f"/api/users/{good[0]}/")
    assert status == 200 and len(body["recommendations"]["items"]) == 10
    assert worker.get_json("/api/users/no-such-user/")[0] == 404
