"""Notice a new life of the broker while the worker runs, and restart the worker in place.

A memory-only broker that restarts comes back empty: no topics, no group, no committed offsets,
no changelogs (FAUST_ON_TANSU.md). A worker that ran through it would rejoin the new broker's
group with state of the old life: users loaded from a user-state log that no longer exists,
tables whose RocksDB offsets are past the new changelogs' ends (Faust's recovery then stops with
``ConsistencyError``), and clients that had already auto-created topics with the broker's
default partition count. Every few seconds (``STREAMPROC_EPOCH_CHECK_SECONDS``), and at once on
every rebalance (a new broker life always starts with one, before Faust restores the tables),
the worker compares the broker's epoch (:mod:`streamproc.kafka.epoch`) with the one its data
directory belongs to. When they differ it says so in one line, discards the directory and
replaces its own process (``os.execv``: the same pid, arguments and log) by a fresh worker,
whose ordinary start creates the topics (recreating the empty ones auto-created with the wrong
partition count, :mod:`streamproc.kafka.admin`), takes the new epoch and joins the group empty.

Why a restart in place rather than resetting tables and offsets inside the running worker:
that would mean reaching into Faust's consumer, table manager, recovery and RocksDB stores,
none of which has a public way to forget a broker's life, while racing the recovery that the
rejoin has already started. A new process has nothing of the old life by construction, and its
start-up path is the one every test and every deployment already runs.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from aiokafka.errors import KafkaError

from streamproc.app import app
from streamproc.errors import BrokerUnavailable
from streamproc.kafka.epoch import broker_epoch, current_epoch, epoch_topic, known_epoch, reconcile
from streamproc.settings import settings

log = logging.getLogger(__name__)


@app.timer(interval=settings.epoch_check_seconds)
async def watch_broker_epoch() -> None:
    """Restart the worker in place if the broker has started a new life."""
    await check_broker_epoch()


@app.on_partitions_revoked.connect
async def check_on_rebalance(sender: Any, revoked: Any, **kwargs: Any) -> None:
    """Check the epoch before Faust restores tables against what may be a new broker."""
    await check_broker_epoch()


async def check_broker_epoch() -> None:
    """Restart the worker in place, its state discarded, when the broker's epoch is not its data directory's."""
    data_dir = Path(app.conf.datadir)
    bootstrap, topic = settings.bootstrap_servers(), epoch_topic(settings.app_id)
    known = known_epoch(data_dir)
    try:
        if await current_epoch(bootstrap, topic) == known:
            return
        epoch = await broker_epoch(bootstrap, topic)
    except (KafkaError, BrokerUnavailable, TimeoutError, OSError):
        return  # the broker is away; the next check will see what comes back
    log.warning("the broker is in a new life (epoch %s, this worker's state is of %s): restarting this worker "
                "in place, its state in %s discarded", epoch[:8], (known or "none")[:8], data_dir)
    reconcile(data_dir, epoch)
    restart_in_place()


def restart_in_place() -> NoReturn:
    """Replace this process by a fresh run of the same command line (same pid, same output files)."""
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
