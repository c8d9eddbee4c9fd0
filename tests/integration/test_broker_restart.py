"""A worker with state; the memory-only broker restarted (so empty). A worker restarted with the
same data directory must start, discarding its stale RocksDB state (``streamproc.kafka.epoch``)
instead of stopping with Faust's ConsistencyError, and process new events; a worker that keeps
running must notice the broker's new life, say so once, restart itself in place
(``agents.broker_epoch``) and process new events with no manual restart."""

from __future__ import annotations

import gc
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


def send_and_count(broker, workers, running, listens) -> Counter:
    """Send ``listens``, require every user's history and the ``running`` workers' summed count to be
    exactly theirs; return events per user."""
    producer = Producer(broker.bootstrap)
    sent = send_listens(producer, listens)
    producer.flush()
    totals = wait_for_histories(workers, sent, timeout_s=60)
    assert {user: totals.get(user) for user in sent} == dict(sent)
    wait_until(lambda: sum(map(events_seen, running)) == len(listens), 30, "the workers count only new events")
    return sent


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
            sent = send_and_count(broker, workers, [worker], after)
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
            # Closed before the new broker starts, or it would auto-create `listens` there (see above).
            del producer
            gc.collect()
            pids = [worker.process.pid for worker in running]

            broker.stop()
            broker = EmbeddedBroker(port=port).start()
            restarted = time.monotonic()
            noticed = wait_until(lambda: all(NEW_LIFE in w.log_path.read_bytes() for w in running), 60,
                                 "every worker noticed the broker's new life")
            # Their state was of the old life: no event counted, every partition owned again, once.
            recovered = wait_until(lambda: all(events_seen(w) == 0 for w in running) and split(running), 90,
                                   "the workers restarted in place and own every partition between them")
            print(f"broker restart, {len(names)} worker(s): noticed after {noticed:.1f} s, every partition owned "
                  f"again {time.monotonic() - restarted:.1f} s after the new broker started ({recovered:.1f} s later)")

            send_and_count(broker, workers, running, after)
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
