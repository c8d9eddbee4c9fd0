"""The live hit rate: the share of listens whose item was in that user's latest list when it arrived.

A worker counts, for every play, like or playlist-add of its users, whether the item was on the
list it last sent that user (a listener with no list yet counts as a miss). The figure over the
last minute says how well the lists serve right now; since start, how well they have served;
the series of ``BUCKET_S`` buckets draws the chart on the overview page. Skips are not counted: a
skipped recommendation is feedback, not a hit.

>>> now = [100.0]
>>> rate = HitRate(clock=lambda: now[0])
>>> rate.record(hits=1, listens=4)
>>> now[0] = 170.0
>>> rate.record(hits=3, listens=4)
>>> view = rate.view()
>>> view["last_minute"], view["since_start"], view["listens"], [b["rate"] for b in view["series"]]
(0.75, 0.5, 8, [0.25, 0.75])
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from typing import Any

BUCKET_S = 10
# Buckets kept for the chart: the last half hour.
SERIES_BUCKETS = 180
WINDOW_S = 60


class HitRate:
    """Hits and listens since start and per ``BUCKET_S`` seconds."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.hits = 0
        self.listens = 0
        self._buckets: collections.deque[list[int]] = collections.deque(maxlen=SERIES_BUCKETS)

    def record(self, hits: int, listens: int) -> None:
        """Count ``listens`` scored listens of which ``hits`` were on their user's latest list."""
        if listens <= 0:
            return
        self.hits += hits
        self.listens += listens
        start = int(self.clock()) // BUCKET_S * BUCKET_S
        if not self._buckets or self._buckets[-1][0] != start:
            self._buckets.append([start, 0, 0])
        self._buckets[-1][1] += hits
        self._buckets[-1][2] += listens

    def view(self) -> dict[str, Any]:
        """Return the rates (None before any listen) and the series, JSON-ready."""
        cutoff = self.clock() - WINDOW_S
        recent = [(h, n) for start, h, n in self._buckets if start + BUCKET_S > cutoff]
        recent_listens = sum(n for _, n in recent)
        return {
            "last_minute": _rate(sum(h for h, _ in recent), recent_listens),
            "since_start": _rate(self.hits, self.listens),
            "hits": self.hits,
            "listens": self.listens,
            "series": [{"t": start, "rate": _rate(h, n), "listens": n} for start, h, n in self._buckets],
        }


def _rate(hits: int, listens: int) -> float | None:
    return round(hits / listens, 4) if listens else None
