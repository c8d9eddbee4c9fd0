"""The catalogue agent: tracks into the track table, and audio features into the clusterer.

Tracks with features feed the incremental StandardScaler + MiniBatchKMeans in batches
(``partial_fit``); each such track's cluster goes to the track → cluster table.
"""

from __future__ import annotations

import numpy as np
from faust.types import StreamT

from agents.dead_letters import send_dead_letter
from agents.event_context import under_event
from streamproc.app import app, recommender
from streamproc.settings import settings
from streamproc.stats import stats
from tables.errors import InvalidMessage
from tables.store import track_clusters, track_table, tracks_topic
from tables.track import Track


@app.agent(tracks_topic)
async def process_tracks(stream: StreamT) -> None:
    """Store every valid track, cluster the ones with audio features, dead-letter the rest."""
    async for events in stream.take_events(settings.cluster_batch, within=0.5):
        stats.record_batch(events)
        with_features = []
        for event in events:
            try:
                track = Track.from_bytes(event.message.value, settings.max_message_bytes)
            except InvalidMessage as exc:
                await send_dead_letter(event, str(exc))
                continue
            with under_event(event):
                track_table[track.item_id] = track.to_dict()
            if track.features is not None:
                with_features.append((event, track))
        if with_features:
            vectors = np.array([track.feature_vector() for _, track in with_features])
            clusterer = recommender.clusterer.partial_fit(vectors)
            if clusterer.is_fitted:
                for (event, track), label in zip(with_features, clusterer.predict(vectors)):
                    with under_event(event):
                        track_clusters[track.item_id] = int(label)
