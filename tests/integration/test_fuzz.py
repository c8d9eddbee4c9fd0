"""Thousands of random and malformed messages to every input topic, mixed with good ones.

Two workers must keep running; every bad message must be in ``dead-letters`` exactly once with
its reason and where it came from (headers ``x-reason``, ``x-source-topic``,
``x-source-offset``); every good one must be processed (each user's event count equals what was
sent). The five cases of the dead-letter acceptance — not JSON, a missing user_id, a negative
count, an unknown event and a 1 MB value — are checked by name.
"""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from streamproc.kafka.processes import TopicReader
from tables.topics import DEAD_LETTERS
from streamproc.kafka.cluster import Producer, Workers, simulated, wait_for_histories, wait_until

pytestmark = pytest.mark.integration
SEED = 20261123
BAD_LISTENS = 1500
BAD_TRACKS = 400
GOOD_LISTENS = 3000
ONE_MB = 1024 * 1024

# The acceptance cases: (name, key, value, words the reason must contain).
NAMED = [
    ("not JSON", b"u-named", b"this is {not JSON", "not JSON"),
    ("missing user_id", b"u-named", b'{"item_id": "t1", "event": "play"}', "missing 'user_id'"),
    ("negative count", b"u-named", b'{"user_id": "u-named", "item_id": "t1", "count": -3}', "'count' must be"),
    ("unknown event", b"u-named", b'{"user_id": "u-named", "item_id": "t1", "event": "hum"}', "'event' must be one of"),
    ("1 MB value", b"u-named",
     b'{"user_id": "u-named", "item_id": "t1", "pad": "' + b"x" * ONE_MB + b'"}', "more than the limit"),
]


def bad_listen(rng: random.Random) -> tuple[bytes | None, bytes | None]:
    """Return the key and value of a random unusable ``listens`` message."""
    user = f"fuzz-{rng.randrange(50)}"
    good = {"user_id": user, "item_id": f"t{rng.randrange(100)}", "event": "play", "count": 1, "ts": 1.0}
    kind = rng.randrange(12)
    if kind == 0:
        return user.encode(), bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    if kind == 1:
        return user.encode(), json.dumps(good).encode()[: rng.randrange(1, 40)]
    if kind == 2:
        return user.encode(), rng.choice([b"[]", b"null", b"42", b'"text"', b"true", b"", None])
    if kind == 3:
        del good[rng.choice(["user_id", "item_id"])]
    elif kind == 4:
        good["count"] = rng.choice([0, -1, -rng.randrange(1, 10**9), 10**12, 2.5, "3", None, True, [1]])
        if good["count"] is None:
            good["count"] = "null"
    elif kind == 5:
        good["event"] = rng.choice(["hum", "", "PLAY", 7, None, ["play"]])
    elif kind == 6:
        good[rng.choice(["user_id", "item_id"])] = rng.choice([["u"], {"a": 1}, None, "", "   ", 1.5])
    elif kind == 7:
        good["ts"] = rng.choice(["yesterday", [1], {"t": 1}])
    elif kind == 8:
        return rng.choice([None, b"someone-else", b""]), json.dumps(good).encode()
    elif kind == 9:
        good["pad"] = "y" * rng.randrange(70_000, ONE_MB)
    elif kind == 10:
        return user.encode(), b'{"user_id": "' + user.encode() + b'", "item_id": NaN}'
    else:
        return user.encode(), json.dumps(good).encode().replace(b"{", b"{{", 1)
    return user.encode(), json.dumps(good).encode()


