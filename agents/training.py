"""Retrain the factor model in the background when enough new events or time have come.

Training runs in a thread, on a snapshot of the histories, so the stream keeps flowing; the
new model replaces the old one in one assignment on the event loop. Then every user of the
partitions this worker owns is re-ranked in slices, in the background and at a share of the
worker's time (:func:`agents.ranking.refresh_owned_users`), so that every list comes to reflect
the new model, not only those of users who listen again.
"""

from __future__ import annotations

import asyncio
import logging

from agents.ranking import refresh_owned_users
from streamproc.app import app, recommender

log = logging.getLogger(__name__)
CHECK_INTERVAL_S = 1.0


@app.timer(interval=CHECK_INTERVAL_S)
async def retrain_when_due() -> None:
    """Fit a new ALS model when :meth:`Recommender.training_due` says so."""
    if not recommender.training_due():
        return
    events = recommender.interactions.total_events
    version = (recommender.factors.version if recommender.factors else 0) + 1
    histories = recommender.interactions.snapshot()
    loop = asyncio.get_running_loop()
    factors = await loop.run_in_executor(None, recommender.train, histories, version)
    recommender.factors = factors
    recommender.events_at_training = events
    log.info(
        "model v%d trained on %d users × %d items in %.1f s",
        version, factors.n_users, len(factors.item_ids), factors.fit_seconds,
    )
    # In the background: the timer goes on checking, and a newer model ends this refresh early.
    app.add_future(refresh_owned_users(version))
