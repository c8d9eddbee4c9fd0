"""A worker with state; the memory-only broker restarted (so empty). A worker restarted with the
same data directory must start, discarding its stale RocksDB state (``streamproc.kafka.epoch``)
instead of stopping with Faust's ConsistencyError, and process new events; workers that keep
running must notice the broker's new life, say so once, restart themselves in place
(``agents.broker_epoch``) and process new events with no manual restart. The producer outlives the
broker and writes to the new one before any worker is back: not one of its events may be lost."""

from __future__ import annotations

from collections import Counter
import time

import pytest

from streamproc.kafka.broker import EmbeddedBroker, free_port
from streamproc.kafka.cluster import (Producer, Workers, send_listens, simulated, split, wait_for_histories,
                                      wait_until)

pytestmark = pytest.mark.integration


def events_seen(worker) -> int:
    """Return the events the worker counts (-1 while its web view does not answer)."""
    try:
        status, body = worker.get_json("/api/stats/")
    except OSError:
        return -1
    return body["events"] if status == 200 else -1


def send_and_wait(producer, workers, listens, earlier: Counter | None = None) -> Counter:
    """Send ``listens`` with ``producer`` and require every user's history to hold exactly the events
    sent (these and ``earlier``'s); return events per user."""
    sent = send_listens(producer, listens) + (earlier or Counter())
    producer.flush()
    totals = wait_for_histories(workers, sent, timeout_s=90)
    assert {user: totals.get(user) for user in sent} == dict(sent)
    return sent


def test_worker_restarts_with_stale_state_after_the_broker_lost_everything(tmp_path):
    port = free_port()
    before = simulated(n_users=40, n_events=800, seed=5)
    after = simulated(n_users=30, n_events=500, seed=6)
    app_id = None
    with EmbeddedBroker(port=port) as broker:
        # A producer that outlives the broker, as a real one does: on the new broker it writes before
        # any worker is back, which must not leave `listens` auto-created with the broker's own 4
        # partitions (the broker creates the shared topics with 8 at its start).
        producer = Producer(broker.bootstrap)
        with Workers(broker.bootstrap, tmp_path) as workers:
            worker = workers.start("w1")
            send_listens(producer, before)
            producer.flush()
            wait_until(lambda: events_seen(worker) == len(before), 60, "the worker took every event")
            app_id = workers.app_id
            worker.stop()
    assert any((tmp_path / "w1").rglob("*.sst")) or any((tmp_path / "w1").rglob("*.log")), "no RocksDB state kept"

    with EmbeddedBroker(port=port) as broker:
        with Workers(broker.bootstrap, tmp_path, app_id=app_id) as workers:
            early = send_listens(producer, after[:100])
            producer.flush()
            worker = workers.start("w1")
            log = worker.log_path.read_bytes()
            assert b"discarded it" in log
            assert b"ConsistencyError" not in log and b"PartitionsMismatch" not in log
            sent = send_and_wait(producer, workers, after[100:], early)
            wait_until(lambda: events_seen(worker) == len(after), 30, "the worker counts only new events")
            status, body = worker.get_json(f"/api/users/{after[0].user_id}/")
            assert status == 200 and body["events"] == sent[after[0].user_id]
            assert worker.process.poll() is None


NEW_LIFE = b"the broker is in a new life"


@pytest.mark.parametrize("names", [("w1",), ("w1", "w2")], ids=["one worker", "two workers"])
def test_running_workers_notice_the_broker_restarted_and_go_on_with_new_events(tmp_path, names):
    port = free_port()
    before = simulated(n_users=40, n_events=800, seed=5)
    after = simulated(n_users=30, n_events=500, seed=6)
    broker = EmbeddedBroker(port=port).start()
    try:
        with Workers(broker.bootstrap, tmp_path) as workers:
            running = [workers.start(name) for name in names]
            producer = Producer(broker.bootstrap)
            send_listens(producer, before)
            producer.flush()
            wait_until(lambda: sum(map(events_seen, running)) == len(before), 60, "the workers took every event")
            pids = [worker.process.pid for worker in running]

            broker.stop()
            broker = EmbeddedBroker(port=port).start()
            restarted = time.monotonic()
            # The producer outlives the broker and goes on writing before the workers notice anything.
            early = send_listens(producer, after[:100])
            producer.flush()
            wait_until(lambda: all(NEW_LIFE in w.log_path.read_bytes() for w in running), 60,
                       "every worker noticed the broker's new life")
            noticed = time.monotonic() - restarted
            wait_until(lambda: split(running), 90, "the workers restarted in place and own every partition between them")
            print(f"broker restart, {len(names)} worker(s): every worker noticed {noticed:.1f} s and every partition "
                  f"was owned again {time.monotonic() - restarted:.1f} s after the new broker started")

            # Their state was of the old life: they count exactly the events of the new one.
            send_and_wait(producer, workers, after[100:], early)
            wait_until(lambda: sum(map(events_seen, running)) == len(after), 30, "the workers count every new event")
            print(f"broker restart: every new event reflected {time.monotonic() - restarted:.1f} s after it")
            for worker in running:
                log = worker.log_path.read_bytes()
                assert log.count(NEW_LIFE) == 1
                assert b"ConsistencyError" not in log and b"PartitionsMismatch" not in log
            assert [w.process.pid for w in running] == pids and all(w.process.poll() is None for w in running)
    finally:
        broker.stop()


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
