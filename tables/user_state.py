"""The users of one ``listens`` partition, and the ``user-state`` log records that persist them.

A :class:`PartitionState` holds each user's item totals, event count and skips (per item the user
never played, liked or playlist-added, how many times they skipped it: :func:`add_event`), and the
offset of ``listens`` it has applied through: an event at or below it is a redelivery and changes
nothing. A user's record is ``[events, {item: total}, {item: skips}]``; snapshots written before
skips were counted hold ``[events, {item: total}]`` and still load, their skips unknown (so their
skipped items stay left out of the lists, as they were then).
Its log (one ``{app_id}-user-state`` partition per ``listens`` partition) holds, in order:

- ``snapshot`` chunks: the whole state, zlib-compressed JSON cut into ``CHUNK_BYTES`` pieces;
- a ``commit`` once every chunk of a snapshot is stored, naming the snapshot's first offset;
- a ``forget`` marker whenever a user asks to be forgotten, with the ``listens`` offset applied by then.

Every record's ``base`` header is the first offset of the newest committed snapshot, so a reader
goes to the last record, then to its base, and reads from there on: never the log's history.
The events after the snapshot are replayed from ``listens``; a forgotten user's events up to
their marker's offset are not. A snapshot is written when the events since the last one, at
``bytes_per_event`` each, would pay for one as big as the last, so that the bytes written per
event stay bounded however long the histories grow; or once the oldest event not in a snapshot
is older than a maximum age, so that ``listens`` need only be retained that long for a replay.

>>> state = PartitionState(0, {"play": 1.0, "skip": -1.0})
>>> state.apply("u1", "a", "play", 3, offset=5), state.apply("u1", "a", "play", 3, offset=5)
(True, False)
>>> restored = PartitionState.from_records(state.snapshot_records(base=-1), partition=0, weights=state.weights)
>>> _ = state.apply("u1", "b", "skip", 1, offset=6), state.apply("u1", "a", "skip", 1, offset=7)
>>> restored = PartitionState.from_records(state.snapshot_records(base=-1), partition=0, weights=state.weights)
>>> restored.history("u1"), restored.skips("u1"), restored.events("u1"), restored.through
({'a': 2.0, 'b': -1.0}, {'b': 1}, 3, 7)
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

FORMAT = 1
CHUNK_BYTES = 512 * 1024
# The first snapshot, when the last one's size says nothing yet, after this many events.
FIRST_SNAPSHOT_EVENTS = 500


class LogRecord(NamedTuple):
    """One record of a ``user-state`` partition: its headers (str → str), value and offset."""

    headers: dict[str, str]
    value: bytes | None
    offset: int = -1


def add_event(totals: dict[str, float], skips: dict[str, int], item_id: str, weight: float, count: int) -> None:
    """Add an event of ``weight`` (``count`` times the event's weight) on ``item_id`` to a user's ``totals``
    and ``skips``: a negative one is ``count`` skips, counted while the user never had a positive event
    of the item; a positive one makes the item played, its skips forgotten.

    >>> totals, skips = {}, {}
    >>> add_event(totals, skips, "a", -2.0, 2)  # two skips of a
    >>> add_event(totals, skips, "b", 1.0, 1)
    >>> add_event(totals, skips, "b", -1.0, 1)  # b was played: this skip counts in its total only
    >>> totals, skips
    ({'a': -2.0, 'b': 0.0}, {'a': 2})
    >>> add_event(totals, skips, "a", 5.0, 1)  # a like: a is played now
    >>> totals, skips
    ({'a': 3.0, 'b': 0.0}, {})
    """
    if weight > 0:
        skips.pop(item_id, None)
    elif weight < 0 and (item_id not in totals or item_id in skips):
        skips[item_id] = skips.get(item_id, 0) + count
    totals[item_id] = totals.get(item_id, 0.0) + weight


class PartitionState:
    """Users of one partition: user id → [events, {item id: confidence}, {item id: skips}], applied
    through ``through``."""

    def __init__(self, partition: int, weights: Mapping[str, float]) -> None:
        self.partition = partition
        self.weights = weights
        self.users: dict[str, list[Any]] = {}
        self.through = -1
        # the first offset of the snapshot this state was loaded from (-1: none)
        self.base = -1
        # user id → the ``listens`` offset through which their events were forgotten (markers after the snapshot)
        self.forgotten: dict[str, int] = {}
        self.events_since_snapshot = 0
        # when the first event not in a snapshot was applied (time.monotonic())
        self.unsaved_since = 0.0
        self.snapshot_bytes = 0

    def __len__(self) -> int:
        return len(self.users)

    def apply(self, user_id: str, item_id: str, event: str, count: int, offset: int) -> bool:
        """Apply one listening event at ``offset``; return False when it was applied already (or forgotten)."""
        if offset <= self.through:
            return False
        self.through = offset
        if offset <= self.forgotten.get(user_id, -1):
            return False
        user = self.users.get(user_id)
        if user is None:
            user = self.users[user_id] = [0, {}, {}]
        elif len(user) == 2:  # loaded from a snapshot written before skips were counted
            user.append({})
        add_event(user[1], user[2], item_id, self.weights[event] * count, count)
        user[0] += 1
        if self.events_since_snapshot == 0:
            self.unsaved_since = time.monotonic()
        self.events_since_snapshot += 1
        return True

    def forget(self, user_id: str) -> LogRecord:
        """Delete the user and return the ``forget`` marker to append to the log (its base set by the writer)."""
        self.users.pop(user_id, None)
        return LogRecord({"kind": "forget", "through": str(self.through)}, user_id.encode())

    def void(self, user_id: str, through: int) -> None:
        """Delete the user, and make their events up to offset ``through`` count for nothing when replayed."""
        self.users.pop(user_id, None)
        self.forgotten[user_id] = max(through, self.forgotten.get(user_id, -1))

    def history(self, user_id: str) -> dict[str, float] | None:
        """Return the user's item → confidence, or None when the user has no events here."""
        user = self.users.get(user_id)
        return user[1] if user is not None else None

    def skips(self, user_id: str) -> dict[str, int]:
        """Return the user's item → skips, of the items they only ever skipped (empty when unknown)."""
        user = self.users.get(user_id)
        return user[2] if user is not None and len(user) > 2 else {}

    def events(self, user_id: str) -> int:
        """Return the events applied for the user (0 when unknown)."""
        user = self.users.get(user_id)
        return user[0] if user is not None else 0

    def total_events(self) -> int:
        """Return the events of every user of the partition."""
        return sum(user[0] for user in self.users.values())

    def skip(self, offset: int) -> None:
        """Note that the message at ``offset`` was not a listening event to apply (it was dead-lettered)."""
        self.through = max(self.through, offset)

    def snapshot_due(self, bytes_per_event: float, max_age_s: float = float("inf"),
                     now: float | None = None) -> bool:
        """Return True when the events since the last snapshot pay for a new one of the last one's size,
        or the oldest of them was applied more than ``max_age_s`` ago."""
        if self.events_since_snapshot == 0:
            return False
        if (time.monotonic() if now is None else now) - self.unsaved_since > max_age_s:
            return True
        if self.snapshot_bytes == 0:
            return self.events_since_snapshot >= FIRST_SNAPSHOT_EVENTS
        return self.events_since_snapshot * bytes_per_event >= self.snapshot_bytes

    def snapshot_records(self, base: int) -> list[LogRecord]:
        """Return the chunks of a snapshot of the state now (headers with the previous ``base``)."""
        payload = zlib.compress(json.dumps(
            {"format": FORMAT, "partition": self.partition, "through": self.through, "users": self.users},
            separators=(",", ":"), ensure_ascii=False).encode(), 1)
        pieces = [payload[i:i + CHUNK_BYTES] for i in range(0, len(payload), CHUNK_BYTES)] or [b""]
        self.events_since_snapshot = 0
        self.snapshot_bytes = len(payload)
        return [LogRecord({"kind": "snapshot", "chunk": str(i), "chunks": str(len(pieces)),
                           "through": str(self.through), "base": str(base)}, piece)
                for i, piece in enumerate(pieces)]

    @classmethod
    def from_records(cls, records: Iterable[LogRecord], partition: int,
                     weights: Mapping[str, float]) -> "PartitionState":
        """Return the state in ``records``: a log read from its newest committed snapshot on.

        The first complete snapshot is loaded; later ``forget`` markers delete their user and void
        the user's events up to the marker's offset; chunks of a snapshot never committed are ignored.
        """
        state = cls(partition, weights)
        chunks: list[bytes] = []
        loaded = False
        for record in records:
            kind = record.headers.get("kind")
            if kind == "snapshot" and not loaded:
                if record.headers["chunk"] == "0":
                    chunks = []
                chunks.append(record.value or b"")
                if len(chunks) == int(record.headers["chunks"]):
                    state._load(b"".join(chunks))
                    loaded = True
            elif kind == "forget":
                state.void((record.value or b"").decode(), int(record.headers["through"]))
        return state

    def _load(self, payload: bytes) -> None:
        snapshot = json.loads(zlib.decompress(payload)) if payload else {"through": -1, "users": {}}
        if snapshot.get("format", FORMAT) != FORMAT:
            raise ValueError(f"user-state snapshot format {snapshot['format']}, this code reads {FORMAT}")
        self.users = snapshot["users"]
        self.through = int(snapshot["through"])
        self.snapshot_bytes = len(payload)


def commit_record(start: int) -> LogRecord:
    """Return the record that commits the snapshot whose first chunk is at offset ``start``."""
    return LogRecord({"kind": "commit", "base": str(start)}, b"")


def base_of(record: LogRecord) -> int:
    """Return the offset to read a log from, given its last record (-1: no committed snapshot)."""
    return int(record.headers.get("base", "-1"))
