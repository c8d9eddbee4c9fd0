"""The listens work on records handed over as its reader hands them, the catalogue agent on events put into its stream."""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter

from aiokafka.structs import ConsumerRecord

from agents.catalog import process_tracks
from agents.listens import apply_listens
from streamproc.hit_rate import HitRate
from streamproc.owned_users import Sent
from streamproc.recommend.recommender import Recommender
from streamproc.runtime import runtime
from streamproc.stats import stats
from tables import store
from tables.user_state import FIRST_SNAPSHOT_EVENTS, PartitionState
from tests.functional.conftest import settle
from tests.trained import install_trained


def listen(user: str, item: str, event: str = "play", count: int = 1) -> bytes:
    return json.dumps({"user_id": user, "item_id": item, "event": event, "count": count, "ts": 1.0}).encode()


class Listens:
    """``listens`` records with offsets in order in each partition, handed to :func:`apply_listens` as one
    batch, as the reader hands over what one fetch brought."""

    def __init__(self) -> None:
        self.offsets: Counter[int] = Counter()
        self.batch: list[ConsumerRecord] = []

    def put(self, value: bytes, key: bytes, partition: int = 0) -> ConsumerRecord:
        offset = self.offsets[partition]
        self.offsets[partition] += 1
        self.batch.append(ConsumerRecord("listens", partition, offset, int(time.time() * 1000), 0, key, value,
                                         None, len(key), len(value), ()))
        return self.batch[-1]

    async def apply(self) -> None:
        batch, self.batch = self.batch, []
        await apply_listens(batch)


def twelve_tracks_trained() -> None:
    """Give the runtime's recommender tracks t0..t11, each by its own artist, and a model that knows them."""
    rec = runtime.recommender
    for i in range(12):
        rec.catalog.upsert({"item_id": f"t{i}", "name": f"Track {i}", "artists": [f"A{i}"], "features": None})
    install_trained(rec, {"other": {f"t{i}": 1.0 for i in range(12)}})


def reasons(mock) -> list[str]:
    return [call.kwargs["headers"]["x-reason"].decode() for call in mock.await_args_list]


async def test_listens_build_history_and_a_list_of_unplayed_items(sent):
    rec = runtime.recommender
    for i in range(12):
        rec.catalog.upsert({"item_id": f"t{i}", "name": f"Track {i}", "artists": ["A"], "features": None})
    install_trained(rec, {"other": {f"t{i}": 1.0 for i in range(12)}})
    agent = Listens()
    agent.put(listen("u1", "t0", count=3), key=b"u1")
    agent.put(listen("u1", "t1", "like"), key=b"u1")
    agent.put(listen("u1", "t0", "skip"), key=b"u1")
    await agent.apply()
    assert runtime.owned.history("u1") == {"t0": 2.0, "t1": 5.0}
    assert runtime.owned.find("u1").events("u1") == 3
    call = sent["recommendations"].call_args
    value = json.loads(call.kwargs["value"])
    items = [item["item_id"] for item in value["items"]]
    assert len(items) == len(set(items)) == 10
    assert not {"t0", "t1"} & set(items)
    assert call.kwargs["key"] == b"u1" and value["model"]["version"] == 1
    assert runtime.owned.latest["u1"][:2] == (call.kwargs["value"], 1)
    assert runtime.owned.latest["u1"].items == set(items)


async def test_malformed_listens_go_to_dead_letters_with_their_reason(sent):
    bad = {
        "not json": (b"{nope", b"u1"),
        "missing user_id": (json.dumps({"item_id": "a"}).encode(), b"u1"),
        "negative count": (listen("u1", "a", count=-2), b"u1"),
        "unknown event": (listen("u1", "a", event="hum"), b"u1"),
        "1 MB value": (b'{"user_id": "u1", "pad": "' + b"x" * 1_000_000 + b'"}', b"u1"),
        "wrong key": (listen("u1", "a"), b"u2"),
    }
    agent = Listens()
    for value, key in bad.values():
        agent.put(value, key=key)
    agent.put(listen("u3", "a"), key=b"u3")
    await agent.apply()
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
    assert runtime.owned.find("u3").events("u3") == 1 and runtime.owned.history("u1") is None


async def test_a_partition_snapshots_when_its_events_pay_for_it_and_restores_from_it(sent):
    agent = Listens()
    for n in range(FIRST_SNAPSHOT_EVENTS):
        agent.put(listen(f"u{n % 7}", f"t{n % 5}"), key=f"u{n % 7}".encode())
    await agent.apply()
    (partition, log), = runtime.state_log.records.items()
    assert [r.headers["kind"] for r in log] == ["snapshot", "commit"]
    restored = PartitionState.from_records(log, partition, runtime.settings.event_weights())
    assert restored.users == runtime.owned.partitions[partition].users
    assert sum(user[0] for user in restored.users.values()) == FIRST_SNAPSHOT_EVENTS


async def test_tracks_that_do_not_decode_are_dead_lettered(sent):
    async with process_tracks.test_context() as agent:
        await agent.put(json.dumps({"item_id": "plain", "features": None}).encode(), key=b"plain")
        await agent.put(b"[]", key=b"x")
        await settle(0.8)
    assert reasons(sent["dead_letters"]) == ["value is a JSON array, expected an object"]


