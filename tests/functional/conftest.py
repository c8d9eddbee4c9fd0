"""Agents driven with Faust's ``test_context()``: no broker, tables in memory, output topics captured."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from unittest.mock import AsyncMock, MagicMock

import pytest

from streamproc.app import app, recommender
from tables import store


@pytest.fixture()
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, MagicMock]]:
    """Capture what the agents send to the output topics, keyed by topic.

    ``recommendations`` is written as ``latest_recommendations``' changelog, with ``send_soon``.
    """
    with warnings.catch_warnings():
        # Faust warns that the store is set after the tables were declared; they open their store
        # on first use, so the memory store does take effect (checked below).
        warnings.simplefilter("ignore")
        app.conf.store = "memory://"
    assert type(store.user_history.data).__module__ == "faust.stores.memory"
    mocks = {"recommendations": MagicMock(), "dead_letters": AsyncMock()}
    monkeypatch.setattr(store.recommendations_topic, "send_soon", mocks["recommendations"])
    monkeypatch.setattr(store.dead_letters_topic, "send", mocks["dead_letters"])
    yield mocks
    for table in (store.user_history, store.track_table, store.track_clusters, store.latest_recommendations):
        table.data.clear()
    recommender.__init__(recommender.settings)


async def settle(seconds: float = 0.3) -> None:
    """Give the agent time to take its batch (the batch window is shorter than this)."""
    await asyncio.sleep(seconds)
