"""The model topic on a real broker: a follower installs the newest complete model first and says it
has caught up once it has (at once when none was published), so a starting worker ranks with it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaProducer

from streamproc.kafka.model_log import ModelLog
from streamproc.recommend.recommender import Recommender
from streamproc.settings import settings
from tables.model_bundle import PublishedModel
from tests.trained import trainer_with

pytestmark = pytest.mark.integration
TOPIC = "models"


class ProducerTopic:
    """What :class:`ModelLog` needs of a Faust topic, on a plain aiokafka producer."""

    def __init__(self, producer: AIOKafkaProducer, name: str) -> None:
        self.producer = producer
        self.name = name

    def get_topic_name(self) -> str:
        return self.name

    async def send(self, key: bytes | None, value: bytes, partition: int, headers: dict[str, bytes]) -> asyncio.Future:
        return await self.producer.send(self.name, value, key=key, partition=partition, headers=list(headers.items()))


def trained(versions: list[int]) -> list[PublishedModel]:
    """Return models numbered ``versions``, trained on twelve tracks."""
    rec = Recommender(settings)
    for i in range(12):
        rec.catalog.upsert({"item_id": f"t{i}", "name": f"Track {i}", "artists": [f"A{i}"], "features": None})
    trainer = trainer_with(rec, {f"u{j}": {f"t{i}": 1.0 for i in range(12 - j)} for j in range(12)})
    return [trainer.train(trainer.snapshot(), version) for version in versions]


async def follow_until_caught_up(bootstrap: str, topic: ProducerTopic) -> list[int]:
    """Follow the topic with a new follower; return the versions it installed by the time it caught up."""
    installed: list[int] = []
    follower = ModelLog(topic, bootstrap)
    install: Callable[[PublishedModel], None] = lambda model: installed.append(model.version)  # noqa: E731
    following = asyncio.ensure_future(follower.follow(install))
    try:
        await asyncio.wait_for(follower.caught_up.wait(), 20)
        return list(installed)
    finally:
        following.cancel()


def test_a_follower_catches_up_at_once_on_an_empty_topic_and_after_the_newest_model_otherwise(broker):
    async def scenario() -> tuple[list[int], list[int]]:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, max_request_size=8 * 1024 * 1024)
        await producer.start()
        try:
            topic = ProducerTopic(producer, TOPIC)
            before = await follow_until_caught_up(broker.bootstrap, topic)
            publisher = ModelLog(topic, broker.bootstrap)
            for model in trained([1, 2]):
                await publisher.publish(model)
            return before, await follow_until_caught_up(broker.bootstrap, topic)
        finally:
            await producer.stop()

    assert asyncio.run(scenario()) == ([], [2])
