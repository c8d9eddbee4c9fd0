"""Feed the trainer every partition's users: their snapshots, then ``listens``, forgets and opt-outs.

Only the trainer reads every partition. It loads each partition's newest snapshot from the
user-state log, then follows, with one plain consumer (no group): ``listens`` from each
snapshot's offset, the user-state log for ``forget`` markers, and the control-state changelog
for who opted out. What the workers persist and what the trainer trains on are thus the same
events, applied by the same :class:`~tables.user_state.PartitionState`.
"""

from __future__ import annotations

import asyncio
import json
import logging

from aiokafka import TopicPartition

from streamproc.kafka.logs import FOLLOW_WAIT_MS, log_record, reader
from streamproc.kafka.state_log import StateLog
from streamproc.recommend.training import Trainer
from tables.errors import InvalidMessage
from tables.listen import Listen

log = logging.getLogger(__name__)
BATCH = 5000


async def feed_trainer(trainer: Trainer, state_log: StateLog, partitions: int, controls_changelog: str,
                       ready: asyncio.Event) -> None:
    """Load every partition into ``trainer``, set ``ready``, then keep applying new records until cancelled."""
    positions = {}
    for partition in range(partitions):
        state, end = await state_log.load_snapshot(partition)
        trainer.load(state)
        positions[TopicPartition(state_log.listens, partition)] = state.through + 1
        positions[TopicPartition(state_log.topic.get_topic_name(), partition)] = end
        positions[TopicPartition(controls_changelog, partition)] = 0
    log.info("trainer: %d users of %d partitions loaded", trainer.users(), partitions)
    ready.set()
    async with reader(state_log.bootstrap, FOLLOW_WAIT_MS) as consumer:
        consumer.assign(list(positions))
        for tp, offset in positions.items():
            consumer.seek(tp, offset)
        while True:
            batches = await consumer.getmany(timeout_ms=1000, max_records=BATCH)
            for tp, records in batches.items():
                for record in records:
                    _apply(trainer, state_log, controls_changelog, tp, record)


def _apply(trainer: Trainer, state_log: StateLog, controls_changelog: str, tp: TopicPartition, record) -> None:
    if tp.topic == state_log.listens:
        try:
            listen = Listen.keyed(record.key, record.value, state_log.max_message_bytes)
        except InvalidMessage:
            return
        trainer.apply(tp.partition, listen.user_id, listen.item_id, listen.event, listen.count, record.offset)
    elif tp.topic == controls_changelog:
        state = json.loads(record.value) if record.value is not None else None
        trainer.set_opted_out(record.key.decode(), bool(state and state.get("opted_out")))
    else:
        marker = log_record(record)
        if marker.headers.get("kind") == "forget":
            trainer.forget(tp.partition, (marker.value or b"").decode(), int(marker.headers["through"]))
