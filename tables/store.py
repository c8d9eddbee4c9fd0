"""The Faust tables and topics of the app, declared once.

Topics carry raw bytes: messages are decoded by the schemas in this package, so that an
undecodable message can go to ``dead-letters`` with its reason instead of stopping the agent.

The users' histories are not a Faust table: a table's changelog would rewrite a user's whole
history on every event. Each worker keeps the users of the partitions it owns in memory and
persists them on ``{app_id}-user-state`` (:mod:`tables.user_state`), one partition per
``listens`` partition. The trainer publishes the model on ``{app_id}-model``
(:mod:`tables.model_bundle`). Lists go straight to ``recommendations``, a compacted topic keyed
by user; forgetting a user sends a tombstone there.

The control state and the playlists are tables in RocksDB (rocksdict) with a changelog each:
they change on a listener's request, not per event. Table keys are raw UTF-8 (as the topics'
keys), values JSON, so a table key lands in the same partition as the message it came from.
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


def _table(name: str, description: str, **kwargs: Any) -> TableT:
    """Return a RocksDB-backed table keyed by raw bytes, within this worker's memory bounds."""
    return app.Table(name, key_type=bytes, help=description, options=rocksdb_options(settings), **kwargs)


# user id → the user's control state (``tables.control.apply_control``)
user_controls = _table("user_controls", "Each user's listener controls.")
# user id → {kind: {"entries": [{"period", "generated_at", "items"}], "latest": playlist message}}
user_playlists = _table("user_playlists", "Each user's recent playlists.")
# The tables keyed by user id: a "forget me" deletes the user's key from each of them.
USER_TABLES = (user_controls, user_playlists)

user_state_topic = app.topic(f"{settings.app_id}-user-state", key_type=bytes, value_type=bytes)
model_topic = app.topic(f"{settings.app_id}-model", key_type=bytes, value_type=bytes)
CONTROLS_CHANGELOG = user_controls.changelog_topic.get_topic_name()
# Compacted: the latest value of each key is what the topic is for.
COMPACTED_TOPICS = (CONTROLS_CHANGELOG, user_playlists.changelog_topic.get_topic_name(), topics.RECOMMENDATIONS,
                    model_topic.get_topic_name())
