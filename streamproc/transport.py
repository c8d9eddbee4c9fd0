"""Faust's aiokafka transport with a configurable fetch wait and a batch-sized producer buffer.

Faust hard-codes ``fetch_max_wait_ms=1500`` when it builds a worker's aiokafka consumer,
and no setting reaches it. The embedded broker answers a fetch only when that wait runs
out, so every read would cost up to 1.5 s. This transport is the stock one with one
change, the wait taken from ``STREAMPROC_FETCH_MAX_WAIT_MS``; Faust finds it by the
``streamproc://`` URL scheme through its ``faust.transports`` entry point.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer
from faust.transport.drivers import aiokafka as driver

from streamproc.settings import settings

SCHEME = "streamproc"


class ConsumerThread(driver.AIOKafkaConsumerThread):
    """The stock consumer thread, building its consumer with our fetch wait."""

    def _create_worker_consumer(self, transport: Any) -> AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # Read by AIOKafkaConsumer.start() when it builds its Fetcher, so setting it here is enough.
        consumer._fetch_max_wait_ms = settings.fetch_max_wait_ms
        return consumer


class Consumer(driver.Consumer):
    """The stock consumer with :class:`ConsumerThread`."""

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Producer(driver.Producer):
    """The stock producer, whose buffer of table-changelog messages holds a whole batch.

    Faust pauses the stream whenever more than 100 changelog messages wait to be sent; agents
    here write up to a batch of keys at once, so the bound follows the batch size.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.buffer.max_messages = max(self.buffer.max_messages, 2 * settings.batch_size)


class Transport(driver.Transport):
    """The stock aiokafka transport with :class:`Consumer` and :class:`Producer`."""

    Consumer = Consumer
    Producer = Producer


def transport_url(broker: str) -> str:
    """Return ``broker`` (``kafka://host:port`` or ``host:port``) under this transport's scheme.

    >>> transport_url("kafka://k1:9092;k2:9092")
    'streamproc://k1:9092;k2:9092'
    """
    return f"{SCHEME}://{broker.split('://', 1)[-1]}"
