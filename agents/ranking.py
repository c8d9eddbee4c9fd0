"""The ranking agent's work: a fresh top-N for every user whose history changed, sent to ``recommendations``.

A list is sent straight to ``recommendations`` (keyed by user, compacted) and kept in memory as
the user's latest, with the model version that ranked it. Ranking is CPU work on the event
loop, so it yields between slices of users to keep heartbeats, timers and the web view responsive.

Each list sent because of new events carries ``event_ts``, the Kafka timestamp (produce time)
of the oldest event it is the first list to reflect, so that a reader can measure the end-to-end
latency; the time from that to the send is recorded in :mod:`streamproc.stats`. While the worker
keeps up every changed user is ranked in the batch that changed them; when it falls behind, a user
is ranked at most once per ``STREAMPROC_LIST_INTERVAL_SECONDS``
(:mod:`streamproc.recommend.list_schedule`). When a new model comes,
:func:`refresh_owned_users` re-ranks every user of the partitions this worker owns whose list
an older model made; those lists carry ``event_ts: null``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from streamproc.app import app
from streamproc.owned_users import Sent
from streamproc.runtime import runtime
from streamproc.stats import stats
from tables.codec import encode
from tables.recommendation import Recommendation
from tables.store import recommendations_topic
from tables.user_state import PartitionState

log = logging.getLogger(__name__)
# Users ranked together between two yields to the event loop.
SLICE = 200
# How often held users are looked at when no new event comes.
FLUSH_S = 0.1
# The most of the worker's time that re-ranking every owned user after a new model may take.
REFRESH_SHARE = 0.25


async def publish_recommendations(changed: dict[str, float], unread: int = 0) -> None:
    """Rank and send the list of each user in ``changed`` (user → the produce time of the last event that
    changed them) that is due one now (:class:`~streamproc.recommend.list_schedule.ListSchedule`), and of
    each held user due; ``unread`` events wait on the broker behind the ones that changed them."""
    await send_lists(runtime.lists.due(changed, time.time(), unread))


@app.timer(interval=FLUSH_S)
async def send_held_lists() -> None:
    """Send the lists of held users whose interval has passed, when no new event brings them."""
    await send_lists(runtime.lists.flush(time.time()))


async def send_lists(due: dict[str, float]) -> None:
    """Rank and send the list of each user in ``due`` (user → the produce time its list reports) still owned."""
    owned = [(user_id, state) for user_id in due if (state := runtime.owned.find(user_id)) is not None]
    latencies = []
    for start in range(0, len(owned), SLICE):
        for recommendation in rank(owned[start:start + SLICE]):
            produced_at = due[recommendation.user_id]
            send(recommendation, produced_at)
            latencies.append(time.time() - produced_at)
        await asyncio.sleep(0)
    stats.record_latencies(latencies)


def rank(users: Sequence[tuple[str, PartitionState]]) -> list[Recommendation]:
    """Return the lists of ``users`` (each user id with the partition state holding it), ranked together
    from their histories and skips with the installed model."""
    return runtime.recommender.recommend_many([(user_id, state.history(user_id)) for user_id, state in users],
                                              skipped=[state.skips(user_id) for user_id, state in users])


def send(recommendation: Recommendation, event_ts: float | None) -> bytes:
    """Send ``recommendation`` (made for an event produced at ``event_ts``), keep it as the latest; return it."""
    value = recommendation.to_dict()
    value["event_ts"] = event_ts
    message = encode(value)
    recommendations_topic.send_soon(key=recommendation.user_id.encode(), value=message)
    items = recommendation.items
    runtime.owned.latest[recommendation.user_id] = Sent(message, recommendation.model.version,
                                                        frozenset(item.item_id for item in items),
                                                        frozenset(item.item_id for item in items if item.exploration))
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
                     if user_id in state.users and (user_id not in runtime.owned.latest
                                                       or runtime.owned.latest[user_id].version < version)]
            for recommendation in rank([(user_id, state) for user_id in stale]):
                send(recommendation, None)
            refreshed += len(stale)
            # Rest in proportion, so that new events, not old lists, get most of the worker.
            await asyncio.sleep((time.perf_counter() - slice_started) * (1.0 / REFRESH_SHARE - 1.0))
    log.info("model v%d: refreshed %d users' lists in %.1f s", version, refreshed, time.perf_counter() - started)
    return refreshed
