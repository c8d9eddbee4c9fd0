"""Create streamproc's topics with the configured partition count before anything writes to them.

Brokers auto-create a topic on its first write with their own default partition count
(4 on the embedded broker); Faust then refuses a table co-partitioned with it. Producers and
workers therefore create the topics first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from streamproc.errors import CONNECT_TIMEOUT_S, BrokerUnavailable


async def ensure_topics(bootstrap: str, names: Iterable[str], partitions: int, compacted: bool = False) -> None:
    """Create each topic of ``names`` that does not exist yet, with ``partitions`` partitions."""
    configs = {"cleanup.policy": "compact"} if compacted else {}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(CONNECT_TIMEOUT_S * 1000))
    try:
        await asyncio.wait_for(admin.start(), CONNECT_TIMEOUT_S)
    except (KafkaConnectionError, asyncio.TimeoutError, OSError):
        await admin.close()
        raise BrokerUnavailable(f"cannot reach the Kafka broker at {bootstrap}") from None
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(name, partitions, 1, topic_configs=configs) for name in names if name not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()
