"""Create streamproc's topics with the configured partition count before anything writes to them.

Brokers auto-create a topic on its first write, or when a client asks for its metadata, with
their own default partition count (4 on the embedded broker); Faust then refuses a table
co-partitioned with it. Producers, workers and the embedded broker at its start
(:func:`ensure_shared_topics`) therefore create the topics first. A topic that
exists with another partition count but holds no record was auto-created so (after a broker
restart, by a running worker's own clients asking about it before the worker restarted, see
:mod:`agents.broker_epoch`): it is deleted and created again, as nothing in it can be lost. One
that holds records is left as it is.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streamproc.errors import CommandError
from streamproc.kafka.clients import REQUEST_TIMEOUT_MS, start_client
from tables.topics import DEAD_LETTERS, INPUT_TOPICS, PLAYLISTS, RECOMMENDATIONS

# A round deletes and creates; another round is needed only when a client's metadata request came in between.
ROUNDS = 5


async def ensure_shared_topics(bootstrap: str, partitions: int) -> None:
    """Create the topics every streamproc app shares (inputs, dead letters, playlists, the compacted
    recommendations) with ``partitions`` partitions, unless they exist with records."""
    await ensure_topics(bootstrap, [*INPUT_TOPICS, DEAD_LETTERS, PLAYLISTS], partitions)
    await ensure_topics(bootstrap, [RECOMMENDATIONS], partitions, compacted=True)


async def ensure_topics(bootstrap: str, names: Iterable[str], partitions: int, compacted: bool = False) -> None:
    """Create each topic of ``names`` that does not exist yet, or exists empty with another partition
    count, with ``partitions`` partitions.

    A client asking for a topic's metadata between its deletion and its creation here auto-creates
    it again with the broker's count (a running worker's consumer asks every 100 ms while it reads
    the topic), and the creation then answers that it exists; so the counts are looked at again
    after each round, for up to ``ROUNDS`` rounds.
    """
    names = list(names)
    configs = {"cleanup.policy": "compact"} if compacted else {}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=REQUEST_TIMEOUT_MS)
    await start_client(admin, bootstrap)
    try:
        for attempt in range(ROUNDS + 1):
            existing = set(await admin.list_topics())
            wrong = await _empty(bootstrap, await _miscounted(admin, [n for n in names if n in existing], partitions))
            if not wrong and all(name in existing for name in names):
                return
            if attempt == ROUNDS:
                break
            if wrong:
                await admin.delete_topics(wrong)
                existing -= set(wrong)
            await _create(admin, [NewTopic(name, partitions, 1, topic_configs=configs)
                                  for name in names if name not in existing])
    finally:
        await admin.close()
    raise CommandError(f"topics {', '.join(names)} could not be made with {partitions} partitions in {ROUNDS} "
                       f"rounds: clients keep auto-creating them with the broker's own count")


async def _miscounted(admin: AIOKafkaAdminClient, present: list[str], partitions: int) -> dict[str, int]:
    """Return the topics of ``present`` whose partition count is not ``partitions``, with their count."""
    # Never with an empty list: aiokafka then describes every topic on the broker.
    described = await admin.describe_topics(present) if present else []
    return {t["topic"]: len(t["partitions"]) for t in described
            if t["topic"] in present and len(t["partitions"]) != partitions}


async def _create(admin: AIOKafkaAdminClient, topics: list[NewTopic]) -> None:
    """Create ``topics``; one that exists already is looked at in the next round."""
    if topics:
        try:
            await admin.create_topics(topics)
        except TopicAlreadyExistsError:
            pass


async def _empty(bootstrap: str, partitions: dict[str, int]) -> list[str]:
    """Return the topics of ``partitions`` (topic → its partition count) that hold no record."""
    if not partitions:
        return []
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await start_client(consumer, bootstrap)
    try:
        # ListOffsets may answer short of the true end on the embedded broker, but never 0 for a
        # partition that holds a record (FAUST_ON_TANSU.md).
        ends = await consumer.end_offsets([TopicPartition(t, p) for t, n in partitions.items() for p in range(n)])
    finally:
        await consumer.stop()
    return [topic for topic in partitions if not any(end for tp, end in ends.items() if tp.topic == topic)]