def bad_track(rng: random.Random) -> tuple[bytes | None, bytes | None]:
    """Return the key and value of a random unusable ``tracks`` message."""
    item = f"ft-{rng.randrange(1000)}".encode()
    kind = rng.randrange(6)
    if kind == 0:
        return item, bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    if kind == 1:
        return item, b'{"name": "no id"}'
    if kind == 2:
        return item, json.dumps({"item_id": item.decode(), "name": ["not", "a", "string"]}).encode()
    if kind == 3:
        return item, json.dumps({"item_id": item.decode(), "features": {"energy": "loud"}}).encode()
    if kind == 4:
        return item, json.dumps({"item_id": item.decode(), "name": "z" * rng.randrange(70_000, ONE_MB)}).encode()
    return item, rng.choice([b"[1, 2]", b"null", b"", None, b"{"])


def test_fuzzed_inputs_are_dead_lettered_with_reasons_and_good_ones_all_count(broker, tmp_path):
    rng = random.Random(SEED)
    good = simulated(n_users=60, n_events=GOOD_LISTENS, seed=SEED % 1000)
    good_tracks = [(f"good-{i}".encode(), json.dumps({"item_id": f"good-{i}", "name": f"Song {i}",
                                                       "artists": ["A"], "extra": {"ignored": True}}).encode())
                   for i in range(200)]
    messages: list[tuple[str, bytes | None, bytes | None, bool]] = []
    messages += [("listens", k, v, False) for _, k, v, _ in NAMED]
    messages += [("listens", *bad_listen(rng), False) for _ in range(BAD_LISTENS)]
    messages += [("tracks", *bad_track(rng), False) for _ in range(BAD_TRACKS)]
    messages += [("listens", e.user_id.encode(), e.to_bytes(), True) for e in good]
    messages += [("tracks", k, v, True) for k, v in good_tracks]
    rng.shuffle(messages)

    producer = Producer(broker.bootstrap)
    with Workers(broker.bootstrap, tmp_path) as workers:
        w1 = workers.start("w1")
        w2 = workers.start("w2")
        expected: Counter[str] = Counter()
        for topic, key, value, ok in messages:
            producer.send(topic, key, value)
            if ok and topic == "listens":
                expected[key.decode()] += 1
        producer.flush()

        bad_at = {producer.positions[i]: m for i, m in enumerate(messages) if not m[3]}
        named_at = {producer.positions[i]: NAMED[j] for j in range(len(NAMED))
                    for i, m in enumerate(messages) if m[1:3] == NAMED[j][1:3]}
        assert len(bad_at) == len(NAMED) + BAD_LISTENS + BAD_TRACKS

        letters: dict[tuple[str, int, int], dict[str, str]] = {}
        reader = TopicReader(broker.bootstrap, DEAD_LETTERS)
        try:
            for message in reader.poll_until(lambda read: len(read) >= len(bad_at), timeout_s=90):
                headers = {name: value.decode() for name, value in message.headers() or []}
                where = (headers["x-source-topic"], int(headers["x-source-partition"]), int(headers["x-source-offset"]))
                assert where not in letters, f"dead-lettered twice: {where}"
                letters[where] = headers
        finally:
            reader.close()

        assert set(letters) == set(bad_at), "dead letters differ from the bad messages sent"
        assert all(h["x-reason"].strip() and "\n" not in h["x-reason"] for h in letters.values())
        for where, (name, _, _, words) in named_at.items():
            assert words in letters[where]["x-reason"], f"{name}: reason was {letters[where]['x-reason']!r}"
        assert {name for name, *_ in named_at.values()} == {name for name, *_ in NAMED}

        totals = wait_for_histories(workers, expected, timeout_s=60)
        assert {user: totals.get(user) for user in expected} == dict(expected)
        assert not any(user.startswith("fuzz-") or user == "u-named" for user in totals)
        wait_until(lambda: w1.get_json("/api/stats/")[1]["tracks"] == len(good_tracks), 30,
                   "every good track is in the catalogue")
        for worker in (w1, w2):
            assert worker.process.poll() is None, f"a worker stopped; see {worker.log_path}"
            assert worker.get_json("/api/stats/")[0] == 200
        dead = sum(w.get_json("/api/stats/")[1]["stream"]["dead_letters"] for w in (w1, w2))
        assert dead == len(bad_at)
