"""The Faust tables and topics of the app, declared once.

Tables live in RocksDB (rocksdict) with a changelog topic each, so a worker restarted with an
empty data directory restores them from Kafka. Topics carry raw bytes: messages are decoded by
the schemas in this package, so that an undecodable message can go to ``dead-letters`` with its
reason instead of stopping the agent. Table keys are raw UTF-8 (as the topics' keys), values JSON,
so a table key lands in the same partition as the message it came from.

``recommendations``, the output topic, is the changelog of ``latest_recommendations``: a list
is written once, into the table, and that write is the message subscribers read. Forgetting a
user deletes their key, which puts a tombstone on ``recommendations``. Its values are the JSON
bytes themselves, encoded once for the store and the topic alike.
"""

from __future__ import annotations

from typing import Any

from faust.types import TableT

from streamproc.app import app
from streamproc.settings import settings
from tables import topics
from tables.rocksdb_options import rocksdb_options

listens_topic = app.topic(topics.LISTENS, key_type=bytes, value_type=bytes)
tracks_topic = app.topic(topics.TRACKS, key_type=bytes, value_type=bytes)
recommendations_topic = app.topic(topics.RECOMMENDATIONS, key_type=bytes, value_type=bytes)
dead_letters_topic = app.topic(topics.DEAD_LETTERS, key_type=bytes, value_type=bytes)
controls_topic = app.topic(topics.CONTROLS, key_type=bytes, value_type=bytes)
playlists_topic = app.topic(topics.PLAYLISTS, key_type=bytes, value_type=bytes)
# What the listens agent reads: listens and controls, co-partitioned (same key, same partition
# count), so a user's control is applied in order with their listens, next to their state.
user_events_topic = app.topic(topics.LISTENS, topics.CONTROLS, key_type=bytes, value_type=bytes)


def _table(name: str, description: str, **kwargs: Any) -> TableT:
    """Return a RocksDB-backed table keyed by raw bytes, within this worker's memory bounds."""
    return app.Table(name, key_type=bytes, help=description, options=rocksdb_options(settings), **kwargs)


# user id → {"items": {item id: confidence}, "events": n, "offset": last applied offset}
user_history = _table("user_history", "Each user's interaction history.")
# item id → the track's ``tracks`` message
track_table = _table("tracks", "The catalogue, keyed by item id.")
# item id → cluster of the track's audio features
track_clusters = _table("track_clusters", "Track to audio-feature cluster.")
# user id → the user's latest ``recommendations`` message, as the JSON bytes sent
latest_recommendations = _table("latest_recommendations", "Each user's latest recommendations.",
                                value_type=bytes, changelog_topic=recommendations_topic)
# user id → the user's control state (``tables.control.apply_control``)
user_controls = _table("user_controls", "Each user's listener controls.")
# user id → {kind: {"entries": [{"period", "generated_at", "items"}], "latest": playlist message}}
user_playlists = _table("user_playlists", "Each user's recent playlists.")
# The tables keyed by user id: a "forget me" deletes the user's key from each of them.
USER_TABLES = (user_history, latest_recommendations, user_controls, user_playlists)

CHANGELOG_TOPICS = {
    "history": user_history.changelog_topic.get_topic_name(),
    "catalog": track_table.changelog_topic.get_topic_name(),
    "controls": user_controls.changelog_topic.get_topic_name(),
}
