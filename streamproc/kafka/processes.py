"""Run real streamproc processes (a worker) and read a topic with an independent client.

Used by the demo, the tests and the benchmarks; shipped in the package (as bytewax ships its
test sources and sinks) so that users can test their own deployments the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from collections.abc import Callable
from typing import Any

READY_TIMEOUT_S = 60.0


def stop_process(process: subprocess.Popen, grace: float) -> None:
    """Stop ``process`` with SIGTERM, or SIGKILL when it is still running after ``grace`` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class WorkerProcess:
    """A ``streamproc worker`` subprocess with its own data directory, web port and log file."""

    def __init__(self, bootstrap: str, app_id: str, data_dir: Path, web_port: int, **settings: str) -> None:
        self.web_port = web_port
        self.data_dir = data_dir
        self.log_path = data_dir.with_suffix(".log")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "STREAMPROC_BROKER": f"kafka://{bootstrap}",
            "STREAMPROC_APP_ID": app_id,
            **{f"STREAMPROC_{name.upper()}": str(value) for name, value in settings.items()},
        }
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamproc.cli", "worker", "--web-port", str(web_port),
             "--data-dir", str(data_dir)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def url(self) -> str:
        """Return the base URL of the worker's web view."""
        return f"http://127.0.0.1:{self.web_port}"

    def get_json(self, path: str, timeout: float = 5.0) -> tuple[int, Any]:
        """Return the status and decoded JSON body of ``GET path`` on the web view (an error's body as text
        when it is not JSON: a worker's handler that failed answers ``500: Internal Server Error``)."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            body = error.read()
            try:
                return error.code, json.loads(body or b"null")
            except ValueError:
                return error.code, body.decode(errors="replace")

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> "WorkerProcess":
        """Return once the worker's web view answers and it has joined its group."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode}; see {self.log_path}")
            if b"Ready" in self.log_path.read_bytes() or b"ready" in self.log_path.read_bytes()[-4000:]:
                try:
                    self.get_json("/api/stats/", timeout=1.0)
                    return self
                except OSError:
                    pass
            time.sleep(0.2)
        raise TimeoutError(f"worker not ready within {timeout:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        """Stop the worker gracefully (SIGTERM), or kill it after 20 s."""
        stop_process(self.process, grace=20)
        self._log.close()

    def kill(self) -> None:
        """Kill the worker at once (SIGKILL)."""
        self.process.kill()
        self.process.wait()
        self._log.close()


class TopicReader:
    """Reads a whole topic with librdkafka (confluent-kafka): an independent client, no consumer group."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        self.consumer = Consumer({
            "bootstrap.servers": bootstrap,
            "group.id": "streamproc-testing-reader",
            "enable.auto.commit": False,
        })
        metadata = self.consumer.list_topics(topic, timeout=10)
        partitions = metadata.topics[topic].partitions
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        self.messages: list[Any] = []

    def poll_until(self, done: Callable[[list[Any]], bool], timeout_s: float) -> list[Any]:
        """Read until ``done(messages so far)`` is true or ``timeout_s`` pass; return every message read."""
        deadline = time.monotonic() + timeout_s
        while not done(self.messages) and time.monotonic() < deadline:
            batch = self.consumer.consume(1000, timeout=0.5)
            self.messages.extend(m for m in batch if not m.error())
        return self.messages

    def close(self) -> None:
        """Close the consumer."""
        self.consumer.close()
