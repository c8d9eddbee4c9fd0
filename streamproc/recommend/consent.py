"""Keep opted-out users out of the global view the factor model trains on, until they opt back in.

The changelog feed hands every history and control-state record to a :class:`ConsentView`; an
opted-out user's history is held aside instead of entering the interactions, so it feeds neither
the next model nor popularity, and comes back when the user opts in. A forgotten user's records
are tombstones on both changelogs, so nothing of them is held.

>>> from streamproc.recommend.interactions import Interactions
>>> view = ConsentView(Interactions())
>>> view.put_history("u1", {"a": 2.0}, 1)
>>> view.put_controls("u1", {"opted_out": True})
>>> len(view.interactions), view.put_history("u1", {"a": 3.0}, 2), len(view.interactions)
(0, None, 0)
>>> view.put_controls("u1", None)
>>> view.interactions.get("u1")
{'a': 3.0}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streamproc.recommend.interactions import History, Interactions


class ConsentView:
    """Applies history and control-state changelog records to ``interactions``, honouring opt-outs.

    ``on_change`` is called whenever a user leaves or rejoins the view (an opt-out, an opt-in, a
    forgotten history), so that the model can be trained again without (or with) them.
    """

    def __init__(self, interactions: Interactions, on_change: Callable[[], None] | None = None) -> None:
        self.interactions = interactions
        self.on_change = on_change or (lambda: None)
        self.opted_out: set[str] = set()
        self._held: dict[str, tuple[History, int]] = {}

    def put_history(self, user_id: str, items: History | None, events: int = 0) -> None:
        """Apply a ``user_history`` record (None: a tombstone)."""
        if user_id in self.opted_out:
            if items is None:
                self._held.pop(user_id, None)
            else:
                self._held[user_id] = (items, events)
            return
        if items is None and self.interactions.get(user_id) is not None:
            self.on_change()
        self.interactions.put(user_id, items, events)

    def put_controls(self, user_id: str, state: dict[str, Any] | None) -> None:
        """Apply a ``user_controls`` record (None: a tombstone, the defaults)."""
        out = bool(state and state.get("opted_out"))
        if out and user_id not in self.opted_out:
            self.opted_out.add(user_id)
            history = self.interactions.get(user_id)
            if history is not None:
                self._held[user_id] = (history, self.interactions.events(user_id))
                self.interactions.put(user_id, None)
                self.on_change()
        elif not out and user_id in self.opted_out:
            self.opted_out.discard(user_id)
            held = self._held.pop(user_id, None)
            if held is not None:
                self.interactions.put(user_id, *held)
                self.on_change()
