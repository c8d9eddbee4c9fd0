"""Hold the users of exactly the ``listens`` partitions this worker owns, and read those partitions.

The partitions are those Faust's consumer group assigns this worker on ``controls``, the topic
co-partitioned with ``listens`` that the controls agent reads. On every assignment the partitions
no longer owned are dropped and the new ones load in the background, so a worker that starts with
an empty data directory can answer for its users (and rank them with the model) before any new
event comes; once one is loaded, the listens reader (:mod:`streamproc.kafka.listens_reader`) reads it
from one past the last offset its state applied. When a rebalance starts the worker owns nothing and
reads nothing until it is told what it owns now.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from streamproc.app import app
from streamproc.runtime import runtime
from tables.topics import CONTROLS

log = logging.getLogger(__name__)
T = TypeVar("T")


@app.on_partitions_revoked.connect
async def on_revoked(sender: Any, revoked: Iterable[Any], **kwargs: Any) -> None:
    """Stop applying and reading: the next assignment may give these partitions to another worker."""
    runtime.owned.revoke()
    runtime.listens.read_from({})


@app.on_partitions_assigned.connect
async def on_assigned(sender: Any, assigned: Iterable[Any], **kwargs: Any) -> None:
    """Drop the partitions this worker lost; read those it kept; start loading those it gained."""
    mine = {tp.partition for tp in assigned if tp.topic == CONTROLS}
    dropped = runtime.owned.keep_only(mine)
    runtime.state_log.cancel(dropped)
    if dropped:
        log.info("partitions %s moved to another worker: their users dropped", sorted(dropped))
    read_owned()
    for partition in sorted(mine - set(runtime.owned.partitions)):
        app.add_future(load(partition))


async def load(partition: int) -> None:
    """Load ``partition``'s users unless loaded already, and read its listens from where they stand."""
    async with runtime.owned.lock(partition):
        if partition in runtime.owned.partitions:
            return
        state = await runtime.state_log.load(partition)
        if not runtime.owned.owns(partition):
            return  # assigned elsewhere while it loaded
        runtime.owned.partitions[partition] = state
        read_owned()


def read_owned() -> None:
    """Have the listens reader read every owned, loaded partition from one past the last offset it applied."""
    owned = runtime.owned
    runtime.listens.read_from({partition: state.through + 1 for partition, state in owned.partitions.items()
                               if owned.owns(partition)})


async def ensure_loaded(partitions: Iterable[int]) -> None:
    """Load each of ``partitions`` not loaded yet (an event can come while its partition still loads)."""
    for partition in partitions:
        await load(partition)


def still_owned(batch: Sequence[T], partitions: Sequence[int]) -> list[T]:
    """Return the items of ``batch`` (from ``partitions``, in the same order) but those of partitions
    another worker owns now.

    A batch taken before a rebalance can still hold them: applying one would load the partition
    here again, send its users' lists twice and snapshot it beside its new owner.
    """
    kept = [item for item, partition in zip(batch, partitions) if runtime.owned.owns(partition)]
    if len(kept) < len(batch):
        log.info("left %d events of partitions now owned elsewhere to their owner", len(batch) - len(kept))
    return kept
