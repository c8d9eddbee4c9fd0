"""Publish models on the ``{app_id}-model`` topic, and follow it to install every complete version.

The topic has one partition and is compacted: chunks are keyed by their index and the manifest
by ``manifest``, so the broker keeps about one model however many were published. A follower
starts at the newest manifest (from the topic's last record, :mod:`tables.model_bundle`), then
reads on; it installs a version once its manifest has come and every chunk before it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from streamproc.kafka.logs import FOLLOW_WAIT_MS, append, last_record, log_record, read_range, reader
from tables.model_bundle import PublishedModel, decode_model, encode_model, manifest_record, model_records
from tables.user_state import LogRecord

log = logging.getLogger(__name__)
RETRY_S = 1.0


class ModelLog:
    """The model topic, written through Faust topic ``topic``.

    ``version`` is the newest version seen on the topic or published here (the next one is
    numbered after it), ``installed`` the newest one handed to ``install``. ``caught_up`` is set
    once the newest model on the topic when following began is installed (at once when there was
    none), so that a worker ranks its users' first lists with it, not with popularity alone.
    """

    def __init__(self, topic: Any, bootstrap: str) -> None:
        self.topic = topic
        self.bootstrap = bootstrap
        self.version = 0
        self.installed = 0
        self.manifest = -1
        self.caught_up = asyncio.Event()
        # the newest complete model's manifest when following began (-1: none)
        self._newest = -1

    async def publish(self, model: PublishedModel) -> int:
        """Append ``model``'s chunks and manifest; return the manifest's offset."""
        records = model_records(encode_model(model), model.version, self.manifest)
        first = await append(self.topic, records[0], 0, b"chunk-0")
        for index, record in enumerate(records[1:], 1):
            await append(self.topic, record, 0, f"chunk-{index}".encode())
        offset = await append(self.topic, manifest_record(model.version, first, len(records)), 0, b"manifest")
        self.version, self.manifest = max(self.version, model.version), offset
        return offset

    async def follow(self, install: Callable[[PublishedModel], None]) -> None:
        """Install every new complete version with ``install``, from the newest one on, until cancelled."""
        name = self.topic.get_topic_name()
        while True:
            try:
                async with reader(self.bootstrap, FOLLOW_WAIT_MS) as consumer:
                    await self._follow(consumer, name, install)
            except (KafkaError, OSError, TimeoutError) as exc:
                log.warning("model topic: %s; reading it again in %.0f s", exc, RETRY_S)
                await asyncio.sleep(RETRY_S)

    async def _follow(self, consumer: Any, name: str, install: Callable[[PublishedModel], None]) -> None:
        start, self._newest = await self._newest_start(consumer, name)
        if self._newest < 0:
            self.caught_up.set()
        tp = TopicPartition(name, 0)
        consumer.assign([tp])
        consumer.seek(tp, start)
        chunks: dict[int, bytes] = {}
        version = None
        while True:
            batches = await consumer.getmany(tp, timeout_ms=1000)
            for raw in batches.get(tp, []):
                record = log_record(raw)
                kind, number = record.headers.get("kind"), int(record.headers.get("version", "0"))
                if kind == "chunk":
                    if number != version:
                        chunks, version = {}, number
                    chunks[int(record.headers["chunk"])] = record.value or b""
                elif kind == "manifest":
                    self._complete(record, number, chunks if number == version else {}, install)

    def _complete(self, manifest: LogRecord, version: int, chunks: dict[int, bytes],
                  install: Callable[[PublishedModel], None]) -> None:
        self.manifest = max(self.manifest, manifest.offset)
        self.version = max(self.version, version)
        count = int(manifest.headers["chunks"])
        if version > self.installed and len(chunks) == count:
            self._install(version, b"".join(chunks[i] for i in range(count)), install)
        if self.manifest >= self._newest:
            self.caught_up.set()

    def _install(self, version: int, payload: bytes, install: Callable[[PublishedModel], None]) -> None:
        try:
            model = decode_model(payload)
        except (ValueError, KeyError) as exc:
            log.warning("model v%d on the model topic cannot be read (%s); keeping v%d", version, exc, self.installed)
            return
        self.installed = version
        install(model)

    async def _newest_start(self, consumer: Any, name: str) -> tuple[int, int]:
        """Return the offsets of the newest complete model's first chunk and of its manifest ((0, -1) when
        there is none)."""
        last, _ = await last_record(consumer, name, 0)
        if last is None:
            return 0, -1
        if last.headers.get("kind") != "manifest":
            previous = int(last.headers.get("previous", "-1"))
            if previous < 0:
                return 0, -1
            found = await read_range(consumer, name, 0, previous, previous + 1)
            if not found:
                return 0, -1
            last = log_record(found[0])
        return int(last.headers.get("first", "0")), last.offset
