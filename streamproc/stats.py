"""A small in-process metrics collector: what one worker has done in the last minute.

Agents record into the module's :data:`stats` (a few integer operations per batch, nothing per
event beyond a counter); :func:`snapshot` turns it into the JSON that ``/api/stats/`` serves:
events a second over the last minute, processing latency percentiles (the Kafka produce time of
an event to the moment the recommendation it triggered was sent), each owned partition's lag,
the dead-letter count and the model's version and age.

Lag is the high-water mark the broker reported with the last fetch minus the next offset to
process. It is not taken from a ListOffsets request, whose "latest offset" is wrong on the
embedded broker (see FAUST_ON_TANSU.md).

>>> s = StreamStats(clock=lambda: 100.0)
>>> s.record_events("listens", 0, first_offset=0, last_offset=9, count=10)
>>> s.record_latencies([0.010, 0.020, 0.030])
>>> s.dead_letter("listens")
>>> view = s.view(highwaters={("listens", 0): 15})
>>> view["events_total"], view["events_per_second"], view["dead_letters"]
(10, 10.0, 1)
>>> view["latency_ms"]["p50"], view["lag"]
(20.0, {'listens': {'0': 5}})
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from streamproc.hit_rate import HitRate

WINDOW_S = 60
LATENCY_SAMPLES = 20_000


class StreamStats:
    """Counters of one worker: events per second (a ring of one-second buckets), latencies,
    the last processed offset of each partition and dead letters."""

    def __init__(self, clock: Callable[[], float] = time.time, counted: tuple[str, ...] = ("listens",)) -> None:
        self.clock = clock
        self.counted = counted
        self.started_at = clock()
        self.events_total = 0
        self.dead_letters = 0
        self.dead_letters_by_topic: collections.Counter[str] = collections.Counter()
        self.recommendations = 0
        self._buckets = [0] * WINDOW_S
        self._bucket_second = [0] * WINDOW_S
        self._latencies: collections.deque[tuple[float, float]] = collections.deque(maxlen=LATENCY_SAMPLES)
        self._next_offset: dict[tuple[str, int], int] = {}
        self.hit_rate = HitRate(clock)

    def record_events(self, topic: str, partition: int, first_offset: int, last_offset: int, count: int) -> None:
        """Note ``count`` events of ``topic``[``partition``] up to ``last_offset``; only those of the
        ``counted`` topics (listening events) count towards the rates."""
        key = (topic, partition)
        self._next_offset[key] = max(self._next_offset.get(key, 0), last_offset + 1)
        if topic not in self.counted:
            return
        self.events_total += count
        second = int(self.clock())
        slot = second % WINDOW_S
        if self._bucket_second[slot] != second:
            self._bucket_second[slot] = second
            self._buckets[slot] = 0
        self._buckets[slot] += count

    def record_batch(self, messages: Iterable[Any]) -> None:
        """Count a batch of messages (Faust's or aiokafka's: a ``topic``, ``partition`` and ``offset`` each),
        keeping each partition's highest offset."""
        spans: dict[tuple[str, int], list[int]] = {}
        for message in messages:
            span = spans.get((message.topic, message.partition))
            if span is None:
                spans[(message.topic, message.partition)] = [message.offset, message.offset, 1]
            else:
                span[1] = max(span[1], message.offset)
                span[2] += 1
        for (topic, partition), (first, last, count) in spans.items():
            self.record_events(topic, partition, first, last, count)

    def record_latencies(self, seconds: Iterable[float]) -> None:
        """Keep processing latencies (seconds) of recommendations just sent."""
        now = self.clock()
        for latency in seconds:
            self.recommendations += 1
            self._latencies.append((now, latency))

    def dead_letter(self, topic: str) -> None:
        """Count one message of ``topic`` sent to ``dead-letters``."""
        self.dead_letters += 1
        self.dead_letters_by_topic[topic] += 1

    def events_per_second(self) -> float:
        """Return the mean events a second over the last :data:`WINDOW_S` seconds."""
        now = int(self.clock())
        recent = sum(n for n, s in zip(self._buckets, self._bucket_second) if now - WINDOW_S < s <= now)
        span = min(WINDOW_S, max(1.0, self.clock() - self.started_at))
        return round(recent / span, 2)

    def latency_ms(self) -> dict[str, float | int | None]:
        """Return p50/p90/p99/max of the latencies of the last minute, in milliseconds."""
        cutoff = self.clock() - WINDOW_S
        values = np.array([latency for at, latency in self._latencies if at >= cutoff])
        if values.size == 0:
            return {"count": 0, "p50": None, "p90": None, "p99": None, "max": None}
        p50, p90, p99 = np.percentile(values, [50, 90, 99]) * 1000
        return {
            "count": int(values.size),
            "p50": round(float(p50), 1),
            "p90": round(float(p90), 1),
            "p99": round(float(p99), 1),
            "max": round(float(values.max() * 1000), 1),
        }

    def lag(self, highwaters: Mapping[tuple[str, int], int]) -> dict[str, dict[str, int]]:
        """Return topic → partition → messages not yet processed, for the partitions in ``highwaters``."""
        lag: dict[str, dict[str, int]] = {}
        for (topic, partition), highwater in sorted(highwaters.items()):
            done = self._next_offset.get((topic, partition), 0)
            lag.setdefault(topic, {})[str(partition)] = max(0, int(highwater) - done)
        return lag

    def view(self, highwaters: Mapping[tuple[str, int], int] | None = None) -> dict[str, Any]:
        """Return the counters as a JSON-ready dict (lag from ``highwaters`` when given)."""
        return {
            "uptime_s": round(self.clock() - self.started_at, 1),
            "events_total": self.events_total,
            "events_per_second": self.events_per_second(),
            "recommendations_sent": self.recommendations,
            "latency_ms": self.latency_ms(),
            "lag": self.lag(highwaters or {}),
            "dead_letters": self.dead_letters,
            "dead_letters_by_topic": dict(self.dead_letters_by_topic),
            "hit_rate": self.hit_rate.view(),
        }


