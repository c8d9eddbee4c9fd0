"""``streamproc broker``: says it is memory-only, answers Kafka requests, stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from streamproc.kafka.broker import free_port, kafka_ready

pytestmark = pytest.mark.integration


def test_broker_runs_in_the_foreground_and_stops_on_sigterm():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamproc.cli", "broker", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = process.stdout.readline()
        assert f"ready at 127.0.0.1:{port}" in line and "MEMORY-ONLY" in line
        assert kafka_ready(f"127.0.0.1:{port}")
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
        assert not kafka_ready(f"127.0.0.1:{port}")
    finally:
        process.kill()
        process.stdout.close()
        process.stderr.close()


def children(pid: int) -> list[int]:
    """Return the ids of the processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_ctrl_c_stops_the_command_and_the_broker_it_started_in_a_process_group_of_its_own():
    port = free_port()
    # A session of its own, as a terminal gives a command: Ctrl-C signals the whole foreground group.
    process = subprocess.Popen(
        [sys.executable, "-m", "streamproc.cli", "broker", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        # As a terminal starts it: Ctrl-C at its default, whatever this test process inherited.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert f"ready at 127.0.0.1:{port}" in process.stdout.readline()
        brokers = children(process.pid)
        assert len(brokers) == 1 and os.getpgid(brokers[0]) != os.getpgid(process.pid)
        os.killpg(process.pid, signal.SIGINT)
        process.wait(15)
        assert not kafka_ready(f"127.0.0.1:{port}")
    finally:
        process.kill()
        process.stdout.close()
        process.stderr.close()


def test_a_new_broker_holds_the_shared_topics_with_the_configured_partitions_even_started_in_an_event_loop():
    """Regression: bench stream starts the broker inside its event loop, where creating the topics
    with ``asyncio.run`` failed."""
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    from streamproc.kafka.broker import EmbeddedBroker
    from streamproc.settings import settings
    from tables.topics import DEAD_LETTERS, INPUT_TOPICS, PLAYLISTS, RECOMMENDATIONS

    async def partitions_of_new_broker() -> dict[str, int]:
        with EmbeddedBroker(port=free_port()) as broker:
            admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
            await admin.start()
            try:
                described = await admin.describe_topics([*INPUT_TOPICS, DEAD_LETTERS, PLAYLISTS, RECOMMENDATIONS])
            finally:
                await admin.close()
        return {topic["topic"]: len(topic["partitions"]) for topic in described}

    assert asyncio.run(partitions_of_new_broker()) == dict.fromkeys(
        [*INPUT_TOPICS, DEAD_LETTERS, PLAYLISTS, RECOMMENDATIONS], settings.topic_partitions)


def test_a_broker_whose_topics_cannot_be_made_is_stopped_not_left_running(monkeypatch):
    import streamproc.kafka.broker as embedded

    async def refuse(bootstrap: str, partitions: int) -> None:
        raise RuntimeError("topics refused")

    monkeypatch.setattr(embedded, "ensure_shared_topics", refuse)
    broker = embedded.EmbeddedBroker(port=free_port())
    with pytest.raises(RuntimeError, match="topics refused"):
        broker.start()
    assert broker.process.poll() is not None and not kafka_ready(broker.bootstrap)
