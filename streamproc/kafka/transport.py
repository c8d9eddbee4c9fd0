"""Faust's aiokafka transport with a shorter fetch wait and a batch-sized producer buffer.

Faust hard-codes ``fetch_max_wait_ms=1500`` when it builds a worker's aiokafka consumer,
and no setting reaches it. The embedded broker answers a fetch only when that wait runs
out, so every read would cost up to 1.5 s. This transport is the stock one with one
change, a wait of ``WAIT_MS`` (500 ms; ``STREAMPROC_FETCH_MAX_WAIT_MS`` if longer); Faust finds it by the
``streamproc://`` URL scheme through its ``faust.transports`` entry point. Faust's consumer reads
the controls, tracks and table changelogs, where half a second is soon enough; ``listens``, where each
millisecond shows in the latency, has its own reader (:mod:`streamproc.kafka.listens_reader`), and so
has the model (:mod:`streamproc.kafka.model_log`, 100 ms), which a worker that just took partitions
must install before it ranks their users.

It also corrects the end offsets ("highwaters") Faust's table recovery asks for: the
embedded broker answers ListOffsets with the start of a partition's last batch plus one, not
its true end, so recovery would find a persisted changelog offset beyond that "end" and stop
the worker with ``ConsistencyError`` after a failover, or stop restoring before the last
records. A fetch reports the true high-water mark, so :func:`true_highwaters` fetches from
just before each reported end and takes the mark from the response.

And it hands each fetched message to the streams without a task per message: Faust's drain loop
awaits ``wait_first(deliver(message), suspend_flow.wait())`` for every message, which creates four
tasks and costs at least one turn of the event loop each, so a worker took only 20 to 80 messages
in each 10 ms batch window while thousands waited. :meth:`Consumer.wait_first` runs the delivery
inline instead, and only when it would block (a full stream buffer, suspended flow) waits as Faust
does, abandoning it if the flow is suspended meanwhile (a rebalance).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.transport.drivers import aiokafka as driver
from mode.services import WaitResults

from streamproc.settings import settings

SCHEME = "streamproc"
# What Faust's consumer reads (controls, tracks, table changelogs) may wait this long: records already
# there come at once, and the wait is what an idle worker's polling of its many partitions costs (a
# broker and one idle worker, CPU over 20 s, two runs each: the worker 0.077 and the broker 0.12 cores
# with 100 ms and a 10 ms controls window; 0.052 and 0.077 with this and a 100 ms window,
# ``STREAMPROC_BATCH_SECONDS``).
WAIT_MS = 500


class ConsumerThread(driver.AIOKafkaConsumerThread):
    """The stock consumer thread, building its consumer with our fetch wait."""

    def _create_worker_consumer(self, transport: Any) -> AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # Read by AIOKafkaConsumer.start() when it builds its Fetcher, so setting it here is enough.
        consumer._fetch_max_wait_ms = max(settings.fetch_max_wait_ms, WAIT_MS)
        return consumer

    async def _highwaters(self, partitions: Any) -> Mapping[Any, int]:
        reported = await super()._highwaters(partitions)
        if self.consumer.in_transaction or not reported:
            return reported
        return await true_highwaters(settings.bootstrap_servers(), reported)


HIGHWATER_TIMEOUT_S = 10.0


async def true_highwaters(bootstrap: str, reported: Mapping[Any, int]) -> dict[Any, int]:
    """Return the high-water mark a fetch reports for each partition of ``reported`` (tp → the
    ListOffsets answer, a lower bound here); a partition that does not answer keeps its bound."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                fetch_max_wait_ms=10, max_partition_fetch_bytes=64 * 1024)
    await consumer.start()
    try:
        tps = {TopicPartition(tp.topic, tp.partition): tp for tp in reported}
        consumer.assign(list(tps))
        for tp, original in tps.items():
            consumer.seek(tp, max(int(reported[original]) - 1, 0))
        marks = dict(reported)
        pending = set(tps)
        deadline = time.monotonic() + HIGHWATER_TIMEOUT_S
        while pending and time.monotonic() < deadline:
            await consumer.getmany(*pending, timeout_ms=200, max_records=1)
            for tp in list(pending):
                mark = consumer.highwater(tp)
                if mark is not None:
                    marks[tps[tp]] = max(int(mark), int(reported[tps[tp]]))
                    pending.discard(tp)
            await asyncio.sleep(0)
        return marks
    finally:
        await consumer.stop()


class Consumer(driver.Consumer):
    """The stock consumer with :class:`ConsumerThread`, delivering each message inline."""

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:
        """Return what the stock ``wait_first`` does; the drain loop's delivery is run inline.

        The drain loop is this consumer's only caller with two waitables and no timeout:
        ``(deliver(message), suspend_flow.wait())``. While the flow runs, the delivery is stepped
        here until it finishes (almost always: it puts the message in a stream's buffer) or would
        block; only then do the stock tasks race what is left of it against the flow's suspension.
        """
        if (timeout is not None or len(coros) != 2 or not asyncio.iscoroutine(coros[0])
                or self.suspend_flow.is_set() or self._stopped.is_set() or self._crashed.is_set()):
            return await super().wait_first(*coros, timeout=timeout)
        delivery, suspended = coros
        try:
            blocked_on = delivery.send(None)
        except StopIteration as done:
            _close(suspended)
            return WaitResults([delivery], [done.value], False)
        except BaseException:
            _close(suspended)
            raise
        return await super().wait_first(_carry_on(delivery, blocked_on), suspended)


def _close(waitable: Any) -> None:
    """Close ``waitable`` if it is a coroutine never to be awaited (an event is left as it is)."""
    if asyncio.iscoroutine(waitable):
        waitable.close()


async def _carry_on(coro: Coroutine[Any, Any, Any], blocked_on: Any) -> Any:
    """Return what ``coro`` returns, driving it on from where it yielded ``blocked_on`` as a task would:
    wait for each future it yields, then resume it so that it reads the result (or error) itself.
    Cancelled, it cancels the future ``coro`` waits on, so that ``coro`` sees the cancellation."""
    while True:
        step, arg = coro.send, None
        try:
            if blocked_on is None:
                await asyncio.sleep(0)
            else:
                blocked_on._asyncio_future_blocking = False
                await asyncio.wait([blocked_on])
        except asyncio.CancelledError:
            if blocked_on is None:
                step, arg = coro.throw, asyncio.CancelledError()
            else:
                blocked_on.cancel()
        try:
            blocked_on = step(arg)
        except StopIteration as done:
            return done.value


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