async def test_a_play_of_an_item_on_the_users_latest_list_counts_as_a_live_hit(sent, monkeypatch):
    monkeypatch.setattr(stats, "hit_rate", HitRate())
    twelve_tracks_trained()
    agent = Listens()
    agent.put(listen("u1", "t0"), key=b"u1")
    await agent.apply()
    listed = [item["item_id"] for item in json.loads(sent["recommendations"].call_args.kwargs["value"])["items"]]
    unlisted = next(f"t{i}" for i in range(1, 12) if f"t{i}" not in listed)
    agent.put(listen("u1", listed[0]), key=b"u1")
    agent.put(listen("u1", listed[1], "skip"), key=b"u1")
    agent.put(listen("u1", unlisted), key=b"u1")
    await agent.apply()
    view = stats.hit_rate.view()
    # t0 came before any list (a miss), listed[0] was on it (a hit), the skip is not scored, unlisted was not on it.
    assert (view["hits"], view["listens"], view["since_start"]) == (1, 3, 0.3333)


async def test_plays_and_skips_of_exploration_picks_tell_the_bandit(sent, monkeypatch):
    judged = []
    monkeypatch.setattr(runtime.recommender, "judge_exploration", lambda item, played: judged.append((item, played)))
    runtime.owned.latest["u1"] = Sent(b"{}", 0, frozenset({"x1", "x2", "t5"}), frozenset({"x1", "x2"}))
    agent = Listens()
    agent.put(listen("u1", "x1"), key=b"u1")
    agent.put(listen("u1", "x2", "skip"), key=b"u1")
    agent.put(listen("u1", "t5"), key=b"u1")
    await agent.apply()
    assert judged == [("x1", True), ("x2", False)]


async def test_a_skipped_listed_item_comes_back_lower_in_the_users_next_list(sent, monkeypatch):
    settings = dataclasses.replace(runtime.settings, skip_penalty=0.5, exploration=0.0)
    monkeypatch.setattr(runtime, "recommender", Recommender(settings, controls=store.user_controls))
    rec = runtime.recommender
    for i in range(12):
        rec.catalog.upsert({"item_id": f"t{i}", "name": f"Track {i}", "artists": [f"A{i}"], "features": None})
    # t0 has 12 listeners, t1 11, ... t11 one: popular lists whose scores are known.
    install_trained(rec, {f"o{j}": {f"t{i}": 1.0 for i in range(12 - j)} for j in range(12)})

    def latest() -> list[tuple[str, float]]:
        value = json.loads(sent["recommendations"].call_args.kwargs["value"])
        return [(item["item_id"], item["score"]) for item in value["items"]]

    agent = Listens()
    agent.put(listen("u1", "t11"), key=b"u1")
    await agent.apply()
    assert latest() == [(f"t{i}", 12.0 - i) for i in range(10)]
    agent.put(listen("u1", "t0", "skip"), key=b"u1")
    await agent.apply()
    # The candidates are t0..t10, the weakest t10 with 2 listeners: t0's 12 becomes 2 + 10 / 2, after t5's 7.
    assert latest() == [(f"t{i}", 12.0 - i) for i in range(1, 6)] + [("t0", 7.0)] + \
        [(f"t{i}", 12.0 - i) for i in range(6, 10)]
    agent.put(listen("u1", "t0", "skip"), key=b"u1")
    agent.put(listen("u1", "t1", "play"), key=b"u1")
    agent.put(listen("u1", "t1", "skip"), key=b"u1")
    await agent.apply()
    state = runtime.owned.find("u1")
    assert state.skips("u1") == {"t0": 2} and state.history("u1") == {"t11": 1.0, "t0": -2.0, "t1": 0.0}
    # Two skips: 2 + 10 / 4 = 4.5, after t7's 5; t1, played, is gone.
    assert latest() == [(f"t{i}", 12.0 - i) for i in range(2, 8)] + [("t0", 4.5)] + \
        [(f"t{i}", 12.0 - i) for i in range(8, 11)]


async def test_events_of_a_partition_owned_elsewhere_since_a_rebalance_are_left_to_its_owner(sent):
    runtime.owned.keep_only({0})
    agent = Listens()
    agent.put(listen("u1", "t0"), key=b"u1", partition=0)
    agent.put(listen("u2", "t0"), key=b"u2", partition=1)
    await agent.apply()
    assert set(runtime.owned.partitions) == {0}
    assert runtime.owned.history("u1") == {"t0": 1.0} and runtime.owned.history("u2") is None
    assert [call.kwargs["key"] for call in sent["recommendations"].call_args_list] == [b"u1"]


async def test_listens_read_again_after_the_reader_was_positioned_anew_count_once(sent):
    before = stats.events_total
    agent = Listens()
    first = [agent.put(listen("u1", "t0"), key=b"u1"), agent.put(b"{nope", key=b"u1"),
             agent.put(listen("u1", "t1"), key=b"u1")]
    await agent.apply()
    agent.batch = first[1:] + [agent.put(listen("u1", "t2"), key=b"u1")]
    await agent.apply()
    state = runtime.owned.find("u1")
    assert state.events("u1") == 3 and state.through == 3
    assert len(sent["dead_letters"].await_args_list) == 1
    # Counted as taken: the three first records once, and the new one.
    assert stats.events_total - before == 4


async def test_a_control_is_applied_and_its_users_list_ranked_again(sent):
    from agents.controls import process_controls

    twelve_tracks_trained()
    agent = Listens()
    agent.put(listen("u1", "t0"), key=b"u1")
    await agent.apply()
    async with process_controls.test_context() as controls:
        await controls.put(json.dumps({"user_id": "u1", "action": "opt_out"}).encode(), key=b"u1")
        await controls.put(json.dumps({"user_id": "u1", "action": "dance"}).encode(), key=b"u1")
        await settle()
    assert store.user_controls["u1"]["opted_out"] is True
    value = json.loads(sent["recommendations"].call_args.kwargs["value"])
    assert value["model"]["kind"] == "popular" and sent["recommendations"].call_count == 2
    assert len(reasons(sent["dead_letters"])) == 1
