"""The listens reader on a real broker: what it takes of a backlog, and how much of it is left unread."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer

from streamproc.kafka.admin import ensure_topics
from streamproc.kafka.listens_reader import ListensReader

pytestmark = pytest.mark.integration
TOPIC = "listens"


def test_a_take_from_a_backlog_leaves_the_rest_counted_as_unread(broker):
    async def scenario() -> tuple[list[tuple[int, int]], int, int]:
        await ensure_topics(broker.bootstrap, [TOPIC], 2)
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
        await producer.start()
        try:
            for i in range(50):
                await producer.send(TOPIC, f"e{i}".encode(), key=b"u", partition=0)
            await producer.send(TOPIC, b"other", key=b"v", partition=1)
            await producer.flush()
        finally:
            await producer.stop()
        reader = ListensReader(broker.bootstrap, TOPIC, fetch_wait_ms=20, batch_size=10)
        reader.read_from({0: 5, 1: 0})
        await reader.start()
        try:
            taken = []
            for _ in range(50):
                taken = [r for r in await reader.take() if r.partition == 0]
                if taken:
                    break
            unread = reader.unread(taken)
            rest = []
            while len(rest) < 45 - len(taken):
                rest += [r for r in await asyncio.wait_for(reader.take(), 10) if r.partition == 0]
            return [(r.partition, r.offset) for r in taken], unread, reader.unread(rest)
        finally:
            await reader.stop()

    taken, unread, at_the_end = asyncio.run(scenario())
    assert taken and len(taken) <= 10 and taken[0] == (0, 5)
    assert unread == 50 - taken[-1][1] - 1 > 0
    assert at_the_end == 0
