"""When a changed user's list is ranked: at once while the worker keeps up, at most once per interval of stream time when it falls behind.

Ranking a list costs several times what applying an event does. While a worker keeps up (its
newest event waited less than ``behind_s``, and less than ``behind_records`` more events wait on the
broker behind the batch), every changed user is ranked in the batch that changed them. When it falls
behind, a user whose last list went out less than ``interval_s`` of *stream
time* ago is held: stream time is the newest produce time the worker has applied, as in Kafka
Streams, so it moves with the events, not with the clock. A held user is ranked once stream time
has moved on by the interval, with every event that came meanwhile, or as soon as the worker has
caught up. The events, never dropped, are applied as they come.

Counting the interval in stream time makes the lists a backlog costs a property of the backlog:
a user gets one list per interval of the events' own time, whether one worker works the backlog off
slowly or four do it fast. On the clock, the faster workers would send more lists for the same
events, and what an event costs would depend on how many workers share the load.

A held user keeps the produce time of the *oldest* event its next list will be the first to
reflect, so that the latency measured from it is the longest any of those events waited.

>>> schedule = ListSchedule(interval_s=1.0, behind_s=0.1)
>>> sorted(schedule.due({"a": 10.0, "b": 10.0}, now=10.05))
['a', 'b']
>>> schedule.due({"a": 10.5}, now=12.0), schedule.held
({}, 1)
>>> schedule.due({"b": 11.0}, now=13.0)
{'a': 10.5, 'b': 11.0}
>>> schedule.due({"a": 11.2}, now=13.1), schedule.flush(now=13.15), schedule.flush(now=13.3)
({}, {}, {'a': 11.2})
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping


class ListSchedule:
    """Which changed users to rank now; ``due`` and ``flush`` return user id → the produce time to report."""

    def __init__(self, interval_s: float, behind_s: float, behind_records: int = 1000) -> None:
        self.interval_s = interval_s
        self.behind_s = behind_s
        self.behind_records = behind_records
        self.stream_time = float("-inf")
        # user → the stream time when their last list went out
        self._sent: dict[str, float] = {}
        # held user → (produce time to report, the stream time when their last list went out)
        self._held: dict[str, tuple[float, float]] = {}
        # (stream time the list went out, user) of the held users, earliest first: the users a
        # flush releases are a prefix of it, so a flush costs what it releases, not every held user
        # (a scan of them all took a fifth of a worker behind on 5,000 users)
        self._queue: list[tuple[float, str]] = []
        self._behind = False
        self._changed_at = float("-inf")

    @property
    def held(self) -> int:
        """Return how many users wait for stream time to move on."""
        return len(self._held)

    def due(self, changed: Mapping[str, float], now: float, unread: int = 0) -> dict[str, float]:
        """Return the users of ``changed`` (user → produce time of their last event) to rank now,
        with the held users that are due; hold the others; count the returned as sent.

        ``unread``: the events that wait on the broker behind the batch that changed them. A backlog
        is behind from its first batch, however fresh its events: else each worker sharing it would
        rank every user of its first batches.
        """
        if changed:
            newest = max(changed.values())
            self.stream_time = max(self.stream_time, newest)
            self._behind = self.interval_s > 0 and (now - newest > self.behind_s or unread >= self.behind_records)
            self._changed_at = now
        ready = self.flush(now)
        for user_id, produced_at in changed.items():
            if user_id in ready:
                continue
            held = self._held.get(user_id)
            if held is None:
                held = (produced_at, self._sent.get(user_id, float("-inf")))
            if self._behind and self.stream_time - held[1] < self.interval_s:
                if user_id not in self._held:
                    self._held[user_id] = held
                    heapq.heappush(self._queue, (held[1], user_id))
            else:
                self._held.pop(user_id, None)
                ready[user_id] = held[0]
        self._mark_sent(ready)
        return ready

    def flush(self, now: float) -> dict[str, float]:
        """Return (and release) the held users that are due; count them as sent.

        Every held user is due once the worker has caught up: its newest events waited less than
        ``behind_s``, or nothing new came for ``behind_s``. Until then, those whose last list went out
        at least ``interval_s`` of stream time ago.
        """
        if now - self._changed_at > self.behind_s:
            self._behind = False
        ready: dict[str, float] = {}
        queue = self._queue
        while queue and (not self._behind or self.stream_time - queue[0][0] >= self.interval_s):
            sent_at, user_id = heapq.heappop(queue)
            # An entry whose user was released meanwhile (and maybe held again since) is stale.
            held = self._held.get(user_id)
            if held is not None and held[1] == sent_at:
                ready[user_id] = held[0]
                del self._held[user_id]
        self._mark_sent(ready)
        return ready

    def _mark_sent(self, users: Iterable[str]) -> None:
        for user_id in users:
            self._sent[user_id] = self.stream_time
        # Only the users sent within the interval can be held: older entries decide nothing.
        if len(self._sent) > 4 * max(len(self._held), 1024):
            self._sent = {u: t for u, t in self._sent.items() if self.stream_time - t < self.interval_s}
