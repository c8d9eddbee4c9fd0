"""Send an unusable message to the ``dead-letters`` topic with the reason it was refused.

The value is the message's raw bytes, unchanged; where it came from and why it was refused
travel in headers (as Kafka Connect's dead-letter queues do), so any client can read them.
The count lives in :mod:`streamproc.stats`; ``dead_letter_count`` here reads it.
"""

from __future__ import annotations

import logging

from typing import Any

from streamproc.stats import stats
from tables.store import dead_letters_topic

log = logging.getLogger(__name__)


def __getattr__(name: str) -> int:
    if name == "dead_letter_count":
        return stats.dead_letters
    raise AttributeError(name)


async def send_dead_letter(message: Any, reason: str) -> None:
    """Publish the raw ``message`` (Faust's or aiokafka's: its ``topic``, ``partition``, ``offset``, ``key``
    and ``value``) to ``dead-letters`` with where it came from and ``reason``."""
    headers = {
        "x-source-topic": message.topic.encode(),
        "x-source-partition": str(message.partition).encode(),
        "x-source-offset": str(message.offset).encode(),
        "x-reason": reason.encode(),
    }
    await dead_letters_topic.send(key=message.key, value=message.value, headers=headers)
    stats.dead_letter(message.topic)
    log.debug("dead letter from %s[%d]@%d: %s", message.topic, message.partition, message.offset, reason)
