"""When a changed user's list is ranked: at once while the worker keeps up, at most once per interval when it falls behind.

Ranking a list costs several times what applying an event does. While a worker keeps up (its
newest event waited less than ``behind_s``), every changed user is ranked in the batch that changed
them. When it falls behind, a user whose list went out less than the interval ago is held, and ranked
once the interval has passed, with every event that came meanwhile; the interval is ``interval_s``
or, when the events already waited longer, ``LAG_SHARE`` of that wait: a list that is seconds late
anyway loses little by waiting a little longer, and the fewer lists let the worker catch up. The
events, never dropped, are applied as they come. Kafka Streams' record cache coalesces a key's
updates until the commit interval the same way.

A held user keeps the produce time of the *oldest* event its next list will be the first to
reflect, so that the latency measured from it is the longest any of those events waited.

>>> schedule = ListSchedule(interval_s=1.0, behind_s=0.1)
>>> sorted(schedule.due({"a": 10.0, "b": 10.0}, now=10.05))
['a', 'b']
>>> schedule.due({"a": 10.5}, now=10.9), schedule.held
({}, 1)
>>> schedule.due({"a": 10.8}, now=11.2)
{'a': 10.5}
>>> schedule.due({"b": 1.0}, now=15.0), schedule.wait_s
({}, 7.0)
>>> schedule.flush(now=15.05), schedule.flush(now=16.0), schedule.wait_s
({}, {'b': 1.0}, 1.0)
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping


# The share of the events' wait that a held user's list may wait more, when that is over the interval.
LAG_SHARE = 0.5


class ListSchedule:
    """Which changed users to rank now; ``due`` and ``flush`` return user id → the produce time to report."""

    def __init__(self, interval_s: float, behind_s: float) -> None:
        self.interval_s = interval_s
        self.behind_s = behind_s
        self._sent: dict[str, float] = {}
        # held user → (produce time to report, when their last list went out)
        self._held: dict[str, tuple[float, float]] = {}
        # (when the list went out, user) of the held users, earliest first: the users a flush
        # releases are a prefix of it, so a flush costs what it releases, not every held user (a
        # scan of them all took a fifth of a worker behind on 5,000 users)
        self._queue: list[tuple[float, str]] = []
        self.wait_s = interval_s
        self._changed_at = float("-inf")

    @property
    def held(self) -> int:
        """Return how many users wait for their interval to pass."""
        return len(self._held)

    def due(self, changed: Mapping[str, float], now: float) -> dict[str, float]:
        """Return the users of ``changed`` (user → produce time of their last event) to rank now,
        with the held users whose interval has passed; hold the others; count the returned as sent."""
        lag = now - max(changed.values()) if changed else 0.0
        behind = self.interval_s > 0 and lag > self.behind_s
        self.wait_s = max(self.interval_s, LAG_SHARE * lag) if behind else self.interval_s
        self._changed_at = now if changed else self._changed_at
        ready = self.flush(now)
        for user_id, produced_at in changed.items():
            if user_id in ready:
                continue
            held = self._held.get(user_id)
            if held is None:
                held = (produced_at, self._sent.get(user_id, float("-inf")))
            if behind and now - held[1] < self.wait_s:
                if user_id not in self._held:
                    self._held[user_id] = held
                    heapq.heappush(self._queue, (held[1], user_id))
            else:
                self._held.pop(user_id, None)
                ready[user_id] = min(held[0], ready.get(user_id, held[0]))
        self._mark_sent(ready, now)
        return ready

    def flush(self, now: float) -> dict[str, float]:
        """Return (and release) the held users whose interval has passed; count them as sent.

        No change for ``behind_s`` means the worker has caught up: the interval is ``interval_s`` again.
        """
        if now - self._changed_at > self.behind_s:
            self.wait_s = self.interval_s
        ready: dict[str, float] = {}
        queue = self._queue
        while queue and now - queue[0][0] >= self.wait_s:
            sent_at, user_id = heapq.heappop(queue)
            # An entry whose user was released meanwhile (and maybe held again since) is stale.
            held = self._held.get(user_id)
            if held is not None and held[1] == sent_at:
                ready[user_id] = held[0]
                del self._held[user_id]
        self._mark_sent(ready, now)
        return ready

    def _mark_sent(self, users: Iterable[str], now: float) -> None:
        for user_id in users:
            self._sent[user_id] = now
        # Only the users sent within the interval can be held: older entries decide nothing.
        if len(self._sent) > 4 * max(len(self._held), 1024):
            self._sent = {u: t for u, t in self._sent.items() if now - t < self.wait_s}
