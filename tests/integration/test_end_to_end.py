"""The whole system: embedded broker, worker process, replay CLI, and librdkafka reading the output.

The time this takes is a benchmark (bench/lastfm_replay.py, which this test shares its code
with), not an assertion here.
"""

from __future__ import annotations

import pytest

from bench.lastfm_replay import COVERAGE, played_items, replay_and_measure

pytestmark = pytest.mark.integration


def test_lastfm_replay_gives_users_ten_unplayed_items(broker, start_worker, lastfm_dir):
    worker = start_worker()
    result, latest = replay_and_measure(broker.bootstrap, worker, lastfm_dir)
    print(result)
    assert result.good_users >= COVERAGE * result.users
    assert result.events == 92834
    status, stats = worker.get_json("/api/stats/")
    assert status == 200 and stats["users"] == result.users == 1892
    played = played_items(lastfm_dir)
    user = next(iter(latest))
    status, body = worker.get_json(f"/api/users/{user}/")
    shown = {item["item_id"] for item in body["recommendations"]["items"]}
    assert status == 200 and len(shown) == 10 and not shown & played[user]
    assert worker.get_json("/api/users/no-such-user/")[0] == 404
