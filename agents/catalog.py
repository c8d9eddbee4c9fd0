"""The catalogue agent: every track of the partitions this worker owns is checked; bad ones are dead-lettered.

Every worker keeps the whole catalogue from ``tracks`` itself (:mod:`streamproc.kafka.catalog_feed`),
and the trainer fits the audio-feature clusters on it; this agent is where a track that does not
decode is refused, once, by the owner of its partition.
"""

from __future__ import annotations

from faust.types import StreamT

from agents.dead_letters import send_dead_letter
from streamproc.app import app
from streamproc.settings import settings
from streamproc.stats import stats
from tables.errors import InvalidMessage
from tables.store import tracks_topic
from tables.track import Track


@app.agent(tracks_topic)
async def process_tracks(stream: StreamT) -> None:
    """Dead-letter every track that does not decode."""
    async for events in stream.take_events(settings.cluster_batch, within=0.5):
        stats.record_batch(event.message for event in events)
        for event in events:
            try:
                Track.from_bytes(event.message.value, settings.max_message_bytes)
            except InvalidMessage as exc:
                await send_dead_letter(event.message, str(exc))
