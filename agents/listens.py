"""The listens agent: each user's interaction history (item → confidence) in the user table.

Events come in batches; a user's history is written once per batch, then the ranking agent
refreshes that user's recommendations once per batch. Each history records the offset of the
last event applied, so an event delivered again after a crash is not counted twice.
"""

from __future__ import annotations

import logging
from typing import Any

from faust.types import EventT, StreamT

from agents.controls import handle_control, is_control
from agents.dead_letters import send_dead_letter
from agents.event_context import under_event
from agents.ranking import publish_recommendations
from agents.user_key import require_user_key
from streamproc.app import app
from streamproc.settings import settings
from streamproc.stats import stats
from tables.errors import InvalidMessage
from tables.listen import Listen
from tables.store import user_events_topic, user_history

log = logging.getLogger(__name__)
WEIGHTS = settings.event_weights()


def apply(history: dict[str, Any] | None, listen: Listen, offset: int) -> dict[str, Any]:
    """Return ``history`` with ``listen`` (at ``offset``) applied; unchanged when already applied.

    >>> h = apply(None, Listen("u", "a", "play", 3, 0.0), offset=7)
    >>> h = apply(h, Listen("u", "a", "skip", 1, 1.0), offset=8)
    >>> apply(h, Listen("u", "a", "play", 3, 0.0), offset=7) == h
    True
    >>> h["items"], h["events"]
    ({'a': 2.0}, 2)
    """
    if history is None:
        history = {"items": {}, "events": 0, "offset": -1}
    if offset <= history["offset"]:
        return history
    items = dict(history["items"])
    items[listen.item_id] = items.get(listen.item_id, 0.0) + WEIGHTS[listen.event] * listen.count
    return {"items": items, "events": history["events"] + 1, "offset": offset}


def parse(event: EventT) -> Listen:
    """Return the listen in ``event``, checked to be keyed by its user (the table is partitioned by user)."""
    listen = Listen.from_bytes(event.message.value, settings.max_message_bytes)
    require_user_key(event, listen.user_id)
    return listen


@app.agent(user_events_topic)
async def process_listens(stream: StreamT) -> None:
    """Apply every valid listening event to its user's history; dead-letter the rest.

    Controls arrive on the same stream (see :mod:`agents.controls`), each applied where it came.
    """
    async for events in stream.take_events(settings.batch_size, within=settings.batch_seconds):
        stats.record_batch(events)
        changed: dict[str, tuple[EventT, dict[str, Any]]] = {}
        controlled: dict[str, tuple[EventT, dict[str, Any]]] = {}
        for event in events:
            if is_control(event):
                await handle_control(event, changed, controlled)
                continue
            try:
                listen = parse(event)
            except InvalidMessage as exc:
                await send_dead_letter(event, str(exc))
                continue
            previous = changed[listen.user_id][1] if listen.user_id in changed else user_history.get(listen.user_id)
            changed[listen.user_id] = (event, apply(previous, listen, event.message.offset))
        for user_id, (event, history) in changed.items():
            with under_event(event):
                user_history[user_id] = history
        await publish_recommendations({**controlled, **changed})
