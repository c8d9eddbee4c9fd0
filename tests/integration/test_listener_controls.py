"""Issue 6 on the real system: controls, playlists and explanations through a broker and a worker.

One worker, one small seeded catalogue with audio features and a few dozen listeners; every
check reads what the worker wrote (``recommendations``, ``playlists``, ``dead-letters``, the
table changelogs) with librdkafka or asks the commands a listener would use.
"""

from __future__ import annotations

import json
import random
import time
import urllib.request
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from streamproc.kafka.producer import Message, send_messages
from tables.control import Control
from tables.listen import Listen
from tables.topics import CONTROLS, DEAD_LETTERS, LISTENS, RECOMMENDATIONS, TRACKS
from tables.track import FEATURES, Track
from tests.integration.conftest import streamproc

pytestmark = pytest.mark.integration
USERS, TRACKS_N, PLAYS = 30, 300, 20
BANNED = "Banned Artist"
THRESHOLD = 20
USER_TABLES = ("user_controls", "user_playlists")
WORKER_SETTINGS = {
    "min_train_users": "10", "retrain_seconds": "1", "als_factors": "16", "als_iterations": "5",
    "clusters": "6", "cluster_batch": "64", "emerging_popularity": str(THRESHOLD),
}


def catalogue(rng: random.Random) -> list[Track]:
    """Tracks in six sounds; every tenth by the artist that will be excluded."""
    tracks = []
    for i in range(TRACKS_N):
        sound = i % 6
        features = {name: sound + rng.random() * 0.5 for name in FEATURES}
        artist = BANNED if i % 10 == 0 else f"Artist {i % 37}"
        tracks.append(Track(f"t{i}", f"Song {i}", [artist], popularity=float(rng.randrange(60)), features=features))
    return tracks


def listens(rng: random.Random) -> dict[str, list[str]]:
    """Each user plays PLAYS tracks, mostly of two sounds, including some by the banned artist."""
    played = {}
    for u in range(USERS):
        sounds = (u % 6, (u + 1) % 6)
        pool = [i for i in range(TRACKS_N) if i % 6 in sounds]
        played[f"user-{u}"] = [f"t{i}" for i in rng.sample(pool, PLAYS)]
    return played


