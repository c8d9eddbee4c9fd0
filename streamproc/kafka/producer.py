"""Send keyed messages to Kafka at a bounded rate, with a progress bar.

Every producer command (replay, simulate, Spotify import) goes through
:func:`send_messages`, so all of them honour ``--broker``, ``--rate`` and ``--limit`` alike.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Iterable
from typing import NamedTuple

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from tqdm import tqdm

from streamproc.errors import BrokerUnavailable
from streamproc.kafka.clients import REQUEST_TIMEOUT_MS, start_client
from streamproc.settings import settings
from streamproc.kafka.admin import ensure_topics

MAX_REQUEST_BYTES = 4 * 1024 * 1024

# aiokafka logs each failed connection; with no logging configured, Python would print those
# records to stderr next to our own one-line BrokerUnavailable. An application that configures
# logging (the Faust worker) still receives them through propagation.
logging.getLogger("aiokafka").addHandler(logging.NullHandler())


class Message(NamedTuple):
    """One message to send: its topic, key and value."""

    topic: str
    key: str
    value: bytes


def send_messages(
    bootstrap: str,
    messages: Iterable[Message],
    *,
    rate: float | None = None,
    limit: int | None = None,
    description: str = "messages",
    progress: bool = True,
    total: int | None = None,
) -> int:
    """Send ``messages`` (at most ``limit``, at most ``rate`` a second) and return how many were sent."""
    if limit is not None:
        messages = itertools.islice(messages, limit)
        total = limit if total is None else min(total, limit)
    return asyncio.run(_send(bootstrap, messages, rate, description, progress, total))


async def _send(
    bootstrap: str,
    messages: Iterable[Message],
    rate: float | None,
    description: str,
    progress: bool,
    total: int | None,
) -> int:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=5,
        max_batch_size=256 * 1024,
        max_request_size=MAX_REQUEST_BYTES,
        compression_type=settings.compression_type(),
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )
    await start_client(producer, bootstrap)
    sent = 0
    started = time.monotonic()
    pending: list[asyncio.Future] = []
    with tqdm(total=total, desc=description, unit="msg", disable=not progress) as bar:
        try:
            created: set[str] = set()
            for message in messages:
                if message.topic not in created:
                    # Before the broker auto-creates it with its own partition count.
                    await ensure_topics(bootstrap, [message.topic], settings.topic_partitions)
                    created.add(message.topic)
                pending.append(
                    await producer.send(message.topic, message.value, key=message.key.encode())
                )
                sent += 1
                if len(pending) >= 2000:
                    await _settle(pending, bar)
                if rate:
                    delay = started + sent / rate - time.monotonic()
                    if delay > 0:
                        await _settle(pending, bar)
                        await asyncio.sleep(delay)
            await _settle(pending, bar)
        except KafkaError as exc:
            raise BrokerUnavailable(f"the broker at {bootstrap} refused a message: {exc}") from None
        finally:
            await producer.stop()
    return sent


async def _settle(pending: list[asyncio.Future], bar: tqdm) -> None:
    await asyncio.gather(*pending)
    bar.update(len(pending))
    pending.clear()
