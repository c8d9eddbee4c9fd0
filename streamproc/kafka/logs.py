"""Read one partition of a log topic with a plain consumer: its last record, or a range of offsets.

The user-state and model logs are read from their last record back to the one it names, never
from the start. The end of a partition is taken from a fetch, not ListOffsets, whose answer on
the embedded broker is the start of the last batch plus one (see FAUST_ON_TANSU.md); a fetch
from just before that answer returns the last batch and the true high-water mark together.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from streamproc.kafka.clients import start_client
from streamproc.kafka.producer import MAX_REQUEST_BYTES
from tables.user_state import LogRecord

READ_TIMEOUT_S = 30.0
# A read that stops at the end of a partition: how long the broker may hold each fetch.
READ_WAIT_MS = 10
# A reader that follows a log for the worker's life (the model, the trainer's feed): a new record
# may wait up to this long to be read, which neither needs faster, and an idle worker asks the
# broker ten times a second instead of a hundred (a broker and two workers with no events, CPU
# over 20 s: the workers 0.20 cores and the broker 0.19 with 10 ms, 0.16 and 0.15 with this).
FOLLOW_WAIT_MS = 100
# aiokafka logs every assign at INFO; these readers assign on every read.
logging.getLogger("aiokafka.consumer.subscription_state").setLevel(logging.WARNING)


def log_record(record: ConsumerRecord) -> LogRecord:
    """Return ``record`` with its headers decoded to text."""
    headers = {key: value.decode() for key, value in record.headers or ()}
    return LogRecord(headers, record.value, record.offset)


@asynccontextmanager
async def reader(bootstrap: str, fetch_wait_ms: int = READ_WAIT_MS) -> AsyncIterator[AIOKafkaConsumer]:
    """Yield a started consumer outside any group, for :func:`last_record` and :func:`read_range`.

    A reader that follows a log for the worker's life passes a longer ``fetch_wait_ms``
    (:data:`FOLLOW_WAIT_MS`): at the end of a partition each fetch waits that long, so a short
    wait polls the broker a hundred times a second for records that come once a minute.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                fetch_max_wait_ms=fetch_wait_ms, max_partition_fetch_bytes=MAX_REQUEST_BYTES)
    await start_client(consumer, bootstrap)
    try:
        yield consumer
    finally:
        await consumer.stop()


async def last_record(consumer: AIOKafkaConsumer, topic: str, partition: int) -> tuple[LogRecord | None, int]:
    """Return the last record of ``topic``[``partition``] (None when empty) and the partition's end offset."""
    tp = TopicPartition(topic, partition)
    consumer.assign([tp])
    reported = (await consumer.end_offsets([tp]))[tp]
    consumer.seek(tp, max(reported - 1, 0))
    deadline = time.monotonic() + READ_TIMEOUT_S
    found: list[ConsumerRecord] = []
    while time.monotonic() < deadline:
        batches = await consumer.getmany(tp, timeout_ms=200)
        found.extend(batches.get(tp, []))
        end = consumer.highwater(tp)
        if end is not None and (end == 0 or (found and found[-1].offset >= end - 1)):
            return (log_record(found[-1]) if found and end > 0 else None), end
    raise TimeoutError(f"{topic}[{partition}] did not answer within {READ_TIMEOUT_S:.0f} s")


async def append(topic: Any, record: LogRecord, partition: int, key: bytes | None = None) -> int:
    """Send ``record`` to ``partition`` of Faust topic ``topic`` and return its offset once the broker has it."""
    sent = await topic.send(key=key, value=record.value, partition=partition,
                            headers={name: value.encode() for name, value in record.headers.items()})
    return (await sent).offset


async def read_range(consumer: AIOKafkaConsumer, topic: str, partition: int, start: int, end: int) -> list[ConsumerRecord]:
    """Return the records of ``topic``[``partition``] from offset ``start`` up to, not including, ``end``."""
    if start >= end:
        return []
    tp = TopicPartition(topic, partition)
    consumer.assign([tp])
    consumer.seek(tp, start)
    records: list[ConsumerRecord] = []
    deadline = time.monotonic() + READ_TIMEOUT_S
    # By position, not by the last offset seen: a compacted log may have holes.
    while await consumer.position(tp) < end:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{topic}[{partition}] gave {len(records)} records of {start}..{end} "
                               f"within {READ_TIMEOUT_S:.0f} s")
        batches = await consumer.getmany(tp, timeout_ms=200)
        records.extend(record for record in batches.get(tp, []) if record.offset < end)
    return records
