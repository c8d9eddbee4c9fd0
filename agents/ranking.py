"""The ranking agent: a fresh top-N for every user whose history changed, sent to ``recommendations``.

Ranking is CPU work on the event loop, so it yields between slices of users to keep
heartbeats, timers and the web view responsive.
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.types import EventT

from agents.event_context import under_event
from streamproc.app import recommender
from tables.store import latest_recommendations, recommendations_topic

SLICE = 50


async def publish_recommendations(changed: dict[str, tuple[EventT, dict[str, Any]]]) -> None:
    """Rank and publish the recommendations of each user in ``changed`` (user → (event, history))."""
    for done, (user_id, (event, history)) in enumerate(changed.items(), 1):
        recommendation = recommender.recommend(user_id, history["items"])
        value = recommendation.to_dict()
        await recommendations_topic.send(key=user_id.encode(), value=recommendation.to_bytes())
        with under_event(event):
            latest_recommendations[user_id] = value
        if done % SLICE == 0:
            await asyncio.sleep(0)
