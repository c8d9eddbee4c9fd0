"""Load a partition's users from the ``{app_id}-user-state`` log; append to the log.

Loading reads the partition's log from its newest committed snapshot (:func:`tables.user_state.base_of`);
the listens reader then applies ``listens`` from the offset after the snapshot's, so the state is
exact however the last owner stopped. Appending goes through the worker's own producer,
and waits for the broker: a snapshot is committed only once every chunk of it is stored. The
listens work starts a snapshot and goes on (:meth:`StateLog.snapshot_soon`): waiting in its loop
for the broker's acknowledgements left a worker idle for much of a fast stream.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from streamproc.kafka.logs import append, last_record, log_record, read_range, reader
from tables.user_state import PartitionState, base_of, commit_record

log = logging.getLogger(__name__)


class StateLog:
    """The user-state log of every partition, written through Faust topic ``topic``."""

    def __init__(self, topic: Any, listens: str, bootstrap: str, weights: Mapping[str, float],
                 max_message_bytes: int) -> None:
        self.topic = topic
        self.listens = listens
        self.bootstrap = bootstrap
        self.weights = weights
        self.max_message_bytes = max_message_bytes
        # partition → first offset of its newest committed snapshot (-1: none yet)
        self.bases: dict[int, int] = {}
        # one snapshot at a time per partition: interleaved chunks of two would make neither readable
        self.writing: dict[int, asyncio.Lock] = {}
        self.in_flight: dict[int, asyncio.Task] = {}

    async def load(self, partition: int) -> PartitionState:
        """Return the partition's users as of its newest snapshot and the markers after it; the listens
        reader applies ``listens`` from one past the offset the snapshot covers."""
        started = time.perf_counter()
        state, _ = await self.load_snapshot(partition)
        self.bases[partition] = state.base
        log.info("partition %d: %d users from the user-state log through listens offset %d, in %.2f s",
                 partition, len(state), state.through, time.perf_counter() - started)
        return state

    async def load_snapshot(self, partition: int) -> tuple[PartitionState, int]:
        """Return the partition's users as of its newest snapshot and later markers, and the log's end
        (for a reader that follows ``listens`` and the log itself)."""
        async with reader(self.bootstrap) as consumer:
            return await self._snapshot(consumer, partition)

    async def _snapshot(self, consumer: Any, partition: int) -> tuple[PartitionState, int]:
        name = self.topic.get_topic_name()
        last, end = await last_record(consumer, name, partition)
        base = base_of(last) if last is not None else -1
        records = [log_record(r) for r in await read_range(consumer, name, partition, max(base, 0), end)]
        state = PartitionState.from_records(records, partition, self.weights)
        state.base = base
        return state, end

    async def snapshot(self, state: PartitionState) -> None:
        """Append a snapshot of ``state`` and its commit."""
        partition = state.partition
        async with self.writing.setdefault(partition, asyncio.Lock()):
            records = state.snapshot_records(self.bases.get(partition, -1))
            first = await append(self.topic, records[0], partition)
            for record in records[1:]:
                await append(self.topic, record, partition)
            await append(self.topic, commit_record(first), partition)
            self.bases[partition] = first

    def snapshot_soon(self, state: PartitionState) -> None:
        """Start :meth:`snapshot` of ``state`` in the background unless its partition is writing one."""
        partition = state.partition
        if partition not in self.in_flight:
            task = asyncio.ensure_future(self.snapshot(state))
            self.in_flight[partition] = task
            task.add_done_callback(lambda done: self._written(partition, done))

    def cancel(self, partitions: list[int]) -> None:
        """Stop writing snapshots of ``partitions`` (now another worker's); a snapshot left without
        its commit is ignored by every reader."""
        for partition in partitions:
            task = self.in_flight.pop(partition, None)
            if task is not None:
                task.cancel()

    def _written(self, partition: int, task: asyncio.Task) -> None:
        if self.in_flight.get(partition) is task:
            del self.in_flight[partition]
        if not task.cancelled() and task.exception() is not None:
            log.warning("partition %d: snapshot not written (%s); the next one is tried when due",
                        partition, task.exception())

    async def forget(self, state: PartitionState, user_id: str) -> None:
        """Delete the user from ``state`` and append the marker that keeps them forgotten.

        Under the partition's snapshot lock: a snapshot taken before the user was deleted must be
        committed before the marker, or a reader starting at that snapshot would miss the marker.
        """
        async with self.writing.setdefault(state.partition, asyncio.Lock()):
            marker = state.forget(user_id)
            marker.headers["base"] = str(self.bases.get(state.partition, -1))
            await append(self.topic, marker, state.partition)
