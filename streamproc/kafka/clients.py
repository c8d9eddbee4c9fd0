"""Start an aiokafka client, or fail in bounded time with one line saying which broker is unreachable."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.errors import KafkaConnectionError

from streamproc.errors import BrokerUnavailable

CONNECT_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_MS = int(CONNECT_TIMEOUT_S * 1000)


async def start_client(client: Any, bootstrap: str) -> None:
    """Start ``client`` (producer, consumer or admin client) within the connect timeout.

    On failure the client is closed and :class:`BrokerUnavailable` raised, instead of
    aiokafka's retrying until its own, longer, timeout.
    """
    try:
        await asyncio.wait_for(client.start(), CONNECT_TIMEOUT_S)
    except (KafkaConnectionError, asyncio.TimeoutError, OSError):
        await (client.stop() if hasattr(client, "stop") else client.close())
        raise BrokerUnavailable(f"cannot reach the Kafka broker at {bootstrap}") from None
