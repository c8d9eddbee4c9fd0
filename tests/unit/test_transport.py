"""The consumer hands each fetched message to the streams inline, and still gives up a blocked one when the flow stops."""

from __future__ import annotations

import asyncio

from mode import Service

from streamproc.kafka.transport import Consumer


def bare_consumer() -> Consumer:
    """Return a :class:`Consumer` with only what ``wait_first`` reads: the service state and the flow."""
    consumer = Consumer.__new__(Consumer)
    Service.__init__(consumer)
    consumer.suspend_flow = asyncio.Event()
    return consumer


async def test_a_delivery_that_does_not_block_runs_inline_and_the_flow_wait_is_closed():
    consumer = bare_consumer()
    delivered = []

    async def deliver(message: str) -> str:
        delivered.append(message)
        return message

    flow = consumer.suspend_flow.wait()
    tasks_before = len(asyncio.all_tasks())
    results = await consumer.wait_first(deliver("m1"), flow)
    assert delivered == ["m1"] and list(results.results) == ["m1"] and not results.stopped
    assert len(asyncio.all_tasks()) == tasks_before
    assert flow.cr_frame is None  # closed, so never reported as not awaited


async def test_a_blocked_delivery_finishes_once_what_it_waits_for_comes():
    consumer = bare_consumer()
    room = asyncio.get_running_loop().create_future()
    delivered = []

    async def deliver(message: str) -> None:
        await asyncio.sleep(0)
        delivered.append(await room)

    waiting = asyncio.ensure_future(consumer.wait_first(deliver("m1"), consumer.suspend_flow.wait()))
    await asyncio.sleep(0.01)
    assert not waiting.done() and delivered == []
    room.set_result("m1")
    await asyncio.wait_for(waiting, 1)
    assert delivered == ["m1"]


async def test_a_blocked_delivery_is_given_up_when_the_flow_is_suspended():
    consumer = bare_consumer()
    room = asyncio.get_running_loop().create_future()
    seen = []

    async def deliver() -> None:
        try:
            await room
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    waiting = asyncio.ensure_future(consumer.wait_first(deliver(), consumer.suspend_flow.wait()))
    await asyncio.sleep(0.01)
    consumer.suspend_flow.set()
    await asyncio.wait_for(waiting, 1)
    await asyncio.sleep(0.01)
    assert seen == ["cancelled"] and room.cancelled()


async def test_a_suspended_flow_takes_the_stock_path():
    consumer = bare_consumer()
    consumer.suspend_flow.set()

    async def deliver() -> str:
        return "m1"

    results = await consumer.wait_first(deliver(), consumer.suspend_flow.wait())
    assert len(results.results) >= 1 and not results.stopped
