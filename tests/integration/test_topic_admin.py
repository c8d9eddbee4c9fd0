"""``ensure_topics`` on a real broker: a topic the broker auto-created with its own partition count is
made again with streamproc's while it is empty, even when a client auto-creates it once more between
the deletion and the creation; a topic holding records is never touched."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from streamproc.errors import CommandError
from streamproc.kafka.admin import ensure_topics

pytestmark = pytest.mark.integration


async def auto_create(bootstrap: str, topic: str, value: bytes | None = None) -> int:
    """Make the broker auto-create ``topic`` by asking for its metadata (and write ``value`` to it if
    given); return its partition count."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        if value is not None:
            await producer.send_and_wait(topic, value, partition=0)
        return len(await producer.partitions_for(topic))
    finally:
        await producer.stop()


async def partition_count(bootstrap: str, topic: str) -> int:
    """Return how many partitions ``topic`` has on the broker."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return len((await admin.describe_topics([topic]))[0]["partitions"])
    finally:
        await admin.close()


def test_an_empty_auto_created_topic_is_made_again_and_one_with_records_is_kept(broker):
    async def scenario() -> tuple[int, int, int, int]:
        empty = await auto_create(broker.bootstrap, "empty-one")
        full = await auto_create(broker.bootstrap, "full-one", b"an event")
        await ensure_topics(broker.bootstrap, ["empty-one", "full-one", "new-one"], 8)
        return empty, full, *[await partition_count(broker.bootstrap, t) for t in ("empty-one", "full-one")]

    auto, auto_full, remade, kept = asyncio.run(scenario())
    assert auto == auto_full == 4, "the broker's own count is expected to differ from 8"
    assert remade == 8 and kept == 4
    assert asyncio.run(partition_count(broker.bootstrap, "new-one")) == 8


def test_a_topic_auto_created_again_between_deletion_and_creation_is_made_again(broker, monkeypatch):
    delete = AIOKafkaAdminClient.delete_topics
    raced: list[int] = []

    async def delete_then_race(self, topics, *args, **kwargs):
        response = await delete(self, topics, *args, **kwargs)
        if not raced:
            # A running worker's consumer asks for the topic's metadata right after it is deleted.
            raced.append(await auto_create(broker.bootstrap, topics[0]))
        return response

    monkeypatch.setattr(AIOKafkaAdminClient, "delete_topics", delete_then_race)

    async def scenario() -> int:
        await auto_create(broker.bootstrap, "raced")
        await ensure_topics(broker.bootstrap, ["raced"], 8)
        return await partition_count(broker.bootstrap, "raced")

    assert asyncio.run(scenario()) == 8
    assert raced == [4]


def test_clients_that_never_stop_auto_creating_the_topic_make_a_readable_error(broker, monkeypatch):
    delete = AIOKafkaAdminClient.delete_topics

    async def delete_then_race(self, topics, *args, **kwargs):
        response = await delete(self, topics, *args, **kwargs)
        await auto_create(broker.bootstrap, topics[0])
        return response

    monkeypatch.setattr(AIOKafkaAdminClient, "delete_topics", delete_then_race)

    async def scenario() -> None:
        await auto_create(broker.bootstrap, "contested")
        await ensure_topics(broker.bootstrap, ["contested"], 8)

    with pytest.raises(CommandError, match="contested could not be made with 8 partitions"):
        asyncio.run(scenario())
