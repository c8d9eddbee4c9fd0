"""Every user's interaction history, as the global view the factor model trains on.

Histories are replaced whole, never mutated in place, so a shallow copy of the mapping is a
consistent snapshot that a training thread may read while the event loop goes on.

>>> interactions = Interactions()
>>> interactions.put("u1", {"a": 3.0, "b": -1.0}, events=4)
>>> interactions.put("u2", {"a": 1.0}, events=1)
>>> interactions.item_users("a"), interactions.total_events
(2, 5)
>>> matrix, users, items = to_csr(interactions.snapshot())
>>> matrix.toarray().tolist(), users, items
([[3.0], [1.0]], ['u1', 'u2'], ['a'])
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

History = Mapping[str, float]


class Interactions:
    """User → {item → accumulated confidence}, with event and popularity counts kept up to date."""

    def __init__(self) -> None:
        self._histories: dict[str, History] = {}
        self._events: dict[str, int] = {}
        self._item_users: Counter[str] = Counter()
        self.total_events = 0
        self.version = 0

    def __len__(self) -> int:
        return len(self._histories)

    def put(self, user_id: str, history: History | None, events: int = 0) -> None:
        """Replace ``user_id``'s history (None deletes the user)."""
        old = self._histories.pop(user_id, {})
        self._item_users.subtract(item for item, r in old.items() if r > 0)
        self.total_events -= self._events.pop(user_id, 0)
        if history is not None:
            self._histories[user_id] = history
            self._events[user_id] = events
            self._item_users.update(item for item, r in history.items() if r > 0)
            self.total_events += events
        self.version += 1

    def get(self, user_id: str) -> History | None:
        """Return the user's history, or None when unknown."""
        return self._histories.get(user_id)

    def events(self, user_id: str) -> int:
        """Return how many events the user's history counts (0 when unknown)."""
        return self._events.get(user_id, 0)

    def item_users(self, item_id: str) -> int:
        """Return how many users have a positive interaction with ``item_id``."""
        return max(self._item_users[item_id], 0)

    def item_popularity(self) -> Counter[str]:
        """Return item → number of users with a positive interaction."""
        return +self._item_users

    def snapshot(self) -> list[tuple[str, History]]:
        """Return the histories as they are now, safe to read from another thread."""
        return list(self._histories.items())


def to_csr(histories: list[tuple[str, History]]) -> tuple[sp.csr_matrix, list[str], list[str]]:
    """Return the users × items matrix of positive confidences, with its user and item ids."""
    item_index: dict[str, int] = {}
    users: list[str] = []
    indptr = [0]
    indices: list[int] = []
    data: list[float] = []
    for user_id, history in histories:
        positive = [(item_index.setdefault(item, len(item_index)), r) for item, r in history.items() if r > 0]
        if not positive:
            continue
        users.append(user_id)
        for column, r in sorted(positive):
            indices.append(column)
            data.append(r)
        indptr.append(len(indices))
    matrix = sp.csr_matrix(
        (np.asarray(data, np.float32), np.asarray(indices, np.int32), np.asarray(indptr, np.int64)),
        shape=(len(users), len(item_index)),
    )
    return matrix, users, list(item_index)
