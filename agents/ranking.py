"""The ranking agent: a fresh top-N for every user whose history changed, sent to ``recommendations``.

A list is sent by writing it into ``latest_recommendations``, whose changelog is ``recommendations``.

Ranking is CPU work on the event loop, so it yields between slices of users to keep
heartbeats, timers and the web view responsive.

Each list sent because of new events carries ``event_ts``, the Kafka timestamp (produce time)
of the last event it reflects, so that a reader can measure the end-to-end latency; the time
from that to the send is recorded in :mod:`streamproc.stats`. After a retraining,
:func:`refresh_owned_users` re-ranks every user of the partitions this worker owns, so that
every list reflects the new model; those lists carry ``event_ts: null``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from faust.types import EventT, TP

from agents.event_context import under_event
from streamproc.app import app, recommender
from streamproc.stats import stats
from tables.codec import encode
from tables.recommendation import Recommendation
from tables.store import latest_recommendations, listens_topic, user_history

log = logging.getLogger(__name__)
# Users ranked together between two yields to the event loop.
SLICE = 200
# The most of the worker's time that re-ranking every owned user after a retraining may take.
REFRESH_SHARE = 0.25


async def publish_recommendations(changed: dict[str, tuple[EventT, dict[str, Any]]]) -> None:
    """Rank and publish the recommendations of each user in ``changed`` (user → (event, history)).

    Users are ranked together, a slice at a time, with the event loop free between slices.
    """
    latencies = []
    entries = list(changed.items())
    for start in range(0, len(entries), SLICE):
        part = entries[start:start + SLICE]
        ranked = recommender.recommend_many([(user_id, history["items"]) for user_id, (_, history) in part])
        for (user_id, (event, _)), recommendation in zip(part, ranked):
            produced_at = event.message.timestamp
            with under_event(event):
                latest_recommendations[user_id] = _message(recommendation, produced_at)
            if produced_at:
                latencies.append(time.time() - produced_at)
        await asyncio.sleep(0)
    stats.record_latencies(latencies)


class _Placed:
    """Stands for an event of ``listens``[``partition``], so that a table write outside a stream
    lands in that partition (see :mod:`agents.event_context`)."""

    def __init__(self, partition: int) -> None:
        self.message = _PlacedMessage(listens_topic.get_topic_name(), partition)


class _PlacedMessage:
    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition


def owned_users() -> Iterator[tuple[int, list[str]]]:
    """Yield (partition, user ids) for each ``user_history`` partition this worker owns now."""
    store = user_history.data
    actives = app.assignor.assigned_actives()
    topic = user_history.changelog_topic.get_topic_name()
    for partition, db in list(getattr(store, "_dbs", {}).items()):
        if TP(topic, partition) in actives:
            yield partition, [key.decode() for key in store._visible_keys(db)]


async def refresh_owned_users(version: int) -> int:
    """Re-rank every user of the partitions this worker owns with model ``version``, in slices,
    resting between slices so that it takes at most ``REFRESH_SHARE`` of the worker's time.

    Stops early when a newer model replaces it or the partitions move; returns the users refreshed.
    """
    started = time.perf_counter()
    refreshed = 0
    for partition, user_ids in owned_users():
        placed = _Placed(partition)
        for start in range(0, len(user_ids), SLICE):
            slice_started = time.perf_counter()
            factors = recommender.factors
            if factors is None or factors.version != version:
                return refreshed
            stale = _stale(user_ids[start:start + SLICE], factors.trained_at)
            ranked = recommender.recommend_many([(user_id, history["items"]) for user_id, history in stale])
            # In the same step as the history check, so a forget-me cannot come in between.
            with under_event(placed):
                for (user_id, _), recommendation in zip(stale, ranked):
                    latest_recommendations[user_id] = _message(recommendation, None)
            refreshed += len(stale)
            # Rest in proportion, so that new events, not old lists, get most of the worker.
            await asyncio.sleep((time.perf_counter() - slice_started) * (1.0 / REFRESH_SHARE - 1.0))
    log.info("model v%d: refreshed %d users' lists in %.1f s", version, refreshed, time.perf_counter() - started)
    return refreshed


def _stale(user_ids: list[str], trained_at: float) -> list[tuple[str, dict[str, Any]]]:
    """Return (user id, history) of each of ``user_ids`` whose latest list is older than ``trained_at``."""
    stale = []
    for user_id in user_ids:
        history = user_history.get(user_id)
        latest = latest_recommendations.get(user_id)
        # Versions count each worker's own retrainings, so compare times, not versions.
        if history is not None and not (latest and json.loads(latest)["generated_at"] >= trained_at):
            stale.append((user_id, history))
    return stale


def _message(recommendation: Recommendation, event_ts: float | None) -> bytes:
    """Return the ``recommendations`` message of ``recommendation`` made for an event produced at ``event_ts``."""
    value = recommendation.to_dict()
    value["event_ts"] = event_ts
    return encode(value)
