"""Put a user's current list into the Spotify account as a playlist, created or replaced.

The current list is read from Kafka without a consumer group, from the beginning of
the topic up to its high-water mark: for ``recommendations`` the last message keyed by
the user on the ``recommendations`` topic; for ``discover`` and ``emerging`` the latest
message of that user and kind on the ``playlists`` topic
(``{"user_id", "kind", "generated_at", "items": [{"item_id", ...}]}``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import spotipy
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError

from streamproc.errors import CommandError
from streamproc.producer import CONNECT_TIMEOUT_S, BrokerUnavailable
from streamproc.spotify.client import PAGE_LIMIT, paged
from tables.codec import decode_object
from tables.errors import InvalidMessage
from tables.topics import RECOMMENDATIONS

# Written by the discover/emerging playlist job; named here until that job adds it to tables.topics.
PLAYLISTS = "playlists"
KINDS = ("recommendations", "discover", "emerging")
READ_TIMEOUT_S = 60.0
# The most URIs one replace or add request of the Web API takes.
ITEMS_PER_REQUEST = 100
_TRACK_ID = re.compile(r"[0-9A-Za-z]{22}")


def current_list(bootstrap: str, user: str, kind: str) -> list[str]:
    """Return the item IDs of ``user``'s latest list of ``kind``; raise CommandError when there is none."""
    if kind == "recommendations":
        topic = RECOMMENDATIONS
        matches: Callable[[ConsumerRecord, dict], bool] = lambda record, value: record.key == user.encode()
    else:
        topic = PLAYLISTS
        matches = lambda record, value: value.get("user_id") == user and value.get("kind") == kind
    latest = asyncio.run(_latest(bootstrap, topic, matches))
    if latest is None:
        raise CommandError(f"no {kind} list for user {user!r} on topic {topic!r} at {bootstrap}")
    return [item["item_id"] for item in latest.get("items") or [] if isinstance(item, dict) and "item_id" in item]


def spotify_track_ids(item_ids: list[str]) -> list[str]:
    """Return the items that are Spotify track IDs (22 base-62 characters), in order.

    >>> spotify_track_ids(["4uLU6hMCjMI75M1A2tKUQC", "lastfm-51", "4uLU6hMCjMI75M1A2tKUQ"])
    ['4uLU6hMCjMI75M1A2tKUQC']
    """
    return [item for item in item_ids if _TRACK_ID.fullmatch(item)]


def publish(client: spotipy.Spotify, name: str, track_ids: list[str], description: str) -> tuple[str, bool]:
    """Make the account's playlist ``name`` hold exactly ``track_ids``; return (playlist ID, created)."""
    me = client.me()["id"]
    existing = next(
        (
            playlist
            for playlist in paged(client, client.current_user_playlists(limit=PAGE_LIMIT))
            if playlist["name"] == name and playlist["owner"]["id"] == me
        ),
        None,
    )
    if existing is None:
        playlist_id = client.current_user_playlist_create(name, public=False, description=description)["id"]
    else:
        playlist_id = existing["id"]
    uris = [f"spotify:track:{track_id}" for track_id in track_ids]
    client.playlist_replace_items(playlist_id, uris[:ITEMS_PER_REQUEST])
    for start in range(ITEMS_PER_REQUEST, len(uris), ITEMS_PER_REQUEST):
        client.playlist_add_items(playlist_id, uris[start:start + ITEMS_PER_REQUEST])
    return playlist_id, existing is None


async def _latest(
    bootstrap: str, topic: str, matches: Callable[[ConsumerRecord, dict], bool]
) -> dict[str, Any] | None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        request_timeout_ms=int(CONNECT_TIMEOUT_S * 1000),
    )
    try:
        await asyncio.wait_for(consumer.start(), CONNECT_TIMEOUT_S)
    except (KafkaConnectionError, asyncio.TimeoutError, OSError):
        await consumer.stop()
        raise BrokerUnavailable(f"cannot reach the Kafka broker at {bootstrap}") from None
    try:
        return await asyncio.wait_for(_scan(consumer, topic, matches), READ_TIMEOUT_S)
    except asyncio.TimeoutError:
        raise CommandError(f"reading topic {topic!r} took more than {READ_TIMEOUT_S:g} s") from None
    except KafkaError as exc:
        raise BrokerUnavailable(f"the broker at {bootstrap} failed while reading {topic!r}: {exc}") from None
    finally:
        await consumer.stop()


async def _scan(
    consumer: AIOKafkaConsumer, topic: str, matches: Callable[[ConsumerRecord, dict], bool]
) -> dict[str, Any] | None:
    """Return the latest matching value: the last in its partition, the newest ``generated_at`` across them."""
    await consumer.topics()  # loads the metadata partitions_for_topic reads
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    if not partitions:
        return None
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    # ListOffsets may fall short of the end (Tansu answers the start of the last batch plus
    # one), so it only says which partitions hold anything; each fetch reports the true
    # high-water mark, and a partition is done once its position reaches that.
    ends = await consumer.end_offsets(partitions)
    unread = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
    last: dict[TopicPartition, dict[str, Any]] = {}
    while unread:
        batches = await consumer.getmany(*unread, timeout_ms=1000)
        for tp, records in batches.items():
            for record in records:
                value = _value(record)
                if value is not None and matches(record, value):
                    last[tp] = value
        unread = {
            tp for tp in unread
            if await consumer.position(tp) < max(ends[tp], consumer.highwater(tp) or 0)
        }
    return max(last.values(), key=lambda value: value.get("generated_at") or 0, default=None)


def _value(record: ConsumerRecord) -> dict[str, Any] | None:
    try:
        return decode_object(record.value)
    except InvalidMessage:
        return None  # an undecodable message holds no list; skip it rather than fail the export
