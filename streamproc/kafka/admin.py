"""Create streamproc's topics with the configured partition count before anything writes to them.

Brokers auto-create a topic on its first write with their own default partition count
(4 on the embedded broker); Faust then refuses a table co-partitioned with it. Producers and
workers therefore create the topics first.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streamproc.kafka.clients import REQUEST_TIMEOUT_MS, start_client


async def ensure_topics(bootstrap: str, names: Iterable[str], partitions: int, compacted: bool = False) -> None:
    """Create each topic of ``names`` that does not exist yet, with ``partitions`` partitions."""
    configs = {"cleanup.policy": "compact"} if compacted else {}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=REQUEST_TIMEOUT_MS)
    await start_client(admin, bootstrap)
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
