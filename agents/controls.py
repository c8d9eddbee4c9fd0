"""Listener controls and playlist requests, applied by the listens agent in order with the listens.

``controls`` is co-partitioned with ``listens`` and read by the same agent, so a control is
applied between the user's listens exactly where it arrived, next to the user's state, and the
user's next list (sent in the same batch) honours it:

- ``opt_out`` / ``opt_in``, ``exclude_artist`` / ``include_artist``, ``diversity``: the user's
  state in ``user_controls``; the user's list is ranked again and sent.
- ``forget``: the user's key is deleted from every user table (:data:`tables.store.USER_TABLES`),
  which writes a tombstone to each changelog; a popular-only list is sent and not stored.
- ``playlist``: the user's Discover Weekly or emerging list of the current period is made (or
  handed out again), recorded in ``user_playlists`` and sent to ``playlists``.

A crontab (``STREAMPROC_DISCOVER_CRON`` in ``STREAMPROC_TIMEZONE``) sends a ``playlist`` request
of each kind for every user of the partitions this worker owns, so that the table writes happen
under an event of the user's partition like any other.
"""

from __future__ import annotations

import logging
from typing import Any

from faust.types import EventT

from agents.dead_letters import send_dead_letter
from agents.event_context import under_event
from agents.user_key import require_user_key
from streamproc.app import app, recommender
from streamproc.recommend.playlists import next_playlist, schedule
from streamproc.settings import settings
from tables.codec import encode
from tables.control import PLAYLIST_KINDS, Control, apply_control
from tables.errors import InvalidMessage
from tables.store import (
    USER_TABLES,
    controls_topic,
    playlists_topic,
    user_controls,
    user_history,
    user_playlists,
)
from tables.topics import CONTROLS

log = logging.getLogger(__name__)
EMPTY_HISTORY = {"items": {}, "events": 0, "offset": -1}

# Ranking reads each user's controls from the table, local since it is co-partitioned.
recommender.controls = user_controls
ZONE = schedule(settings.discover_cron, settings.timezone)


def is_control(event: EventT) -> bool:
    """Return True when ``event`` came from the ``controls`` topic."""
    return event.message.topic == CONTROLS


def parse(event: EventT) -> Control:
    """Return the control in ``event``, checked to be keyed by its user."""
    control = Control.from_bytes(event.message.value, settings.max_message_bytes)
    require_user_key(event, control.user_id)
    return control


async def handle_control(event: EventT, changed: dict[str, tuple[EventT, dict[str, Any]]],
                         controlled: dict[str, tuple[EventT, dict[str, Any]]]) -> None:
    """Apply the control in ``event``; users whose list must be ranked again go into ``controlled``.

    ``changed`` holds the histories of this batch not yet written (user → (event, history)).
    """
    try:
        control = parse(event)
    except InvalidMessage as exc:
        await send_dead_letter(event, str(exc))
        return
    user_id = control.user_id
    if control.action == "forget":
        forget(event, user_id, changed, controlled)
    elif control.action == "playlist":
        history = changed[user_id][1] if user_id in changed else user_history.get(user_id) or EMPTY_HISTORY
        message, record = next_playlist(
            recommender, user_id, history["items"], control.kind, user_playlists.get(user_id),
            tz=ZONE,
        )
        with under_event(event):
            user_playlists[user_id] = record
        reply = {**message, "request_id": control.request_id} if control.request_id else message
        await playlists_topic.send(key=user_id.encode(), value=encode(reply))
    else:
        state = apply_control(user_controls.get(user_id), control, event.message.offset)
        with under_event(event):
            user_controls[user_id] = state
        if user_id not in changed:
            controlled[user_id] = (event, user_history.get(user_id) or EMPTY_HISTORY)


def forget(event: EventT, user_id: str, changed: dict, controlled: dict) -> None:
    """Delete the user from every user table: tombstones on the changelogs, ``recommendations`` included."""
    changed.pop(user_id, None)
    controlled.pop(user_id, None)
    with under_event(event):
        for table in USER_TABLES:
            if user_id in table:
                del table[user_id]
    log.info("forgot user %r", user_id)


@app.crontab(settings.discover_cron, timezone=ZONE)
async def refresh_playlists() -> None:
    """Ask for this period's playlists of every user of the partitions this worker owns."""
    users = [key.decode() if isinstance(key, bytes) else key for key in list(user_history.keys())]
    for user_id in users:
        for kind in PLAYLIST_KINDS:
            control = Control(user_id, "playlist", kind=kind)
            await controls_topic.send(key=user_id.encode(), value=control.to_bytes())
    log.info("playlists: asked for %d users' lists", len(users))
