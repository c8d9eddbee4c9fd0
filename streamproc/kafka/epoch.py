"""Detect local table state that the broker no longer backs, and discard it.

The embedded broker keeps everything in memory: after it restarts, a worker's RocksDB
state records changelog offsets that no longer exist, and Faust stops with a
``ConsistencyError``. Each broker life gets an epoch (the first message ever written to a
one-partition topic); the worker remembers the epoch its data directory belongs to and,
when the broker's differs, clears the directory so the tables restore from the changelogs.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streamproc.kafka.admin import ensure_topics

MARKER = "broker-epoch"


async def broker_epoch(bootstrap: str, topic: str) -> str:
    """Return the epoch of the broker's current life, proposing a new one if it has none."""
    await ensure_topics(bootstrap, [topic], partitions=1)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, uuid.uuid4().hex.encode())
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        record = await asyncio.wait_for(consumer.getone(partition), 10)
        return record.value.decode()
    finally:
        await consumer.stop()


def reconcile(data_dir: Path, epoch: str) -> bool:
    """Make ``data_dir`` belong to ``epoch``; return True when stale state was discarded."""
    marker = data_dir / MARKER
    known = marker.read_text().strip() if marker.exists() else None
    stale = known != epoch and data_dir.exists() and any(p.name != MARKER for p in data_dir.iterdir())
    if stale:
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(epoch + "\n")
    return stale
