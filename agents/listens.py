"""The listens agent: each event applied to its user in the worker's own partitions, lists sent per batch.

Events come in batches; those of a partition this worker no longer owns (taken before a
rebalance) are left to its new owner. Each partition's users are loaded before its first batch
(or again when the stream jumped past what this worker applied: another worker owned the
partition meanwhile, :mod:`agents.partitions`). An event at or below the partition's applied
offset is a redelivery after a crash and counts once. Every user whose history changed gets one
new list per batch, and each applied play, like or playlist-add counts towards the live hit rate
(:mod:`streamproc.hit_rate`) by whether its item was on the user's latest list; an event on an
exploration pick of that list tells the exploration bandit, when exploring by one (a redelivery
counts for neither); then each partition whose events since its last snapshot pay for a new one
writes it
(:meth:`tables.user_state.PartitionState.snapshot_due`), so what an event costs the broker does
not grow with the history; a timer also snapshots a partition whose oldest unsaved event is older
than ``STREAMPROC_SNAPSHOT_MAX_AGE_SECONDS``, so ``listens`` need only be retained that long.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from faust.types import EventT, StreamT

from agents.controls import handle_control, is_control
from agents.dead_letters import send_dead_letter
from agents.partitions import ensure_loaded
from agents.ranking import publish_recommendations
from streamproc.app import app
from streamproc.runtime import runtime
from streamproc.settings import settings
from streamproc.stats import stats
from tables.errors import InvalidMessage
from tables.listen import Listen
from tables.store import user_events_topic

log = logging.getLogger(__name__)
SNAPSHOT_CHECK_S = 60.0
# Plays, likes and playlist-adds count towards the live hit rate; skips do not.
WEIGHTS = settings.event_weights()


@app.agent(user_events_topic)
async def process_listens(stream: StreamT) -> None:
    """Apply every valid listening event to its user; dead-letter the rest.

    Controls arrive on the same stream (see :mod:`agents.controls`), each applied where it came.
    """
    async for batch in stream.take_events(settings.batch_size, within=settings.batch_seconds):
        events = owned_events(batch)
        stats.record_batch(events)
        await ensure_loaded(events)
        changed: dict[str, EventT] = {}
        touched = set()
        hits = scored = 0
        for event in events:
            if is_control(event):
                await handle_control(event, changed)
                continue
            message = event.message
            state = runtime.owned.partitions[message.partition]
            touched.add(message.partition)
            try:
                listen = Listen.keyed(message.key, message.value, settings.max_message_bytes)
            except InvalidMessage as exc:
                state.skip(message.offset)
                await send_dead_letter(event, str(exc))
                continue
            if state.apply(listen.user_id, listen.item_id, listen.event, listen.count, message.offset):
                changed[listen.user_id] = event
                played = WEIGHTS[listen.event] > 0
                if runtime.owned.explored(listen.user_id, listen.item_id):
                    runtime.recommender.judge_exploration(listen.item_id, played)
                if played:
                    scored += 1
                    hits += runtime.owned.shown(listen.user_id, listen.item_id)
        stats.hit_rate.record(hits, scored)
        await publish_recommendations(changed)
        snapshot_due(touched)


def owned_events(events: list[EventT]) -> list[EventT]:
    """Return ``events`` but those of partitions another worker owns now.

    A batch taken before a rebalance can still hold them: applying one would load the partition
    here again, send its users' lists twice and snapshot it beside its new owner.
    """
    owned = [event for event in events if runtime.owned.owns(event.message.partition)]
    if len(owned) < len(events):
        log.info("left %d events of partitions now owned elsewhere to their owner", len(events) - len(owned))
    return owned


@app.timer(interval=SNAPSHOT_CHECK_S)
async def snapshot_old_events() -> None:
    """Snapshot a partition whose oldest unsaved event is past the age limit, even with no new events."""
    snapshot_due(list(runtime.owned.partitions))


def snapshot_due(partitions: Iterable[int]) -> None:
    """Start a snapshot of each of ``partitions`` that is due one."""
    for partition in partitions:
        state = runtime.owned.partitions.get(partition)
        if state is not None and state.snapshot_due(settings.state_bytes_per_event,
                                                    settings.snapshot_max_age_seconds):
            runtime.state_log.snapshot_soon(state)
