"""Every worker's catalogue: the ``tracks`` topic, read in full and followed.

Ranking draws from the whole catalogue, so each worker reads every partition of ``tracks``
with a plain consumer (no consumer group) from the beginning and keeps applying new tracks
to its recommender's catalogue. A track that does not decode is skipped here: the catalogue
agent of the partition's owner sends it to ``dead-letters`` with the reason.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from streamproc.app import app
from streamproc.kafka.producer import MAX_REQUEST_BYTES
from streamproc.runtime import runtime
from streamproc.settings import settings
from tables.errors import InvalidMessage
from tables.topics import TRACKS
from tables.track import Track

log = logging.getLogger(__name__)
BATCH = 5000
# The catalogue changes rarely: it can wait longer per fetch than the stream, and so ask the
# broker (which answers a fetch only when the wait ends) a few times a second instead of fifty.
FETCH_WAIT_MS = 250
RETRY_S = 1.0


def apply_track(value: bytes | None) -> None:
    """Add the track in ``value`` to the catalogue, unless it does not decode."""
    try:
        track = Track.from_bytes(value, settings.max_message_bytes)
    except InvalidMessage:
        return
    runtime.recommender.catalog.upsert(track.to_dict())


@app.task
async def follow_tracks() -> None:
    """Read ``tracks`` from the start and keep applying new tracks, until the worker stops."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers(),
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=max(settings.fetch_max_wait_ms, FETCH_WAIT_MS),
        max_partition_fetch_bytes=MAX_REQUEST_BYTES,
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(TRACKS, partition) for partition in range(settings.topic_partitions)])
        await consumer.seek_to_beginning()
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=1000, max_records=BATCH)
            except KafkaError as exc:
                log.warning("tracks feed: %s; retrying", exc)
                await asyncio.sleep(RETRY_S)
                continue
            for records in batches.values():
                for record in records:
                    apply_track(record.value)
    finally:
        await consumer.stop()
