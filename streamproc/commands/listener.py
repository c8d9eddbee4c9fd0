"""The listener's commands: ``streamproc playlist``, ``streamproc similar`` and ``streamproc control``.

``playlist KIND --user U`` asks the running system for the user's list of this period: it sends a
``playlist`` request (with a fresh ``request_id``) on ``controls``, keyed by the user, so the
worker that owns the user's partition makes it from the user's local state, records it in its
``user_playlists`` table under that event (which a web request could not do: table writes need
an event of the user's partition), and sends it to ``playlists``; the command waits for the
message carrying its ``request_id`` there. It needs only the broker, however many workers run.

``similar ITEM`` reads a worker's ``/api/items/{ITEM}/similar`` (any worker has the global view);
``control --user U ACTION`` sends one control event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from streamproc.errors import BrokerUnavailable, CommandError
from streamproc.kafka.clients import REQUEST_TIMEOUT_MS, start_client
from streamproc.settings import settings
from streamproc.kafka.admin import ensure_topics
from tables.control import PLAYLIST_KINDS, Control
from tables.errors import InvalidMessage
from tables.topics import CONTROLS, PLAYLISTS

REPLY_TIMEOUT_S = 30.0


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``playlist``, ``similar`` and ``control`` commands."""
    playlist = commands.add_parser("playlist", help="a user's Discover Weekly or emerging-artists list")
    playlist.add_argument("kind", choices=PLAYLIST_KINDS, help="which list")
    playlist.add_argument("--user", required=True, help="the user id")
    playlist.add_argument("--json", action="store_true", help="print the playlist message as one JSON line")
    playlist.add_argument("--timeout", type=float, default=REPLY_TIMEOUT_S, help="seconds to wait for a worker")
    _broker_option(playlist)
    playlist.set_defaults(func=run_playlist)

    similar = commands.add_parser("similar", help="items and artists similar to an item")
    similar.add_argument("item", metavar="ITEM", help="an item id")
    similar.add_argument("-n", type=int, default=10, help="how many of each (default 10)")
    similar.add_argument("--json", action="store_true", help="print the answer as one JSON line")
    similar.add_argument("--web", default=settings.web_url, metavar="URL",
                         help=f"a worker's web view (default STREAMPROC_WEB_URL, {settings.web_url})")
    similar.set_defaults(func=run_similar)

    control = commands.add_parser("control", help="send a listener control (opt out, forget me, ...)")
    control.add_argument("action", choices=["opt-out", "opt-in", "forget", "exclude-artist", "include-artist",
                                            "diversity"])
    control.add_argument("artist", nargs="?", help="the artist, for exclude-artist and include-artist")
    control.add_argument("--user", required=True, help="the user id")
    control.add_argument("--max-per-artist", type=int, metavar="K", help="diversity: at most K items per artist")
    control.add_argument("--novelty", type=float, metavar="W", help="diversity: weight in [0, 1] of less popular items")
    _broker_option(control)
    control.set_defaults(func=run_control)


def _broker_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", default=settings.bootstrap_servers(), metavar="HOST:PORT",
                        help=f"Kafka bootstrap server (default: {settings.bootstrap_servers()})")


def run_playlist(args: argparse.Namespace) -> int:
    """Ask the workers for the user's playlist and print it."""
    message = asyncio.run(request_playlist(_bootstrap(args.broker), args.user, args.kind, args.timeout))
    if args.json:
        print(json.dumps(message, ensure_ascii=False))
        return 0
    title = "Discover Weekly" if args.kind == "discover" else "Emerging artists"
    print(f"{title} for {args.user}, week of {message.get('period')}:")
    for rank, item in enumerate(message["items"], 1):
        artists = ", ".join(item.get("artists") or [])
        mark = "  (exploration)" if item.get("exploration") else ""
        print(f"{rank:3}. {item.get('name') or item['item_id']}" + (f" — {artists}" if artists else "") + mark)
    return 0


