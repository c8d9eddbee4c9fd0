"""``streamproc broker``: says it is memory-only, answers Kafka requests, stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from streamproc.kafka.broker import free_port, kafka_ready

pytestmark = pytest.mark.integration


def test_broker_runs_in_the_foreground_and_stops_on_sigterm():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamproc.cli", "broker", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = process.stdout.readline()
        assert f"ready at 127.0.0.1:{port}" in line and "MEMORY-ONLY" in line
        assert kafka_ready(f"127.0.0.1:{port}")
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
        assert not kafka_ready(f"127.0.0.1:{port}")
    finally:
        process.kill()
        process.stdout.close()
        process.stderr.close()
