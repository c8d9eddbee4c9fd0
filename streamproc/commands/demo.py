"""``make demo``: an embedded broker, one worker and streamed data, until Ctrl-C.

Streams the EMERGIFY catalogue with simulated listeners over it, and the Last.fm plays, from
``STREAMPROC_DATA`` when the data sets are there; otherwise a simulated catalogue and listeners.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from streamproc.kafka.broker import EmbeddedBroker, free_port, port_in_use
from streamproc.kafka.processes import WorkerProcess
from streamproc.settings import settings

DEMO_DIR = Path(".streamproc") / "demo"


def replays(data: Path) -> list[list[str]]:
    """Return the replay commands for the data found under ``data``."""
    lastfm = data / "lastfm-2k"
    catalog = data / "emergify" / "every_fresh_find.csv"
    commands = []
    if catalog.is_file():
        commands.append(["catalog", str(catalog)])
        commands.append(["simulate", "--users", "300", "--events", "30000", "--seed", "42", "--catalog", str(catalog)])
    if (lastfm / "user_artists.dat").is_file():
        commands.append(["lastfm", str(lastfm)])
    return commands or [["simulate", "--users", "1000", "--events", "100000", "--seed", "42"]]


def main() -> int:
    """Run the demo and return its exit status."""
    port = free_port() if port_in_use("127.0.0.1", 9092) else 9092
    with EmbeddedBroker(port=port) as broker:
        print(f"broker: {broker.bootstrap} (embedded, memory-only)")
        worker = WorkerProcess(broker.bootstrap, "streamproc-demo", DEMO_DIR / "worker", settings.web_port)
        try:
            worker.wait_ready()
            print(f"worker: ready, log in {worker.log_path}")
            for command in replays(Path(settings.data)):
                subprocess.run(
                    [sys.executable, "-m", "streamproc.cli", "replay", *command, "--broker", broker.bootstrap],
                    check=True,
                )
            _print_where_to_look(worker, broker.bootstrap)
            while worker.process.poll() is None:
                time.sleep(1)
            print(f"the worker stopped; see {worker.log_path}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\nstopping")
            return 0
        finally:
            worker.stop()


def _print_where_to_look(worker: WorkerProcess, bootstrap: str) -> None:
    print(
        f"\nweb view:  {worker.url}/   (a user: {worker.url}/users/2/ , JSON under /api/)\n"
        f"subscribe: any Kafka client on {bootstrap}, topic 'recommendations', e.g.\n"
        f"  .venv/bin/python -c \"from confluent_kafka import Consumer; "
        f"c = Consumer({{'bootstrap.servers': '{bootstrap}', 'group.id': 'me', 'auto.offset.reset': 'earliest'}}); "
        f"c.subscribe(['recommendations']); "
        f"[print(m.key().decode(), (m.value() or b'forgotten').decode()) for m in iter(lambda: c.poll(1.0), 0) if m and not m.error()]\"\n"
        "Ctrl-C stops everything.",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
