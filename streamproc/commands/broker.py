"""The ``broker`` command: the embedded, memory-only broker in the foreground."""

from __future__ import annotations

import argparse
import signal
import sys
import time

from streamproc.errors import CommandError
from streamproc.kafka.broker import EmbeddedBroker


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``broker`` command."""
    parser = commands.add_parser("broker", help="run the embedded, memory-only Kafka broker")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9092, help="port to listen on (default 9092)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the broker in the foreground until Ctrl-C or SIGTERM."""
    if not 0 < args.port < 65536:
        raise CommandError(f"--port must be between 1 and 65535, got {args.port}")
    broker = EmbeddedBroker(args.host, args.port).start()
    # Everything after the start inside the try: a Ctrl-C that came as the line below went out (the
    # reader of that line may act on it at once) left the broker running without its command.
    try:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        print(
            f"streamproc broker: ready at {broker.bootstrap} (embedded Tansu, MEMORY-ONLY: "
            "every topic is lost when it stops; Ctrl-C to stop)",
            flush=True,
        )
        while broker.process is not None and broker.process.poll() is None:
            time.sleep(0.5)
        raise CommandError(f"the broker exited with status {broker.process.returncode}")
    finally:
        broker.stop()
