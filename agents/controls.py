"""The controls agent: listener controls and playlist requests, each applied next to its user's state.

``controls`` is co-partitioned with ``listens``: the worker that owns a user's listens partition is
assigned the same ``controls`` partition by Faust's group (:mod:`agents.partitions`), so a control
is applied where the user's state is, and the user's next list (sent with the batch) honours it:

- ``opt_out`` / ``opt_in``, ``exclude_artist`` / ``include_artist``, ``diversity``: the user's
  state in ``user_controls``; the user's list is ranked again and sent. The trainer reads the
  table's changelog: an opted-out user's history leaves the next model.
- ``forget``: the user's history goes, with a ``forget`` marker on the user-state log (so neither
  a restore nor the trainer brings it back), their key is deleted from every user table
  (:data:`tables.store.USER_TABLES`, a tombstone on each changelog), and a tombstone goes to
  ``recommendations``.
- ``playlist``: the user's Discover Weekly or emerging list of the current period is made (or
  handed out again), recorded in ``user_playlists`` and sent to ``playlists``.

A crontab (``STREAMPROC_DISCOVER_CRON`` in ``STREAMPROC_TIMEZONE``) sends a ``playlist`` request
of each kind for every user of the partitions this worker owns, so that the table writes happen
under an event of the user's partition like any other.
"""

from __future__ import annotations

import logging
import time

from faust.types import EventT, StreamT

from agents.dead_letters import send_dead_letter
from agents.event_context import under_event
from agents.partitions import ensure_loaded, still_owned
from agents.ranking import publish_recommendations
from streamproc.app import app
from streamproc.recommend.playlists import next_playlist, schedule
from streamproc.runtime import runtime
from streamproc.settings import settings
from streamproc.stats import stats
from tables.codec import encode, require_key
from tables.control import PLAYLIST_KINDS, Control, apply_control
from tables.errors import InvalidMessage
from tables.store import USER_TABLES, controls_topic, playlists_topic, recommendations_topic, user_controls, user_playlists
from tables.topics import CONTROLS

log = logging.getLogger(__name__)
ZONE = schedule(settings.discover_cron, settings.timezone)


@app.agent(controls_topic)
async def process_controls(stream: StreamT) -> None:
    """Apply every control of this worker's partitions; rank again the users whose list one changed."""
    # Faust's take wakes every window even when no control comes: at 10 ms, a sixth of an idle
    # worker's event-loop time went to these wake-ups (py-spy); controls come seldom.
    async for batch in stream.take_events(settings.batch_size, within=settings.batch_seconds):
        events = still_owned(batch, [event.message.partition for event in batch])
        stats.record_batch(event.message for event in events)
        await ensure_loaded({event.message.partition for event in events})
        changed: dict[str, float] = {}
        for event in events:
            await handle_control(event, changed)
        await publish_recommendations(changed)


def parse(event: EventT) -> Control:
    """Return the control in ``event``, checked to be keyed by its user."""
    control = Control.from_bytes(event.message.value, settings.max_message_bytes)
    require_key(event.message.key, control.user_id, CONTROLS)
    return control


async def handle_control(event: EventT, changed: dict[str, float]) -> None:
    """Apply the control in ``event``; users whose list must be ranked again go into ``changed`` (user →
    the control's produce time)."""
    try:
        control = parse(event)
    except InvalidMessage as exc:
        await send_dead_letter(event.message, str(exc))
        return
    user_id = control.user_id
    if control.action == "forget":
        await forget(event, user_id, changed)
    elif control.action == "playlist":
        state = runtime.owned.partitions[event.message.partition]
        message, record = next_playlist(
            runtime.recommender, user_id, state.history(user_id) or {}, control.kind, user_playlists.get(user_id),
            tz=ZONE, skipped=state.skips(user_id),
        )
        with under_event(event):
            user_playlists[user_id] = record
        reply = {**message, "request_id": control.request_id} if control.request_id else message
        await playlists_topic.send(key=user_id.encode(), value=encode(reply))
    else:
        state = apply_control(user_controls.get(user_id), control, event.message.offset)
        with under_event(event):
            user_controls[user_id] = state
        changed[user_id] = event.message.timestamp or time.time()


async def forget(event: EventT, user_id: str, changed: dict[str, float]) -> None:
    """Forget the user: history (with its marker, written before going on), tables and list."""
    changed.pop(user_id, None)
    await runtime.state_log.forget(runtime.owned.partitions[event.message.partition], user_id)
    runtime.owned.latest.pop(user_id, None)
    with under_event(event):
        for table in USER_TABLES:
            if user_id in table:
                del table[user_id]
    recommendations_topic.send_soon(key=user_id.encode(), value=None)
    log.info("forgot user %r", user_id)


@app.crontab(settings.discover_cron, timezone=ZONE)
async def refresh_playlists() -> None:
    """Ask for this period's playlists of every user of the partitions this worker owns."""
    users = [user_id for state in list(runtime.owned.partitions.values()) for user_id in list(state.users)]
    for user_id in users:
        for kind in PLAYLIST_KINDS:
            control = Control(user_id, "playlist", kind=kind)
            await controls_topic.send(key=user_id.encode(), value=control.to_bytes())
    log.info("playlists: asked for %d users' lists", len(users))
