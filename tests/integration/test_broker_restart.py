"""A worker with state; the memory-only broker restarted (so empty); the worker restarted with the
same data directory must start, discarding its stale RocksDB state (``streamproc.kafka.epoch``)
instead of stopping with Faust's ConsistencyError, and process new events."""

from __future__ import annotations

import gc

import pytest

from streamproc.kafka.broker import EmbeddedBroker, free_port
from streamproc.kafka.cluster import Producer, Workers, send_listens, simulated, wait_for_histories, wait_until

pytestmark = pytest.mark.integration


def events_seen(worker) -> int:
    status, body = worker.get_json("/api/stats/")
    return body["events"] if status == 200 else -1


def test_worker_restarts_with_stale_state_after_the_broker_lost_everything(tmp_path):
    port = free_port()
    before = simulated(n_users=40, n_events=800, seed=5)
    after = simulated(n_users=30, n_events=500, seed=6)
    app_id = None
    with EmbeddedBroker(port=port) as broker:
        with Workers(broker.bootstrap, tmp_path) as workers:
            worker = workers.start("w1")
            producer = Producer(broker.bootstrap)
            sent = send_listens(producer, before)
            producer.flush()
            wait_until(lambda: events_seen(worker) == len(before), 60, "the worker took every event")
            app_id = workers.app_id
            worker.stop()
            # A live client would ask the new broker for `listens` and so auto-create it with the
            # broker's default 4 partitions before the worker creates it with 8: close it first.
            del producer
            gc.collect()
    assert any((tmp_path / "w1").rglob("*.sst")) or any((tmp_path / "w1").rglob("*.log")), "no RocksDB state kept"

    with EmbeddedBroker(port=port) as broker:
        with Workers(broker.bootstrap, tmp_path, app_id=app_id) as workers:
            worker = workers.start("w1")
            assert b"discarded it" in worker.log_path.read_bytes()
            assert b"ConsistencyError" not in worker.log_path.read_bytes()
            producer = Producer(broker.bootstrap)
            sent = send_listens(producer, after)
            producer.flush()
            totals = wait_for_histories(workers, sent, timeout_s=60)
            assert {user: totals.get(user) for user in sent} == dict(sent)
            wait_until(lambda: events_seen(worker) == len(after), 30, "the worker counts only new events")
            status, body = worker.get_json(f"/api/users/{after[0].user_id}/")
            assert status == 200 and body["events"] == sent[after[0].user_id]
            assert worker.process.poll() is None


def test_table_recovery_gets_the_true_end_of_a_partition_not_listoffsets(broker):
    """Regression: ListOffsets on this broker answers the start of the last batch plus one, so a
    worker taking over partitions stopped with ConsistencyError; the transport asks a fetch."""
    import asyncio

    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    from streamproc.kafka.transport import true_highwaters

    async def ends() -> tuple[int, int]:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=50)
        await producer.start()
        try:
            for i in range(25):
                await producer.send("one-batch", b"%d" % i, partition=0)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None)
        await consumer.start()
        try:
            listed = await consumer.end_offsets([TopicPartition("one-batch", 0)])
        finally:
            await consumer.stop()
        fetched = await true_highwaters(broker.bootstrap, listed)
        return next(iter(listed.values())), next(iter(fetched.values()))

    listed, fetched = asyncio.run(ends())
    assert fetched == 25
    assert listed <= fetched
