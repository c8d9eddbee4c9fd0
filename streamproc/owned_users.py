"""The users of the ``listens`` partitions this worker owns, and the latest list sent to each.

Only these users are in a worker's memory: the state of a partition comes with its assignment
(loaded from the user-state log) and goes with it. Lists are kept as the bytes sent, with the
model version that ranked them, so a new model re-ranks exactly the users whose list is older.

>>> from tables.user_state import PartitionState
>>> owned = OwnedUsers()
>>> owned.partitions[3] = PartitionState(3, {"play": 1.0})
>>> _ = owned.partitions[3].apply("u1", "a", "play", 1, offset=0)
>>> owned.latest["u1"] = Sent(b"{}", 2, frozenset({"b"}))
>>> owned.shown("u1", "b"), owned.shown("u1", "a"), owned.shown("u2", "b")
(True, False, False)
>>> owned.find("u1").partition, owned.history("u1"), owned.keep_only({1}), owned.latest
(3, {'a': 1.0}, [3], {})
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import NamedTuple

from tables.user_state import PartitionState


class Sent(NamedTuple):
    """The latest list sent to a user: the message, the model version that ranked it, its items and
    which of them are exploration picks."""

    message: bytes
    version: int
    items: frozenset[str]
    explored: frozenset[str] = frozenset()


class OwnedUsers:
    """Partition → its users' state; user id → the latest list :class:`Sent`."""

    def __init__(self) -> None:
        self.partitions: dict[int, PartitionState] = {}
        self.latest: dict[str, Sent] = {}
        # The partitions of the latest assignment; None outside a consumer group (a test context),
        # where whatever arrives is this worker's.
        self.assigned: set[int] | None = None
        self.locks: dict[int, asyncio.Lock] = {}

    def lock(self, partition: int) -> asyncio.Lock:
        """Return the lock held while ``partition`` loads."""
        return self.locks.setdefault(partition, asyncio.Lock())

    def find(self, user_id: str) -> PartitionState | None:
        """Return the state of the owned partition that holds ``user_id``, or None."""
        for state in self.partitions.values():
            if user_id in state.users:
                return state
        return None

    def history(self, user_id: str) -> dict[str, float] | None:
        """Return the user's item → confidence, or None when no owned partition holds them."""
        state = self.find(user_id)
        return state.history(user_id) if state is not None else None

    def skips(self, user_id: str) -> dict[str, int]:
        """Return the user's item → skips of the items they only skipped (empty when not held here)."""
        state = self.find(user_id)
        return state.skips(user_id) if state is not None else {}

    def shown(self, user_id: str, item_id: str) -> bool:
        """Return True when ``item_id`` is on the latest list sent to ``user_id``."""
        sent = self.latest.get(user_id)
        return sent is not None and item_id in sent.items

    def explored(self, user_id: str, item_id: str) -> bool:
        """Return True when ``item_id`` is an exploration pick of the latest list sent to ``user_id``."""
        sent = self.latest.get(user_id)
        return sent is not None and item_id in sent.explored

    def users(self) -> int:
        """Return how many users the owned partitions hold."""
        return sum(len(state) for state in self.partitions.values())

    def owns(self, partition: int) -> bool:
        """Return True when ``partition`` is this worker's as of the latest assignment."""
        return self.assigned is None or partition in self.assigned

    def revoke(self) -> None:
        """Own no partition until the next :meth:`keep_only`, keeping the users held: a rebalance mostly
        gives a worker back the partitions it had."""
        self.assigned = set()

    def keep_only(self, partitions: Iterable[int]) -> list[int]:
        """Own exactly ``partitions`` from now on: drop every other one, with its users' lists; return those dropped."""
        keep = self.assigned = set(partitions)
        dropped = [p for p in self.partitions if p not in keep]
        for partition in dropped:
            for user_id in self.partitions.pop(partition).users:
                self.latest.pop(user_id, None)
        return dropped
