"""Hold the users of exactly the ``listens`` partitions this worker owns.

On every assignment the partitions no longer owned are dropped and the new ones load in the
background, so a worker that starts with an empty data directory can answer for its users (and
rank them with the model) before any new event comes. The listens agent waits for a partition
that is still loading, and loads one again when its stream starts past what was applied (another
worker owned it in between).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from faust.types import EventT

from agents.controls import is_control
from streamproc.app import app
from streamproc.runtime import runtime
from tables.topics import CONTROLS, LISTENS

log = logging.getLogger(__name__)


@app.on_partitions_assigned.connect
async def on_assigned(sender: Any, assigned: Iterable[Any], **kwargs: Any) -> None:
    """Drop the partitions this worker lost; start loading those it gained."""
    mine = {tp.partition for tp in assigned if tp.topic in (LISTENS, CONTROLS)}
    dropped = runtime.owned.keep_only(mine)
    runtime.state_log.cancel(dropped)
    if dropped:
        log.info("partitions %s moved to another worker: their users dropped", sorted(dropped))
    for partition in sorted(mine - set(runtime.owned.partitions)):
        app.add_future(load(partition))


async def load(partition: int, until: int | None = None) -> None:
    """Load ``partition``'s users unless loaded already and applied up to ``until``."""
    async with runtime.owned.lock(partition):
        state = runtime.owned.partitions.get(partition)
        if state is not None and (until is None or until <= state.through + 1):
            return
        if until is None:
            until = await runtime.state_log.listens_end(partition)
        runtime.owned.partitions[partition] = await runtime.state_log.load(partition, until)


async def ensure_loaded(events: list[EventT]) -> None:
    """Load every partition of ``events`` not loaded yet, or whose first listen here is past what was applied."""
    first: dict[int, int | None] = {}
    for event in events:
        message = event.message
        if is_control(event):
            first.setdefault(message.partition, None)
        elif first.get(message.partition) is None:
            first[message.partition] = message.offset
    for partition, offset in first.items():
        await load(partition, offset)
