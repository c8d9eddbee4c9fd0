"""Detect local table state that the broker no longer backs, and discard it.

The embedded broker keeps everything in memory: after it restarts, a worker's RocksDB
state records changelog offsets that no longer exist, and Faust stops with a
``ConsistencyError``. Each broker life gets an epoch (the first message ever written to a
one-partition topic); the worker remembers the epoch its data directory belongs to and,
when the broker's differs, clears the directory so the tables restore from the changelogs.
A worker checks at start (:mod:`streamproc.commands.worker`) and while it runs
(:mod:`agents.broker_epoch`).

The topic is compacted and each proposal has a key of its own, so no retention or compaction
ever removes the first record: on a broker that keeps its data the epoch stays the same.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer

from streamproc.kafka.admin import ensure_topics
from streamproc.kafka.clients import start_client
from streamproc.kafka.logs import last_record, read_range, reader

MARKER = "broker-epoch"


def epoch_topic(app_id: str) -> str:
    """Return the name of the topic that holds the broker's epoch for app ``app_id``."""
    return f"{app_id}-broker-epoch"


async def broker_epoch(bootstrap: str, topic: str) -> str:
    """Return the epoch of the broker's current life, proposing a new one if it has none."""
    await ensure_topics(bootstrap, [topic], partitions=1, compacted=True)
    epoch = await current_epoch(bootstrap, topic)
    if epoch is not None:
        return epoch
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await start_client(producer, bootstrap)
    try:
        proposal = uuid.uuid4().hex.encode()
        await producer.send_and_wait(topic, proposal, key=proposal, partition=0)
    finally:
        await producer.stop()
    # Another worker may have proposed first: the first record is the epoch, whoever wrote it.
    epoch = await current_epoch(bootstrap, topic)
    if epoch is None:
        raise RuntimeError(f"{topic} is empty right after a write to it")
    return epoch


async def current_epoch(bootstrap: str, topic: str) -> str | None:
    """Return the first record of ``topic``'s partition 0, the broker's epoch (None: no epoch yet)."""
    async with reader(bootstrap) as consumer:
        _, end = await last_record(consumer, topic, 0)
        first = await read_range(consumer, topic, 0, 0, 1) if end > 0 else []
    return first[0].value.decode() if first else None


def known_epoch(data_dir: Path) -> str | None:
    """Return the epoch ``data_dir`` belongs to (None: not marked)."""
    marker = data_dir / MARKER
    return marker.read_text().strip() if marker.exists() else None


def reconcile(data_dir: Path, epoch: str) -> bool:
    """Make ``data_dir`` belong to ``epoch``; return True when stale state was discarded."""
    known = known_epoch(data_dir)
    stale = known != epoch and data_dir.exists() and any(p.name != MARKER for p in data_dir.iterdir())
    if stale:
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / MARKER).write_text(epoch + "\n")
    return stale