stats = StreamStats()


def _highwaters() -> dict[tuple[str, int], int]:
    """Return the high-water mark the last fetch reported for each input partition this worker owns."""
    from streamproc.app import app
    from streamproc.runtime import runtime
    from tables.topics import INPUT_TOPICS, LISTENS

    marks = {(LISTENS, partition): mark for partition, mark in runtime.listens.highwaters().items()}
    try:
        consumer = app.consumer
        assigned = consumer.assignment()
    except Exception:  # noqa: BLE001 - not started, or between rebalances: no lag to show
        return marks
    for tp in assigned:
        if tp.topic not in INPUT_TOPICS:
            continue
        try:
            mark = consumer.highwater(tp)
        except Exception:  # noqa: BLE001 - assignment changed under us
            continue
        if mark is not None:
            marks[(tp.topic, tp.partition)] = mark
    return marks


def _assigned() -> dict[str, list[int]]:
    """Return the input partitions this worker owns now, topic → sorted partitions (``listens``: those its
    reader reads, which are loaded)."""
    from streamproc.app import app
    from streamproc.runtime import runtime
    from tables.topics import INPUT_TOPICS, LISTENS

    reading = runtime.listens.partitions()
    owned: dict[str, list[int]] = {LISTENS: reading} if reading else {}
    try:
        assigned = app.consumer.assignment()
    except Exception:  # noqa: BLE001 - not started yet
        return owned
    for tp in assigned:
        if tp.topic in INPUT_TOPICS:
            owned.setdefault(tp.topic, []).append(tp.partition)
    return {topic: sorted(partitions) for topic, partitions in sorted(owned.items())}


def snapshot() -> dict[str, Any]:
    """Return this worker's stream metrics and model state, for ``/api/stats/``."""
    from streamproc.runtime import runtime

    view = stats.view(_highwaters())
    view["assigned"] = _assigned()
    model = runtime.recommender.published
    view["model"] = {
        "version": model.version if model else 0,
        "trained_at": model.trained_at if model else None,
        "age_s": round(time.time() - model.trained_at, 1) if model else None,
    }
    trainer = runtime.trainer
    # On the leader: what the trainer holds (every partition's users), None elsewhere.
    view["trainer"] = {"users": trainer.users(), "events": trainer.total_events,
                       "events_at_training": trainer.events_at_training} if trainer else None
    return view
