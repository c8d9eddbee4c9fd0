"""Every command given a wrong path, a bad option or an unreachable broker: one line, non-zero, quickly."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

UNREACHABLE = "127.0.0.1:1"
LIMIT_S = 15


def streamproc(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "streamproc.cli", *args],
        capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})},
    )
    return done, time.monotonic() - started


@pytest.mark.parametrize(
    "args",
    [
        ["no-such-command"],
        ["worker", "--no-such-option"],
        ["worker", "--web-port", "70000"],
        ["worker", "--web-port", "many"],
        ["broker", "--port", "0"],
        ["replay", "lastfm", "/no/such/dir"],
        ["replay", "catalog", "/no/such/file.csv"],
        ["replay", "simulate", "--users", "0"],
        ["evaluate", "--interactions", "/no/such/file"],
        ["evaluate", "--stream", "--format", "tsv", "--interactions", "/no/such/file"],
    ],
)
def test_bad_path_or_option_is_one_line(args, tmp_path):
    done, elapsed = streamproc(*args)
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert elapsed < LIMIT_S


def test_bad_setting_in_the_environment_is_one_line():
    done, elapsed = streamproc("worker", env={"STREAMPROC_TOP_N": "ten"})
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == ["streamproc: error: STREAMPROC_TOP_N='ten' is not a valid int"]
    assert elapsed < LIMIT_S


def test_worker_with_unreachable_broker_is_one_line(tmp_path):
    done, elapsed = streamproc(
        "worker", "--data-dir", str(tmp_path / "state"), env={"STREAMPROC_BROKER": f"kafka://{UNREACHABLE}"}
    )
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [f"streamproc: error: cannot reach the Kafka broker at {UNREACHABLE}"]
    assert elapsed < LIMIT_S


def test_replay_with_unreachable_broker_is_one_line():
    done, elapsed = streamproc("replay", "simulate", "--users", "2", "--events", "5", "--broker", UNREACHABLE)
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert elapsed < LIMIT_S


def test_broker_on_a_port_in_use_is_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done, elapsed = streamproc("broker", "--port", str(port))
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        f"streamproc: error: port 127.0.0.1:{port} is already in use; choose another with --port"
    ]
    assert elapsed < LIMIT_S


def test_worker_data_dir_that_is_a_file_is_one_line(tmp_path):
    path = tmp_path / "file"
    path.write_text("")
    done, _ = streamproc("worker", "--data-dir", str(path))
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1
