"""The listens work: each event applied to its user in the worker's own partitions, lists sent per batch.

Events come in batches from :class:`~streamproc.kafka.listens_reader.ListensReader`, which reads
``listens`` outside Faust's stream for the partitions Faust's group gives this worker (see
that module for why). Events of a partition this worker no longer owns (taken before a
rebalance) are left to its new owner; each partition's users are loaded before its first batch
(:mod:`agents.partitions`). An event at or below the partition's applied offset was read again
(after the reader was positioned anew) and is passed over. Every user whose history changed gets one
new list per batch, and each applied play, like or playlist-add counts towards the live hit rate
(:mod:`streamproc.hit_rate`) by whether its item was on the user's latest list; an event on an
exploration pick of that list tells the exploration bandit, when exploring by one; then each
partition whose events since its last snapshot pay for a new one writes it
(:meth:`tables.user_state.PartitionState.snapshot_due`), so what an event costs the broker does
not grow with the history; a timer also snapshots a partition whose oldest unsaved event is older
than ``STREAMPROC_SNAPSHOT_MAX_AGE_SECONDS``, so ``listens`` need only be retained that long.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence

from aiokafka.structs import ConsumerRecord

from agents.dead_letters import send_dead_letter
from agents.partitions import ensure_loaded, still_owned
from agents.ranking import publish_recommendations
from streamproc.app import app
from streamproc.runtime import runtime
from streamproc.settings import settings
from streamproc.stats import stats
from tables.errors import InvalidMessage
from tables.listen import Listen

log = logging.getLogger(__name__)
SNAPSHOT_CHECK_S = 60.0
# How long a starting worker waits for the newest published model before it applies events without it.
MODEL_WAIT_S = 30.0
# Plays, likes and playlist-adds count towards the live hit rate; skips do not.
WEIGHTS = settings.event_weights()


@app.task
async def read_listens() -> None:
    """Apply the listens of this worker's partitions as the reader takes them, until the worker stops.

    A starting worker first installs the newest published model, so that its users' first lists come
    from it rather than from popularity, each to be ranked again a moment later.
    """
    try:
        await asyncio.wait_for(runtime.model_log.caught_up.wait(), MODEL_WAIT_S)
    except asyncio.TimeoutError:
        log.warning("no model installed after %.0f s; applying events with v%d", MODEL_WAIT_S,
                    runtime.model_log.installed)
    reader = runtime.listens
    await reader.start()
    try:
        while True:
            # As Faust's conductor does before each message of a stream: wait out a rebalance, and let the
            # producer send what the last batch queued (lists, snapshots) before queueing more. Without
            # it a fast backlog queued 20,000 lists ahead of the snapshots.
            await app.flow_control.acquire()
            await app.producer.buffer.wait_until_ebb()
            records = await reader.take()
            if records:
                await apply_listens(records)
            # A take that finds records already fetched returns without suspending: without this turn the
            # timers and the web view would wait until a whole fetch (up to 4 MB a partition) was applied.
            await asyncio.sleep(0)
    finally:
        await reader.stop()


async def apply_listens(records: Sequence[ConsumerRecord]) -> None:
    """Apply every valid listening event of ``records`` not applied yet to its user; dead-letter the rest;
    send the lists due; snapshot the partitions due."""
    records = still_owned(records, [record.partition for record in records])
    await ensure_loaded({record.partition for record in records})
    partitions = runtime.owned.partitions
    fresh = [record for record in records
             if record.partition in partitions and record.offset > partitions[record.partition].through]
    stats.record_batch(fresh)
    changed: dict[str, float] = {}
    hits = scored = 0
    for record in fresh:
        state = partitions[record.partition]
        try:
            listen = Listen.keyed(record.key, record.value, settings.max_message_bytes)
        except InvalidMessage as exc:
            state.skip(record.offset)
            await send_dead_letter(record, str(exc))
            continue
        if state.apply(listen.user_id, listen.item_id, listen.event, listen.count, record.offset):
            changed[listen.user_id] = produced_at(record)
            played = WEIGHTS[listen.event] > 0
            if runtime.owned.explored(listen.user_id, listen.item_id):
                runtime.recommender.judge_exploration(listen.item_id, played)
            if played:
                scored += 1
                hits += runtime.owned.shown(listen.user_id, listen.item_id)
    stats.hit_rate.record(hits, scored)
    await publish_recommendations(changed, runtime.listens.unread(records))
    snapshot_due({record.partition for record in fresh})


def produced_at(record: ConsumerRecord) -> float:
    """Return when ``record`` was produced (seconds since the epoch; now when it carries no time)."""
    return record.timestamp / 1000.0 if record.timestamp and record.timestamp > 0 else time.time()


@app.timer(interval=SNAPSHOT_CHECK_S)
async def snapshot_old_events() -> None:
    """Snapshot a partition whose oldest unsaved event is past the age limit, even with no new events."""
    snapshot_due(list(runtime.owned.partitions))


def snapshot_due(partitions: Iterable[int]) -> None:
    """Start a snapshot of each of ``partitions`` owned and due one."""
    for partition in partitions:
        state = runtime.owned.partitions.get(partition)
        if state is not None and runtime.owned.owns(partition) and state.snapshot_due(
                settings.state_bytes_per_event, settings.snapshot_max_age_seconds):
            runtime.state_log.snapshot_soon(state)
