"""The ``listens`` message: one listening event of one user on one item.

>>> event = Listen.from_bytes(b'{"user_id": "u1", "item_id": "t9", "event": "play", "count": 3, "ts": 1.5}')
>>> event.count, event.to_dict()["event"]
(3, 'play')
>>> Listen.from_bytes(b'{"user_id": "u1", "item_id": "t9", "event": "hum"}')
Traceback (most recent call last):
...
tables.errors.InvalidMessage: 'event' must be one of like, play, playlist_add, skip; got 'hum'
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from tables.codec import decode_object, encode, optional_number, require_key, require_str
from tables.errors import InvalidMessage

EVENTS = ("play", "skip", "like", "playlist_add")
MAX_COUNT = 1_000_000


@dataclasses.dataclass(frozen=True)
class Listen:
    """A listening event, keyed by ``user_id`` on the ``listens`` topic."""

    user_id: str
    item_id: str
    event: str = "play"
    count: int = 1
    ts: float = dataclasses.field(default_factory=time.time)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> "Listen":
        """Return the validated event in ``obj``; raise InvalidMessage with the reason."""
        event = obj.get("event", "play")
        if event not in EVENTS:
            raise InvalidMessage(
                f"'event' must be one of {', '.join(sorted(EVENTS))}; got {event!r:.40}"
            )
        count = obj.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int):
            raise InvalidMessage(f"'count' must be an integer, got {count!r:.40}")
        if not 1 <= count <= MAX_COUNT:
            raise InvalidMessage(f"'count' must be between 1 and {MAX_COUNT}, got {count}")
        ts = optional_number(obj, "ts", None)
        return cls(
            user_id=require_str(obj, "user_id"),
            item_id=require_str(obj, "item_id"),
            event=event,
            count=count,
            ts=time.time() if ts is None else float(ts),
        )

    @classmethod
    def from_bytes(cls, raw: bytes | None, max_bytes: int | None = None) -> "Listen":
        """Return the event encoded in ``raw``; raise InvalidMessage with the reason."""
        return cls.from_dict(decode_object(raw, max_bytes))

    @classmethod
    def keyed(cls, key: bytes | None, raw: bytes | None, max_bytes: int | None = None) -> "Listen":
        """Return the event in ``raw``, checked to be keyed by its user; raise InvalidMessage with the reason."""
        listen = cls.from_bytes(raw, max_bytes)
        require_key(key, listen.user_id, "listens")
        return listen

    def to_dict(self) -> dict[str, Any]:
        """Return the event as its JSON object."""
        return dataclasses.asdict(self)

    def to_bytes(self) -> bytes:
        """Return the event as UTF-8 JSON."""
        return encode(self.to_dict())
