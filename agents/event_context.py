"""Write a table key under the event it came from, inside a batch of events.

Faust's RocksDB store and changelog pick the partition of a table write from the stream's
*current* event. In a batch taken with ``take_events`` that is the batch's last event, which
may be on another partition than the key being written; so each write is made under its own
event, as it would be in an event-at-a-time agent.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from faust.streams import _current_event
from faust.types import EventT


@contextmanager
def under_event(event: EventT) -> Iterator[None]:
    """Make ``event`` the current event for the table writes inside the block."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)