class Reader:
    """Every message of some topics, read with librdkafka from the beginning."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "issue6-reader",
                                  "enable.auto.commit": False})
        parts = []
        for topic in topics:
            metadata = self.consumer.list_topics(topic, timeout=10).topics[topic]
            parts += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.partitions]
        self.consumer.assign(parts)
        self.messages: list[Any] = []

    def until(self, done, timeout: float = 60.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while not done(self.messages):
            assert time.monotonic() < deadline, "timed out waiting for the worker"
            self.messages += [m for m in self.consumer.consume(1000, timeout=0.3) if not m.error()]
        return self.messages

    def settle(self, quiet_s: float = 2.0, timeout: float = 60.0) -> None:
        """Read until no message has come for ``quiet_s`` (the worker has caught up)."""
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        while time.monotonic() - last < quiet_s:
            assert time.monotonic() < deadline, "the worker never went quiet"
            batch = [m for m in self.consumer.consume(1000, timeout=0.3) if not m.error()]
            if batch:
                self.messages += batch
                last = time.monotonic()

    def values(self, topic: str, key: str) -> list[dict | None]:
        return [None if m.value() is None else json.loads(m.value()) for m in self.messages
                if m.topic() == topic and m.key() is not None and m.key().decode() == key]

    def close(self) -> None:
        self.consumer.close()


def test_controls_playlists_and_explanations_on_a_running_worker(broker, start_worker):
    rng = random.Random(6)
    tracks = catalogue(rng)
    artist_of = {t.item_id: t.artists[0] for t in tracks}
    popularity = {t.item_id: t.popularity for t in tracks}
    played = listens(rng)
    worker = start_worker(**WORKER_SETTINGS)
    send_messages(broker.bootstrap, (Message(TRACKS, t.item_id, t.to_bytes()) for t in tracks), progress=False)
    time.sleep(1.0)  # the clusters first, so the first lists can use audio features
    send_messages(broker.bootstrap, (Message(LISTENS, user, Listen(user, item, "play", 1 + k % 3).to_bytes())
                                     for user, items in played.items() for k, item in enumerate(items)),
                  progress=False)
    reader = Reader(broker.bootstrap, [RECOMMENDATIONS])

    def latest_all() -> dict[str, dict]:
        latest = {}
        for m in reader.messages:
            latest[m.key().decode()] = json.loads(m.value())
        return latest

    # Every user gets a list, and then a hybrid (ALS + item model) list once the model is trained.
    reader.until(lambda ms: len(latest_all()) == USERS and any(
        v["model"]["kind"] == "hybrid" for v in latest_all().values()))
    # Explanations name items the user really played.
    named = 0
    for m in reader.messages:
        value = json.loads(m.value())
        for item in value["items"]:
            assert set(item["explanation"]["items"]) <= set(played[value["user_id"]]), item
            named += bool(item["explanation"]["items"])
    assert named > 0

    # Controls, each honoured in the user's next list (read once the worker has sent every list of
    # the listens). First those that leave the model alone: a bad message, excluded artists, a cap.
    reader.settle()
    users = ("user-1", "user-2", "user-3", "user-5")
    before = {u: len(reader.values(RECOMMENDATIONS, u)) for u in users}
    done = streamproc("control", "exclude-artist", BANNED, "--user", "user-1", "--broker", broker.bootstrap)
    assert done.returncode == 0, done.stderr
    send_messages(broker.bootstrap, [
        Message(CONTROLS, "user-1", b'{"user_id": "user-1", "action": "shout"}'),
        Message(CONTROLS, "user-5", Control("user-5", "diversity", max_per_artist=1).to_bytes()),
        Message(CONTROLS, "user-3", Control("user-3", "exclude_artist", artist="Artist 1").to_bytes()),
    ], progress=False)
    # user-3 gets a key in every user table (history, list, controls, playlists), to be forgotten.
    asked = streamproc("playlist", "emerging", "--user", "user-3", "--json", "--broker", broker.bootstrap)
    assert asked.returncode == 0, asked.stderr
    reader.until(lambda ms: all(len(reader.values(RECOMMENDATIONS, u)) > before[u] for u in ("user-1", "user-5")))
    excluded = reader.values(RECOMMENDATIONS, "user-1")[before["user-1"]]
    assert BANNED not in {artist_of[i["item_id"]] for i in excluded["items"]}
    diverse = [artist_of[i["item_id"]] for i in reader.values(RECOMMENDATIONS, "user-5")[before["user-5"]]["items"]]
    assert len(diverse) == len(set(diverse)) == 10

    # Then an opt-out and a forget-me, together (each makes the model train again, and the new
    # model re-ranks every user; sent together, both are applied before that).
    reader.settle()
    before = {u: len(reader.values(RECOMMENDATIONS, u)) for u in users}
    send_messages(broker.bootstrap, [Message(CONTROLS, "user-3", Control("user-3", "forget").to_bytes()),
                                     Message(CONTROLS, "user-2", Control("user-2", "opt_out").to_bytes())],
                  progress=False)
    reader.until(lambda ms: all(len(reader.values(RECOMMENDATIONS, u)) > before[u] for u in ("user-2", "user-3")))
    opted_out = reader.values(RECOMMENDATIONS, "user-2")[before["user-2"]:]
    assert all(v["model"]["kind"] == "popular" and {i["source"] for i in v["items"]} == {"popular"}
               for v in opted_out)
    # The forgotten user's list is deleted: a tombstone on recommendations, and nothing after it.
    assert reader.values(RECOMMENDATIONS, "user-3")[before["user-3"]:] == [None]

    # The forgotten user leaves the worker; the opted-out one stays there (they may opt back in) but
    # leaves, with the forgotten one, the users the model is trained on.
    deadline = time.monotonic() + 30
    while (stats := worker.get_json("/api/stats/")[1])["users"] != USERS - 1 or stats["model"]["users"] != USERS - 2:
        assert time.monotonic() < deadline, stats
        time.sleep(0.3)
    assert worker.get_json("/api/users/user-3/")[0] == 404

    # Forget-me left a tombstone as the last record of user-3 in every user table's changelog and
    # in recommendations, and a marker on the user-state log that keeps their history from coming back.
    controls_log = next(t for t in reader.consumer.list_topics(timeout=10).topics if t.endswith("-user_controls-changelog"))
    app_id = controls_log.removesuffix("-user_controls-changelog")
    changelogs = [f"{app_id}-{table}-changelog" for table in USER_TABLES] + [RECOMMENDATIONS]
    logs = Reader(broker.bootstrap, changelogs)
    try:
        logs.until(lambda ms: all(len(logs.values(t, "user-3")) >= 2 and logs.values(t, "user-3")[-1] is None
                                  for t in changelogs), timeout=20)
    finally:
        logs.close()
    state_log = Reader(broker.bootstrap, [f"{app_id}-user-state"])
    try:
        state_log.until(lambda ms: any(dict(m.headers() or ()).get("kind") == b"forget" and m.value() == b"user-3"
                                       for m in ms), timeout=20)
    finally:
        state_log.close()

    # More listens of user-1 still never bring the excluded artist back.
    send_messages(broker.bootstrap, [Message(LISTENS, "user-1", Listen("user-1", "t30").to_bytes())], progress=False)
    count = len(reader.values(RECOMMENDATIONS, "user-1"))
    reader.until(lambda ms: len(reader.values(RECOMMENDATIONS, "user-1")) > count)
    for value in reader.values(RECOMMENDATIONS, "user-1")[before["user-1"]:]:
        assert BANNED not in {artist_of[i["item_id"]] for i in value["items"]}

    # Discover Weekly on demand: 30 distinct unplayed items, none by the excluded artist; asked again
    # within the week, the same list.
    discover = streamproc("playlist", "discover", "--user", "user-1", "--json", "--broker", broker.bootstrap,
                          timeout=60)
    assert discover.returncode == 0, discover.stderr
    playlist = json.loads(discover.stdout)
    ids = [i["item_id"] for i in playlist["items"]]
    assert playlist["kind"] == "discover" and len(ids) == len(set(ids)) == 30
    assert not set(ids) & (set(played["user-1"]) | {"t30"})
    assert BANNED not in {artist_of[i] for i in ids}
    again = streamproc("playlist", "discover", "--user", "user-1", "--json", "--broker", broker.bootstrap,
                       timeout=60)
    assert [i["item_id"] for i in json.loads(again.stdout)["items"]] == ids
    status, shown = worker.get_json("/api/users/user-1/playlists/discover")
    assert status == 200 and [i["item_id"] for i in shown["items"]] == ids
    with urllib.request.urlopen(worker.url + "/users/user-1/playlists/", timeout=10) as response:
        page = response.read().decode()
    assert "<h1>Playlists of user-1</h1>" in page and "role='search'" in page
    assert page.count("<li>", page.index("id='discover'")) >= len(ids)

    # Emerging artists: only items under the popularity threshold.
    emerging = streamproc("playlist", "emerging", "--user", "user-4", "--json", "--broker", broker.bootstrap,
                          timeout=60)
    assert emerging.returncode == 0, emerging.stderr
    items = json.loads(emerging.stdout)["items"]
    assert items and all(popularity[i["item_id"]] < THRESHOLD for i in items)

    # Similar items, each saying which model found it.
    similar = streamproc("similar", "t7", "--web", worker.url, "--json", timeout=30)
    assert similar.returncode == 0, similar.stderr
    assert {i["source"] for i in json.loads(similar.stdout)["items"]} == {"als", "content"}
    assert worker.get_json("/api/items/no-such-item/similar")[0] == 404
    assert worker.get_json("/api/users/user-4/playlists/weekly")[0] == 404

    # The bad control went to dead-letters with its reason.
    letters = Reader(broker.bootstrap, [DEAD_LETTERS])
    try:
        found = letters.until(lambda ms: any(dict(m.headers())["x-source-topic"] == CONTROLS.encode()
                                             for m in ms), timeout=20)
        reason = next(dict(m.headers())["x-reason"] for m in found if dict(m.headers())["x-source-topic"] == b"controls")
        assert b"action" in reason
    finally:
        letters.close()
    reader.close()

    # And the worker's RocksDB holds no key of user-3 in any table.
    worker.stop()
    from rocksdict import AccessType, Rdict

    stores = sorted(worker.data_dir.glob("v*/tables/*.db"))
    assert {path.name.rsplit("-", 1)[0] for path in stores} >= set(USER_TABLES)
    for path in stores:
        db = Rdict(str(path), access_type=AccessType.read_only())
        try:
            assert b"user-3" not in set(db.keys()), path
        finally:
            db.close()
