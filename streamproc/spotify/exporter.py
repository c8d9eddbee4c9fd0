"""Put a user's current list into the Spotify account as a playlist, created or replaced.

The current list is read from Kafka without a consumer group, from the beginning of
the topic up to its high-water mark: for ``recommendations`` the last message keyed by
the user on the ``recommendations`` topic; for ``discover`` and ``emerging`` the latest
message of that user and kind on the ``playlists`` topic
(``{"user_id", "kind", "generated_at", "items": [{"item_id", ...}]}``).
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable
from typing import Any

import spotipy
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from streamproc.errors import CommandError
from streamproc.errors import BrokerUnavailable
from streamproc.kafka.clients import REQUEST_TIMEOUT_MS, start_client
from streamproc.spotify.client import PAGE_LIMIT, paged
from tables.codec import decode_object
from tables.errors import InvalidMessage
from tables.topics import PLAYLISTS, RECOMMENDATIONS

KINDS = ("recommendations", "discover", "emerging")
READ_TIMEOUT_S = 60.0
# The most URIs one replace or add request of the Web API takes.
ITEMS_PER_REQUEST = 100
_TRACK_ID = re.compile(r"[0-9A-Za-z]{22}")


def current_list(bootstrap: str, user: str, kind: str) -> list[str]:
    """Return the item IDs of ``user``'s latest list of ``kind``; raise CommandError if there is none."""
    topic = RECOMMENDATIONS if kind == "recommendations" else PLAYLISTS
    latest = asyncio.run(_latest(bootstrap, topic, functools.partial(_is_list_of, user, kind)))
    if latest is None:
        raise CommandError(f"no {kind} list for user {user!r} on topic {topic!r} at {bootstrap}")
    items = latest.get("items") or []
    return [item["item_id"] for item in items if isinstance(item, dict) and "item_id" in item]


def spotify_track_ids(item_ids: list[str]) -> list[str]:
    """Return the items that are Spotify track IDs (22 base-62 characters), in order.

    >>> spotify_track_ids(["4uLU6hMCjMI75M1A2tKUQC", "lastfm-51", "4uLU6hMCjMI75M1A2tKUQ"])
    ['4uLU6hMCjMI75M1A2tKUQC']
    """
    return [item for item in item_ids if _TRACK_ID.fullmatch(item)]


def publish(
    client: spotipy.Spotify, name: str, track_ids: list[str], description: str
) -> tuple[str, bool]:
    """Make the account's playlist ``name`` hold exactly ``track_ids``; return (its ID, created)."""
    me = client.me()["id"]
    existing = next(
        (
            playlist
            for playlist in paged(client, client.current_user_playlists(limit=PAGE_LIMIT))
            if playlist["name"] == name and playlist["owner"]["id"] == me
        ),
        None,
    )
    created = existing is None
    if created:
        existing = client.current_user_playlist_create(name, public=False, description=description)
    playlist_id = existing["id"]
    uris = [f"spotify:track:{track_id}" for track_id in track_ids]
    client.playlist_replace_items(playlist_id, uris[:ITEMS_PER_REQUEST])
    for start in range(ITEMS_PER_REQUEST, len(uris), ITEMS_PER_REQUEST):
        client.playlist_add_items(playlist_id, uris[start:start + ITEMS_PER_REQUEST])
    return playlist_id, created


async def _latest(
    bootstrap: str, topic: str, matches: Callable[[ConsumerRecord, dict], bool]
) -> dict[str, Any] | None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )
    await start_client(consumer, bootstrap)
    try:
        return await asyncio.wait_for(_scan(consumer, topic, matches), READ_TIMEOUT_S)
    except asyncio.TimeoutError:
        raise CommandError(f"reading topic {topic!r} took more than {READ_TIMEOUT_S:g} s") from None
    except KafkaError as exc:
        raise BrokerUnavailable(f"the broker at {bootstrap} failed reading {topic!r}: {exc}") from None
    finally:
        await consumer.stop()


async def _scan(
    consumer: AIOKafkaConsumer, topic: str, matches: Callable[[ConsumerRecord, dict], bool]
) -> dict[str, Any] | None:
    """Return the latest matching value: the last of its partition, the newest across partitions."""
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
                if record.value is None and matches(record, {}):
                    last.pop(tp, None)  # a tombstone: the user was forgotten, their list deleted
                elif value is not None and matches(record, value):
                    last[tp] = value
        unread = {
            tp for tp in unread
            if await consumer.position(tp) < max(ends[tp], consumer.highwater(tp) or 0)
        }
    return max(last.values(), key=_generated_at, default=None)


def _is_list_of(user: str, kind: str, record: ConsumerRecord, value: dict[str, Any]) -> bool:
    if kind == "recommendations":
        return record.key == user.encode()
    return value.get("user_id") == user and value.get("kind") == kind


def _generated_at(value: dict[str, Any]) -> float:
    """Return when a list was made, 0 when it does not say.

    >>> _generated_at({"generated_at": 12.5}), _generated_at({"generated_at": "noon"})
    (12.5, 0.0)
    """
    stamp = value.get("generated_at")
    return float(stamp) if isinstance(stamp, (int, float)) and not isinstance(stamp, bool) else 0.0


def _value(record: ConsumerRecord) -> dict[str, Any] | None:
    try:
        return decode_object(record.value)
    except InvalidMessage:
        return None  # an undecodable message holds no list; skip it rather than fail the export