async def request_playlist(bootstrap: str, user: str, kind: str, timeout: float = REPLY_TIMEOUT_S) -> dict[str, Any]:
    """Send a ``playlist`` request for ``user`` and return the worker's reply from ``playlists``."""
    request_id = uuid.uuid4().hex
    await _ensure(bootstrap, [CONTROLS, PLAYLISTS])
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                fetch_max_wait_ms=settings.fetch_max_wait_ms)
    await start_client(consumer, bootstrap)
    try:
        await consumer.topics()
        partitions = [TopicPartition(PLAYLISTS, p) for p in sorted(consumer.partitions_for_topic(PLAYLISTS) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:
            await consumer.position(tp)
        await _send(bootstrap, [Control(user, "playlist", kind=kind, request_id=request_id)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    try:
                        value = json.loads(record.value)
                    except ValueError:
                        continue
                    if isinstance(value, dict) and value.get("request_id") == request_id:
                        return value
    except KafkaError as exc:
        raise BrokerUnavailable(f"the broker at {bootstrap} failed: {exc}") from None
    finally:
        await consumer.stop()
    raise CommandError(f"no worker answered the {kind} request for {user!r} within {timeout:g} s; is a worker running?")


def run_similar(args: argparse.Namespace) -> int:
    """Print the items and artists similar to an item, from a worker's web API."""
    if not 1 <= args.n <= 100:
        raise CommandError(f"-n must be between 1 and 100, got {args.n}")
    url = f"{args.web.rstrip('/')}/api/items/{urllib.parse.quote(args.item, safe='')}/similar?n={args.n}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            found = json.loads(response.read())
    except urllib.error.HTTPError as error:
        if error.code == 404:
            raise CommandError(f"unknown item {args.item!r}") from None
        raise CommandError(f"{url} answered {error.code}") from None
    except (urllib.error.URLError, OSError) as error:
        raise CommandError(f"cannot reach a worker at {args.web}: {getattr(error, 'reason', error)}") from None
    if args.json:
        print(json.dumps(found, ensure_ascii=False))
        return 0
    print(f"Similar to {found.get('name') or found['item_id']} ({', '.join(found['artists'])}):")
    for item in found["items"]:
        artists = ", ".join(item["artists"])
        print(f"  [{item['source']:7}] {item.get('name') or item['item_id']}" + (f" — {artists}" if artists else ""))
    if found["similar_artists"]:
        print("Similar artists: " + ", ".join(a["artist"] for a in found["similar_artists"]))
    return 0


def run_control(args: argparse.Namespace) -> int:
    """Send one control event for the user."""
    action = args.action.replace("-", "_")
    fields: dict[str, Any] = {"user_id": args.user, "action": action}
    if action in ("exclude_artist", "include_artist"):
        if not args.artist:
            raise CommandError(f"{args.action} needs the artist")
        fields["artist"] = args.artist
    if action == "diversity":
        fields.update({k: v for k, v in (("max_per_artist", args.max_per_artist), ("novelty", args.novelty))
                       if v is not None})
    try:
        control = Control.from_dict(fields)
    except InvalidMessage as exc:
        raise CommandError(str(exc)) from None
    bootstrap = _bootstrap(args.broker)
    asyncio.run(_send(bootstrap, [control], ensure=True))
    print(f"sent {action} for {args.user} to '{CONTROLS}' at {bootstrap}")
    return 0


async def _send(bootstrap: str, controls: list[Control], ensure: bool = False) -> None:
    if ensure:
        await _ensure(bootstrap, [CONTROLS])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=REQUEST_TIMEOUT_MS)
    await start_client(producer, bootstrap)
    try:
        for control in controls:
            await producer.send_and_wait(CONTROLS, control.to_bytes(), key=control.user_id.encode())
    except KafkaError as exc:
        raise BrokerUnavailable(f"the broker at {bootstrap} refused a control: {exc}") from None
    finally:
        await producer.stop()


async def _ensure(bootstrap: str, topics: list[str]) -> None:
    await ensure_topics(bootstrap, topics, settings.topic_partitions)


def _bootstrap(value: str) -> str:
    address = value.split("://", 1)[-1]
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise CommandError(f"--broker must be HOST:PORT, got {value!r}")
    return address
