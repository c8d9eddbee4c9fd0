"""Check that a message about a user is keyed by that user.

A user's state lives in the partition of their key; a message keyed otherwise would update a
copy of the user on another partition (or another worker), so it is refused instead.
"""

from __future__ import annotations

from faust.types import EventT

from tables.errors import InvalidMessage


def require_user_key(event: EventT, user_id: str) -> None:
    """Raise InvalidMessage unless ``event``'s key is ``user_id``."""
    key = event.message.key
    if key is None or key.decode(errors="replace") != user_id:
        raise InvalidMessage(
            f"key {key!r:.40} is not the user_id {user_id!r:.40}; {event.message.topic} are keyed by user"
        )
