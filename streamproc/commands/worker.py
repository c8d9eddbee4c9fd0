"""The ``worker`` command: one Faust worker of ``streamproc.app:app``; run as many as you like."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
from pathlib import Path

from threadpoolctl import threadpool_limits

from streamproc.errors import CommandError
from streamproc.recommend.playlists import schedule
from streamproc.settings import settings

log = logging.getLogger("streamproc.commands.worker")
# Collect the youngest generation every this many allocations instead of Python's 700: a batch
# of events allocates hundreds of thousands of short-lived objects, which would otherwise be
# walked, and promoted to be walked again, many times per batch.
GC_THRESHOLDS = (50_000, 20, 20)


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``worker`` command."""
    parser = commands.add_parser("worker", help="run a stream-processing worker (several may run at once)")
    parser.add_argument("--web-port", type=int, default=settings.web_port, help="port of the web view")
    parser.add_argument("--web-host", default=settings.web_host, help="address of the web view")
    parser.add_argument("--data-dir", type=Path, default=Path(settings.data_dir), help="RocksDB state directory")
    parser.add_argument("--loglevel", default="info", choices=["crit", "error", "warn", "info", "debug"])
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Prepare the topics and the data directory, then run the Faust worker until stopped."""
    if not 0 < args.web_port < 65536:
        raise CommandError(f"--web-port must be between 1 and 65535, got {args.web_port}")
    if args.data_dir.exists() and not args.data_dir.is_dir():
        raise CommandError(f"--data-dir {args.data_dir} exists and is not a directory")
    # A bad playlist schedule stops the worker before it reaches for the broker.
    schedule(settings.discover_cron, settings.timezone)
    asyncio.run(_prepare(args.data_dir))
    from streamproc.app import app

    # Faust's --datadir does not override a datadir given to the App, so set it on the app itself.
    app.conf.datadir = str(args.data_dir)
    # Ranking's small products and solves run on the event loop; BLAS threads would only fight
    # the broker, the other workers and the training thread for the cores (a 64 x 64
    # eigendecomposition took 4.6 ms on two threads against 0.8 ms on one, here).
    threadpool_limits(1)
    gc.set_threshold(*GC_THRESHOLDS)
    sys.argv = [
        "streamproc", "--loglevel", args.loglevel,
        "worker", "--web-port", str(args.web_port), "--web-host", args.web_host,
    ]
    app.main()
    return 0


async def _prepare(data_dir: Path) -> None:
    from streamproc.kafka.epoch import broker_epoch, epoch_topic, reconcile
    from streamproc.kafka.admin import ensure_shared_topics, ensure_topics
    from tables.store import COMPACTED_TOPICS, model_topic, user_state_topic
    from tables.topics import RECOMMENDATIONS

    bootstrap = settings.bootstrap_servers()
    await ensure_shared_topics(bootstrap, settings.topic_partitions)
    await ensure_topics(bootstrap, [user_state_topic.get_topic_name()], settings.topic_partitions)
    model = model_topic.get_topic_name()
    await ensure_topics(bootstrap, [t for t in COMPACTED_TOPICS if t not in (model, RECOMMENDATIONS)],
                        settings.topic_partitions, compacted=True)
    await ensure_topics(bootstrap, [model], 1, compacted=True)
    epoch = await broker_epoch(bootstrap, epoch_topic(settings.app_id))
    if reconcile(data_dir, epoch):
        print(
            f"streamproc worker: the broker has none of the state in {data_dir} (it was restarted or "
            "is another broker); discarded it, tables restore from the changelogs",
            file=sys.stderr,
        )
