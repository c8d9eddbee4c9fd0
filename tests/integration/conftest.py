"""Fixtures for tests against a real broker, real worker processes and a real client."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from streamproc.kafka.broker import EmbeddedBroker, free_port
from streamproc.kafka.processes import WorkerProcess


@pytest.fixture()
def broker() -> Iterator[EmbeddedBroker]:
    """A fresh embedded broker for one test."""
    with EmbeddedBroker(port=free_port()) as running:
        yield running


@pytest.fixture()
def start_worker(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start workers of one app on ``broker``; every worker is stopped when the test ends."""
    app_id = f"sp-{uuid.uuid4().hex[:8]}"
    workers: list[WorkerProcess] = []

    def start(name: str = "w1", **settings: str) -> WorkerProcess:
        worker = WorkerProcess(broker.bootstrap, app_id, tmp_path / name, free_port(), **settings)
        workers.append(worker)
        return worker.wait_ready()

    yield start
    for worker in workers:
        worker.stop()


def streamproc(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the streamproc command line and return its completed process."""
    return subprocess.run(
        [sys.executable, "-m", "streamproc.cli", *args],
        capture_output=True, text=True, timeout=timeout, env={**os.environ},
    )
