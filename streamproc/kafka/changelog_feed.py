"""Every worker's global view: the user-history, catalogue and controls changelogs, read in full.

A worker's tables hold only the partitions it owns, but the factor model trains on every
user and ranking draws from the whole catalogue. Each worker therefore follows the
changelog topics from the beginning with a plain consumer (no consumer group, so every
worker reads every partition) and applies each record to the recommender's global state.
The controls changelog says who opted out: their histories stay out of the view
(:mod:`streamproc.recommend.consent`); a forgotten user's tombstones remove them.
"""

from __future__ import annotations

import asyncio
import json
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from streamproc.app import app, recommender
from streamproc.recommend.consent import ConsentView
from streamproc.kafka.producer import MAX_REQUEST_BYTES
from streamproc.settings import settings
from tables.store import CHANGELOG_TOPICS

log = logging.getLogger(__name__)
BATCH = 5000
# The global view feeds training, which runs every few thousand events or seconds: it can wait
# longer per fetch than the stream, and so ask the broker (which answers a fetch only when the
# wait ends) a few times a second instead of fifty.
FETCH_WAIT_MS = 250
RETRY_S = 1.0
# Opted-out users' histories stay out of the global view until they opt back in.
consent = ConsentView(recommender.interactions, on_change=recommender.request_retrain)


def apply_record(topic: str, key: bytes, value: bytes | None) -> None:
    """Apply one changelog record to the recommender's catalogue, interactions or consent view."""
    item = key.decode()
    state = json.loads(value) if value is not None else None
    if topic == CHANGELOG_TOPICS["history"]:
        if state is None:
            consent.put_history(item, None)
        else:
            consent.put_history(item, state["items"], state["events"])
    elif topic == CHANGELOG_TOPICS["controls"]:
        consent.put_controls(item, state)
    elif state is None:
        recommender.catalog.remove(item)
    else:
        recommender.catalog.upsert(state)


@app.task
async def follow_changelogs() -> None:
    """Read the changelogs from the start and keep applying new records, until the worker stops."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers(),
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=max(settings.fetch_max_wait_ms, FETCH_WAIT_MS),
        max_partition_fetch_bytes=MAX_REQUEST_BYTES,
    )
    await consumer.start()
    try:
        consumer.assign([
            TopicPartition(topic, partition)
            for topic in CHANGELOG_TOPICS.values()
            for partition in range(settings.topic_partitions)
        ])
        await consumer.seek_to_beginning()
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=1000, max_records=BATCH)
            except KafkaError as exc:
                log.warning("changelog feed: %s; retrying", exc)
                await asyncio.sleep(RETRY_S)
                continue
            for tp, records in batches.items():
                for record in records:
                    apply_record(tp.topic, record.key, record.value)
    finally:
        await consumer.stop()
