"""``streamproc replay`` against a real (embedded Tansu) broker, read back with librdkafka."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from streamproc import cli
from streamproc.kafka.broker import EmbeddedBroker, free_port
from tables.listen import Listen
from tables.topics import LISTENS, TRACKS
from tables.track import Track

pytestmark = pytest.mark.integration
READ_TIMEOUT_S = 30.0


def read_topics(bootstrap: str, expected: dict[str, int]) -> dict[str, list[Message]]:
    """Return every message of the ``expected`` topics once each holds that many."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "replay-test",
                         "enable.auto.commit": False})
    try:
        metadata = consumer.list_topics(timeout=10)
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)
                         for topic in expected for partition in metadata.topics[topic].partitions])
        received: dict[str, list[Message]] = defaultdict(list)
        deadline = time.monotonic() + READ_TIMEOUT_S
        while time.monotonic() < deadline and any(len(received[t]) < n for t, n in expected.items()):
            for message in consumer.consume(1000, timeout=0.5):
                assert message.error() is None, message.error()
                received[message.topic()].append(message)
        return received
    finally:
        consumer.close()


def test_replayed_tracks_and_listens_arrive_keyed_and_valid(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("streamproc.commands.replay",))
    (tmp_path / "user_artists.dat").write_bytes(
        b"userID\tartistID\tweight\r\n2\t51\t13883\r\n7\t52\t40\r\n7\t51\t1\r\n"
    )
    (tmp_path / "artists.dat").write_bytes(b"id\tname\turl\tpictureURL\n51\tMALICE MIZER\tu\tp\n52\tBj\xc3\xb6rk\tu\tp\n")

    with EmbeddedBroker(port=free_port()) as broker:
        assert cli.main(["replay", "lastfm", str(tmp_path), "--broker", broker.bootstrap]) == 0
        assert cli.main(["replay", "simulate", "--users", "5", "--events", "300", "--tracks", "40",
                         "--seed", "3", "--rate", "2000", "--broker", broker.bootstrap]) == 0
        received = read_topics(broker.bootstrap, {TRACKS: 2 + 40, LISTENS: 3 + 300})

    assert capsys.readouterr().out.splitlines() == [
        f"sent 2 artists to 'tracks' and 3 plays to 'listens' at {broker.bootstrap}",
        f"sent 40 tracks to 'tracks' and 300 events of 5 simulated listeners (seed 3) to 'listens' at {broker.bootstrap}",
    ]
    tracks = [(m.key().decode(), Track.from_bytes(m.value())) for m in received[TRACKS]]
    listens = [(m.key().decode(), Listen.from_bytes(m.value())) for m in received[LISTENS]]
    assert (len(tracks), len(listens)) == (42, 303)
    assert all(key == track.item_id for key, track in tracks)
    assert all(key == listen.user_id for key, listen in listens)
    assert {key: track.name for key, track in tracks if not key.startswith("sim-")} == {
        "51": "MALICE MIZER", "52": "Björk"
    }
    lastfm_plays = sorted((l.user_id, l.item_id, l.count) for _, l in listens if not l.user_id.startswith("sim-"))
    assert lastfm_plays == [("2", "51", 13883), ("7", "51", 1), ("7", "52", 40)]
    simulated = {track.item_id for key, track in tracks if key.startswith("sim-")}
    assert {l.item_id for _, l in listens if l.user_id.startswith("sim-")} <= simulated
    # Keyed by user, each user's events share a partition and so arrive in the order they happened.
    by_user: dict[str, list[float]] = defaultdict(list)
    for _, listen in listens:
        by_user[listen.user_id].append(listen.ts)
    assert all(stamps == sorted(stamps) for stamps in by_user.values())
