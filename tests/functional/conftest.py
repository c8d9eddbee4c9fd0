"""Agents driven with Faust's ``test_context()``: no broker, tables in memory, output topics captured.

The user-state log is kept in memory (:class:`MemoryStateLog`): the agents load, snapshot and
forget through the same interface as on Kafka, and the tests read back what was appended.
"""

from __future__ import annotations

import asyncio
import warnings
from collections import defaultdict
from collections.abc import Iterator
from unittest.mock import AsyncMock, MagicMock

import pytest

from streamproc.app import app
from streamproc.owned_users import OwnedUsers
from streamproc.recommend.recommender import Recommender
from streamproc.runtime import list_schedule, runtime
from tables import store
from tables.user_state import LogRecord, PartitionState, commit_record


class MemoryStateLog:
    """The user-state log of each partition as a list: what :class:`~streamproc.kafka.state_log.StateLog` appends."""

    def __init__(self, weights) -> None:
        self.weights = weights
        self.records: dict[int, list[LogRecord]] = defaultdict(list)

    async def load(self, partition: int) -> PartitionState:
        return PartitionState.from_records(self.records[partition], partition, self.weights)

    def snapshot_soon(self, state: PartitionState) -> None:
        log = self.records[state.partition]
        start = len(log)
        log.extend(state.snapshot_records(base=-1))
        log.append(commit_record(start))

    def cancel(self, partitions: list[int]) -> None:
        pass

    async def forget(self, state: PartitionState, user_id: str) -> None:
        self.records[state.partition].append(state.forget(user_id))


@pytest.fixture()
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, MagicMock]]:
    """Capture what the agents send to the output topics, keyed by topic, with a fresh runtime."""
    with warnings.catch_warnings():
        # Faust warns that the store is set after the tables were declared; they open their store
        # on first use, so the memory store does take effect (checked below).
        warnings.simplefilter("ignore")
        app.conf.store = "memory://"
    assert type(store.user_controls.data).__module__ == "faust.stores.memory"
    mocks = {"recommendations": MagicMock(), "dead_letters": AsyncMock()}
    monkeypatch.setattr(store.recommendations_topic, "send_soon", mocks["recommendations"])
    monkeypatch.setattr(store.dead_letters_topic, "send", mocks["dead_letters"])
    monkeypatch.setattr(runtime, "state_log", MemoryStateLog(runtime.settings.event_weights()))
    monkeypatch.setattr(runtime, "owned", OwnedUsers())
    monkeypatch.setattr(runtime, "lists", list_schedule(runtime.settings))
    monkeypatch.setattr(runtime, "recommender", Recommender(runtime.settings, controls=store.user_controls))
    yield mocks
    for table in store.USER_TABLES:
        table.data.clear()


async def settle(seconds: float = 0.3) -> None:
    """Give the agent time to take its batch (the batch window is shorter than this)."""
    await asyncio.sleep(seconds)
