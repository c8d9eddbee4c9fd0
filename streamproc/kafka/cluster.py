"""Drive workers of one app on one broker from outside, as the fault tests and the soak do: a
librdkafka producer that records where each message landed, every worker's users read back from its
web view, and waiting on the workers' stats. Shipped in the package beside
:mod:`streamproc.kafka.processes`, so that ``bench/`` and ``tests/`` share one copy.

The producer partitions keys with murmur2, as Java clients, aiokafka and Faust's web routing do
(librdkafka's own default, CRC32, would put users in partitions Faust's router does not expect).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from streamproc.kafka.processes import WorkerProcess
from streamproc.settings import settings
from streamproc.simulator import generate_catalogue, make_listeners, simulate_listens
from tables.listen import Listen


class Producer:
    """Sends messages with confluent-kafka and keeps each one's (topic, partition, offset)."""

    def __init__(self, bootstrap: str) -> None:
        from confluent_kafka import Producer as KafkaProducer

        self.producer = KafkaProducer({
            "bootstrap.servers": bootstrap,
            "partitioner": "murmur2_random",
            "linger.ms": 5,
            "message.max.bytes": 4 * 1024 * 1024,
            # Producers outside streamproc often compress: the workers must read what they send.
            "compression.type": "zstd",
        })
        self.positions: list[tuple[str, int, int] | None] = []
        self.errors: list[str] = []

    def send(self, topic: str, key: bytes | None, value: bytes | None) -> int:
        """Queue one message and return its index in :attr:`positions` (filled when delivered)."""
        index = len(self.positions)
        self.positions.append(None)

        def delivered(error: Any, message: Any) -> None:
            if error is not None:
                self.errors.append(str(error))
            else:
                self.positions[index] = (message.topic(), message.partition(), message.offset())

        while True:
            try:
                self.producer.produce(topic, value=value, key=key, on_delivery=delivered)
                break
            except BufferError:
                self.producer.poll(0.1)
        self.producer.poll(0)
        return index

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every queued message is delivered; fail on any delivery error."""
        assert self.producer.flush(timeout) == 0, "messages left undelivered"
        assert not self.errors, self.errors[:3]


def simulated(n_users: int, n_events: int, seed: int) -> list[Listen]:
    """Return ``n_events`` simulated listening events of ``n_users`` users over 500 tracks."""
    catalogue = generate_catalogue(500, seed=seed)
    listeners = make_listeners(catalogue, n_users, seed=seed)
    return list(simulate_listens(catalogue, listeners, n_events, seed=seed, start=time.time()))


def send_listens(producer: Producer, listens: Iterable[Listen], rate: float | None = None) -> Counter[str]:
    """Send ``listens`` keyed by user (at ``rate`` a second when given); return events per user."""
    sent: Counter[str] = Counter()
    started = time.monotonic()
    for n, listen in enumerate(listens, 1):
        producer.send("listens", listen.user_id.encode(), listen.to_bytes())
        sent[listen.user_id] += 1
        if rate:
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    return sent


def held_users(worker: WorkerProcess) -> dict[int, dict[str, int]]:
    """Return partition → user → events of each partition the worker holds (empty if it does not answer)."""
    try:
        status, body = worker.get_json("/api/partitions/", timeout=3.0)
        held = {}
        for partition in body.get("partitions", {}) if status == 200 else ():
            status, users = worker.get_json(f"/api/partitions/{partition}/users", timeout=3.0)
            if status == 200:
                held[int(partition)] = users["users"]
        return held
    except OSError:
        return {}


def wait_for_histories(workers: "Workers", expected: Counter[str], timeout_s: float) -> dict[str, int]:
    """Ask the running workers for their users until each user's events equal ``expected``, every
    partition held by exactly one worker; return user → events as last read (the caller asserts)."""
    latest: dict[str, int] = {}
    deadline = time.monotonic() + timeout_s
    while True:
        latest = {}
        holders: Counter[int] = Counter()
        for worker in workers.running():
            for partition, users in held_users(worker).items():
                holders[partition] += 1
                latest.update(users)
        if all(latest.get(user) == n for user, n in expected.items()) and max(holders.values(), default=1) == 1:
            return latest
        if time.monotonic() > deadline:
            return latest
        time.sleep(0.5)


def stream_stats(worker: WorkerProcess) -> dict[str, Any]:
    """Return the ``stream`` part of the worker's ``/api/stats/`` (empty if it does not answer)."""
    try:
        status, body = worker.get_json("/api/stats/", timeout=3.0)
    except OSError:
        return {}
    return body.get("stream", {}) if status == 200 else {}


def owned(worker: WorkerProcess, topic: str = "listens") -> set[int]:
    """Return the partitions of ``topic`` the worker owns now."""
    return set(stream_stats(worker).get("assigned", {}).get(topic, []))


def split(workers: list[WorkerProcess]) -> bool:
    """Return True when each of ``workers`` owns some ``listens`` partitions and together exactly all of them."""
    sets = [owned(w) for w in workers]
    return all(sets) and sum(map(len, sets)) == len(set().union(*sets)) == settings.topic_partitions


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Wait until ``condition()`` holds; return the seconds it took, or fail naming ``what``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"not within {timeout_s:.0f} s: {what}")
        time.sleep(0.2)
    return time.monotonic() - started


class Workers:
    """Workers of one app on one broker, each with its own data directory; all stopped on exit."""

    def __init__(self, bootstrap: str, root: Any, app_id: str | None = None, **settings: str) -> None:
        import uuid

        self.bootstrap = bootstrap
        self.root = root
        self.app_id = app_id or f"sp-{uuid.uuid4().hex[:8]}"
        self.settings = settings
        self.started: list[WorkerProcess] = []

    def start(self, name: str, wait: bool = True) -> WorkerProcess:
        """Start worker ``name`` (data directory ``root/name``) and, by default, wait until it is ready."""
        from streamproc.kafka.broker import free_port

        worker = WorkerProcess(self.bootstrap, self.app_id, self.root / name, free_port(), **self.settings)
        self.started.append(worker)
        return worker.wait_ready() if wait else worker

    def running(self) -> list[WorkerProcess]:
        """Return the workers started and not stopped or killed."""
        return [worker for worker in self.started if worker.process.poll() is None]

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc: object) -> None:
        for worker in self.started:
            if worker.process.poll() is None:
                worker.stop()
            elif not worker._log.closed:
                worker._log.close()
