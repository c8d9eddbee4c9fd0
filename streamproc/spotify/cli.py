"""The ``streamproc spotify`` command: import playlists and libraries, export lists as playlists."""

from __future__ import annotations

import argparse
import time

from streamproc.errors import CommandError
from streamproc.kafka.producer import Message, send_messages
from streamproc.commands.options import add_send_options, bootstrap
from streamproc.settings import settings
from streamproc.spotify import exporter, importer
from streamproc.spotify.client import app_client, user_client
from streamproc.spotify.config import SpotifyConfig
from tables.topics import LISTENS, TRACKS


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``spotify`` command and its sub-commands."""
    parser = commands.add_parser("spotify", help="import from and export to a Spotify account")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    playlist = actions.add_parser("import-playlist", help="send a playlist's tracks to the tracks topic")
    playlist.add_argument("playlist", metavar="URL_OR_ID", help="playlist URL, URI or ID")
    playlist.add_argument("--as-user", metavar="U", help="also send a like by user U for every track")
    add_send_options(playlist, "messages")
    playlist.set_defaults(func=run)

    library = actions.add_parser(
        "import-library", help="send the account's saved and playlisted tracks as a user's events"
    )
    library.add_argument("--user", required=True, metavar="U", help="streamproc user ID of the events")
    add_send_options(library, "messages")
    library.set_defaults(func=run)

    export = actions.add_parser("export", help="create or replace a playlist with a user's current list")
    export.add_argument("--user", required=True, metavar="U", help="whose list to export")
    export.add_argument("--kind", choices=exporter.KINDS, default="recommendations", help="which list")
    export.add_argument("--name", help='playlist name (default "streamproc KIND for U")')
    export.add_argument(
        "--broker", type=bootstrap, default=settings.bootstrap_servers(), metavar="HOST:PORT",
        help=f"Kafka bootstrap server (default: {settings.bootstrap_servers()})",
    )
    export.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the chosen Spotify action."""
    config = SpotifyConfig.from_env()
    if args.action == "export":
        return _export(args, config)
    if args.action == "import-playlist":
        imported = importer.playlist_import(app_client(config), args.playlist, args.as_user)
        source = f"playlist {args.playlist}"
    else:
        imported = importer.library_import(user_client(config), args.user)
        source = "the account's library"
    print(imported.summary())
    messages = imported.messages
    sent = send_messages(
        args.broker, messages, rate=args.rate, limit=args.limit, description="spotify",
        total=len(messages),
    )
    print(f"sent {_summary(messages[:sent])} from {source} to {args.broker}")
    return 0


def _export(args: argparse.Namespace, config: SpotifyConfig) -> int:
    items = exporter.current_list(args.broker, args.user, args.kind)
    track_ids = exporter.spotify_track_ids(items)
    if not track_ids:
        raise CommandError(f"the latest {args.kind} list of {args.user!r} holds no Spotify track IDs")
    name = args.name or f"streamproc {args.kind} for {args.user}"
    description = f"streamproc {args.kind} for {args.user}, exported {time.strftime('%Y-%m-%d %H:%M')}"
    playlist_id, created = exporter.publish(user_client(config), name, track_ids, description)
    done = "created" if created else "replaced"
    print(f"{done} playlist {name!r} ({playlist_id}) with {len(track_ids)} tracks", end="")
    # Lists may hold items of other catalogues (Last.fm artists), which Spotify cannot play.
    skipped = len(items) - len(track_ids)
    print(f" ({skipped} items without a Spotify track ID left out)" if skipped else "")
    return 0


def _summary(messages: list[Message]) -> str:
    """Return how many tracks and events ``messages`` hold.

    >>> _summary([Message("tracks", "t1", b"{}"), Message("listens", "u1", b"{}")])
    '1 tracks and 1 events'
    """
    tracks = sum(message.topic == TRACKS for message in messages)
    events = sum(message.topic == LISTENS for message in messages)
    return f"{tracks} tracks and {events} events"
