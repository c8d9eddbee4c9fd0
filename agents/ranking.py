"""The ranking agent's work: a fresh top-N for every user whose history changed, sent to ``recommendations``.

A list is sent straight to ``recommendations`` (keyed by user, compacted) and kept in memory as
the user's latest, with the model version that ranked it. Ranking is CPU work on the event
loop, so it yields between slices of users to keep heartbeats, timers and the web view responsive.

Each list sent because of new events carries ``event_ts``, the Kafka timestamp (produce time)
of the last event it reflects, so that a reader can measure the end-to-end latency; the time
from that to the send is recorded in :mod:`streamproc.stats`. When a new model comes,
:func:`refresh_owned_users` re-ranks every user of the partitions this worker owns whose list
an older model made; those lists carry ``event_ts: null``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from faust.types import EventT

from streamproc.runtime import runtime
from streamproc.stats import stats
from tables.codec import encode
from tables.recommendation import Recommendation
from tables.store import recommendations_topic

log = logging.getLogger(__name__)
# Users ranked together between two yields to the event loop.
SLICE = 200
# The most of the worker's time that re-ranking every owned user after a new model may take.
REFRESH_SHARE = 0.25


async def publish_recommendations(changed: dict[str, EventT]) -> None:
    """Rank and send the list of each user in ``changed`` (user → the last event that changed them)."""
    latencies = []
    entries = list(changed.items())
    for start in range(0, len(entries), SLICE):
        part = entries[start:start + SLICE]
        for (user_id, event), recommendation in zip(part, rank([user_id for user_id, _ in part])):
            produced_at = event.message.timestamp
            send(recommendation, produced_at)
            if produced_at:
                latencies.append(time.time() - produced_at)
        await asyncio.sleep(0)
    stats.record_latencies(latencies)


def rank(user_ids: Sequence[str]) -> list[Recommendation]:
    """Return the lists of ``user_ids`` (owned users) ranked together with the installed model."""
    owned = runtime.owned
    return runtime.recommender.recommend_many([(user_id, owned.history(user_id) or {}) for user_id in user_ids])


def send(recommendation: Recommendation, event_ts: float | None) -> bytes:
    """Send ``recommendation`` (made for an event produced at ``event_ts``), keep it as the latest; return it."""
    value = recommendation.to_dict()
    value["event_ts"] = event_ts
    message = encode(value)
    recommendations_topic.send_soon(key=recommendation.user_id.encode(), value=message)
    runtime.owned.latest[recommendation.user_id] = (message, recommendation.model.version)
    return message


async def refresh_owned_users(version: int) -> int:
    """Re-rank every owned user whose list is older than model ``version``, in slices, resting between
    slices so that it takes at most ``REFRESH_SHARE`` of the worker's time.

    Stops early when a newer model replaces it; returns the users refreshed.
    """
    started = time.perf_counter()
    refreshed = 0
    for state in list(runtime.owned.partitions.values()):
        user_ids = list(state.users)
        for start in range(0, len(user_ids), SLICE):
            slice_started = time.perf_counter()
            if runtime.recommender.version != version:
                return refreshed
            stale = [user_id for user_id in user_ids[start:start + SLICE]
                     if user_id in state.users and runtime.owned.latest.get(user_id, (b"", 0))[1] < version]
            for recommendation in rank(stale):
                send(recommendation, None)
            refreshed += len(stale)
            # Rest in proportion, so that new events, not old lists, get most of the worker.
            await asyncio.sleep((time.perf_counter() - slice_started) * (1.0 / REFRESH_SHARE - 1.0))
    log.info("model v%d: refreshed %d users' lists in %.1f s", version, refreshed, time.perf_counter() - started)
    return refreshed
