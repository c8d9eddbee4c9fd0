"""The trainer: the Faust leader trains the model and publishes it; every worker installs it.

Faust elects one leader per consumer group (the worker assigned the leader topic), so exactly
one worker trains at a time, and when it dies the next leader chosen by the rebalance takes
over (a session timeout later). The leader's :class:`~streamproc.recommend.training.Trainer`
is fed from every partition (:mod:`streamproc.kafka.training_feed`); training runs in a thread,
so the leader's own stream keeps flowing. Every worker, the leader too, follows the model topic
and installs each complete version (:func:`install_models`), then re-ranks its users' lists.
"""

from __future__ import annotations

import asyncio
import logging
from typing import NamedTuple

from agents.ranking import refresh_owned_users
from streamproc.app import app
from streamproc.kafka.training_feed import feed_trainer
from streamproc.recommend.training import Trainer
from streamproc.runtime import runtime
from streamproc.settings import settings
from tables.model_bundle import PublishedModel
from tables.store import CONTROLS_CHANGELOG

log = logging.getLogger(__name__)
CHECK_INTERVAL_S = 1.0


class Feed(NamedTuple):
    """The task feeding the leader's trainer, and the event it sets once every partition is loaded."""

    task: asyncio.Future
    ready: asyncio.Event


_feed: Feed | None = None


@app.timer(interval=CHECK_INTERVAL_S)
async def train_when_due() -> None:
    """On the leader: keep the trainer fed, and train and publish when it says a model is due."""
    if not app.is_leader():
        _stop_training()
        return
    if runtime.trainer is None:
        _start_training()
        return
    trainer = runtime.trainer
    if _feed is None or not _feed.ready.is_set():
        return
    trainer.feed_catalog(runtime.recommender.catalog)
    if not trainer.due():
        return
    snapshot = trainer.snapshot()
    version = runtime.model_log.version + 1
    model = await asyncio.get_running_loop().run_in_executor(None, trainer.train, snapshot, version)
    if runtime.trainer is not trainer:
        return  # leadership moved while training
    await runtime.model_log.publish(model)
    log.info("model v%d trained on %d users × %d items in %.1f s and published",
             version, model.n_users, len(model.item_ids), model.fit_seconds)


def _start_training() -> None:
    global _feed
    runtime.trainer = Trainer(settings)
    ready = asyncio.Event()
    task = asyncio.ensure_future(feed_trainer(runtime.trainer, runtime.state_log, settings.topic_partitions,
                                              CONTROLS_CHANGELOG, ready))
    task.add_done_callback(_report)
    _feed = Feed(task, ready)
    log.info("this worker is the leader: it trains the model now")


def _report(task: asyncio.Future) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("trainer feed stopped: %r; training starts again at the next check", task.exception())
        _stop_training()


def _stop_training() -> None:
    global _feed
    if runtime.trainer is None:
        return
    if _feed is not None:
        _feed.task.cancel()
        _feed = None
    runtime.trainer = None
    log.info("this worker is no longer the leader: training stops here")


def install(model: PublishedModel) -> None:
    """Rank with ``model`` from now on, and re-rank the owned users' lists in the background."""
    runtime.recommender.install(model)
    log.info("installed model v%d (%d items, trained on %d users)", model.version, len(model.item_ids), model.n_users)
    app.add_future(refresh_owned_users(model.version))


@app.task
async def install_models() -> None:
    """Follow the model topic and install each new complete version."""
    await runtime.model_log.follow(install)
