"""Read ``listens`` for the partitions this worker owns, with one plain consumer on the worker's event loop.

Faust's stream reads through a consumer in its own thread, hands each fetch over through its
conductor, and an agent then waits for its batch window. At 500 events/s on two workers an
event reached the listens agent 22 to 29 ms after it was produced, where a plain consumer with the
same 20 ms fetch wait read it after 11 ms, and it waited about 8 ms more for the window (median
of each, ``bench stream --workers 2 --rate 500`` with the agent instrumented). This reader hands
the listens work (:mod:`agents.listens`) what each fetch brought as soon as it came, up to ``batch_size`` records.

Which partitions are the worker's is still decided by Faust's consumer group: the ``listens``
partitions with the numbers of the ``controls`` partitions it is assigned (the two are
co-partitioned). Nothing commits a position: the agent reads each partition from one past the last
offset its state applied (:attr:`tables.user_state.PartitionState.through`, the offset its
snapshots carry too), so a restart, a failover or a rebalance goes on exactly where the state
stands, and a record read twice is recognised by its offset.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from streamproc.kafka.clients import start_client
from streamproc.kafka.producer import MAX_REQUEST_BYTES

log = logging.getLogger(__name__)
# How long one take waits for records before it returns none (the fetch itself waits ``fetch_wait_ms``).
TAKE_TIMEOUT_MS = 1000
RETRY_S = 1.0


class ListensReader:
    """A consumer outside any group that reads the ``topic`` partitions it is given, each from a given offset."""

    def __init__(self, bootstrap: str, topic: str, fetch_wait_ms: int, batch_size: int) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.fetch_wait_ms = fetch_wait_ms
        self.batch_size = batch_size
        # partition → the offset it was last told to read from (its position is the consumer's since)
        self.starts: dict[int, int] = {}
        self.consumer: AIOKafkaConsumer | None = None
        self._assigned = asyncio.Event()

    async def start(self) -> None:
        """Connect, and read the partitions given so far."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                                    fetch_max_wait_ms=self.fetch_wait_ms, max_partition_fetch_bytes=MAX_REQUEST_BYTES)
        await start_client(consumer, self.bootstrap)
        # Only a started consumer is seen by the rest (the web view asks for its high-water marks).
        self.consumer = consumer
        self._assign()

    async def stop(self) -> None:
        """Disconnect."""
        if self.consumer is not None:
            await self.consumer.stop()
            self.consumer = None

    def read_from(self, starts: Mapping[int, int]) -> None:
        """Read exactly the partitions of ``starts`` from now on, each from its offset there.

        Every partition is positioned again, because a new assignment resets every position;
        records already taken may so come again, which their offsets tell.
        """
        self.starts = dict(starts)
        self._assign()

    def _assign(self) -> None:
        if self.consumer is None:
            return
        tps = [TopicPartition(self.topic, partition) for partition in sorted(self.starts)]
        self.consumer.assign(tps)
        for tp in tps:
            self.consumer.seek(tp, self.starts[tp.partition])
        if tps:
            self._assigned.set()
        else:
            self._assigned.clear()

    def partitions(self) -> list[int]:
        """Return the partitions being read, sorted."""
        return sorted(self.starts)

    def highwaters(self) -> dict[int, int]:
        """Return partition → the high-water mark of its last fetch, for the partitions being read."""
        if self.consumer is None:
            return {}
        marks = {}
        assigned = self.consumer.assignment()
        for partition in self.starts:
            tp = TopicPartition(self.topic, partition)
            mark = self.consumer.highwater(tp) if tp in assigned else None
            if mark is not None:
                marks[partition] = mark
        return marks

    def unread(self, records: Sequence[ConsumerRecord]) -> int:
        """Return how many records the partitions of ``records`` held past the last of them, at their last fetch."""
        last: dict[int, int] = {}
        for record in records:
            last[record.partition] = max(record.offset, last.get(record.partition, -1))
        marks = self.highwaters()
        return sum(max(0, marks[partition] - offset - 1) for partition, offset in last.items() if partition in marks)

    async def take(self) -> list[ConsumerRecord]:
        """Return the records fetched since the last take (at most ``batch_size``, in offset order within a
        partition), waiting for some up to ``TAKE_TIMEOUT_MS``; empty when none came or the broker failed."""
        if self.consumer is None or not self._assigned.is_set():
            try:
                await asyncio.wait_for(self._assigned.wait(), TAKE_TIMEOUT_MS / 1000)
            except asyncio.TimeoutError:
                pass
            return []
        try:
            batches = await self.consumer.getmany(timeout_ms=TAKE_TIMEOUT_MS, max_records=self.batch_size)
        except KafkaError as exc:
            log.warning("listens reader: %s; retrying", exc)
            await asyncio.sleep(RETRY_S)
            return []
        return [record for records in batches.values() for record in records]
