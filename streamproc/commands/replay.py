"""The ``replay`` command: send a data set, a catalogue or simulated listeners to Kafka.

    streamproc replay lastfm DIR
    streamproc replay catalog FILE.csv
    streamproc replay simulate --users N --events N --seed S [--catalog FILE.csv] [--weeks W] [--tsv FILE]

Catalogue tracks go to ``tracks`` (keyed by item) before any event goes to ``listens``
(keyed by user), so the workers know an item before it is played. ``--rate`` and
``--limit`` apply to the main stream: the events, or the tracks of ``replay catalog``.
Events are stamped from the moment the command starts, as the Last.fm data set has no times
of its own. ``simulate --weeks W`` draws listeners whose tastes drift over W weeks, with the
simulation's own event times; ``--tsv FILE`` writes the events to FILE as
``user<TAB>item<TAB>weight<TAB>timestamp`` (the weight being the confidence the event adds,
negative for a skip) instead of sending anything, for ``streamproc evaluate --stream``.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

from streamproc.errors import CommandError
from streamproc.commands.options import add_send_options, positive
from streamproc.kafka.producer import Message, send_messages
from streamproc.simulator import (
    catalogue_from_tracks,
    generate_catalogue,
    make_listeners,
    simulate_drifting_listens,
    simulate_listens,
)
from streamproc.settings import settings
from tables import lastfm
from tables.errors import InvalidMessage
from tables.exportify import read_tracks
from tables.listen import Listen
from tables.topics import LISTENS, TRACKS
from tables.track import Track

T = TypeVar("T")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``replay`` command and its three sources to ``subparsers``."""
    parser = subparsers.add_parser(
        "replay", help="send Last.fm plays, a catalogue or simulated listeners to Kafka",
        description=__doc__.splitlines()[0],
    )
    parser.set_defaults(func=run)
    sources = parser.add_subparsers(dest="source", metavar="SOURCE", required=True)

    lastfm_parser = sources.add_parser(
        "lastfm", help="the HetRec Last.fm plays, after their artists as tracks"
    )
    lastfm_parser.add_argument("directory", type=Path, metavar="DIR",
                               help=f"directory holding {lastfm.LISTENS_FILE} and {lastfm.ARTISTS_FILE}")
    add_send_options(lastfm_parser, "plays")

    catalog_parser = sources.add_parser("catalog", help="the tracks of an Exportify CSV")
    catalog_parser.add_argument("file", type=Path, metavar="FILE.csv", help="Exportify CSV")
    add_send_options(catalog_parser, "tracks")

    simulate_parser = sources.add_parser(
        "simulate", help="a seeded catalogue and the listening events of simulated users"
    )
    simulate_parser.add_argument("--users", type=positive(int), default=100, metavar="N",
                                 help="number of simulated listeners (default: 100)")
    simulate_parser.add_argument("--events", type=positive(int), default=10_000, metavar="N",
                                 help="number of listening events (default: 10000)")
    simulate_parser.add_argument("--seed", type=int, default=0, metavar="S",
                                 help="random seed; the same seed gives the same data (default: 0)")
    simulate_parser.add_argument("--tracks", type=positive(int), default=1000, metavar="N",
                                 help="size of the generated catalogue (default: 1000)")
    simulate_parser.add_argument("--catalog", type=Path, metavar="FILE.csv",
                                 help="play the tracks of this Exportify CSV instead of generated ones")
    simulate_parser.add_argument("--weeks", type=positive(int), metavar="W",
                                 help="listeners whose tastes drift over W weeks of simulated event time")
    simulate_parser.add_argument("--tsv", type=Path, metavar="FILE",
                                 help="write user, item, weight, timestamp rows to FILE instead of sending")
    add_send_options(simulate_parser, "events")


def run(args: argparse.Namespace) -> int:
    """Send what ``args.source`` names, print a one-line summary and return 0."""
    replay = {"lastfm": _replay_lastfm, "catalog": _replay_catalog, "simulate": _replay_simulation}
    print(replay[args.source](args))
    return 0


def _replay_lastfm(args: argparse.Namespace) -> str:
    listens_path = args.directory / lastfm.LISTENS_FILE
    artists_path = args.directory / lastfm.ARTISTS_FILE
    plays = _read_all(itertools.islice(lastfm.read_listens(listens_path), args.limit), listens_path)
    played = {play.item_id for play in plays}
    artists = [a for a in _read_all(lastfm.read_artists(artists_path), artists_path) if a.item_id in played]
    sent_artists = _send_tracks(args, artists, "artists")
    sent_plays = _send_listens(args, plays, "plays", len(plays))
    return (f"sent {sent_artists:,} artists to '{TRACKS}' and {sent_plays:,} plays "
            f"to '{LISTENS}' at {args.broker}")


def _replay_catalog(args: argparse.Namespace) -> str:
    tracks = _read_all(read_tracks(args.file), args.file)
    sent = send_messages(args.broker, map(_track_message, tracks), rate=args.rate,
                         limit=args.limit, description="tracks", total=len(tracks))
    return f"sent {sent:,} tracks to '{TRACKS}' at {args.broker}"


def _replay_simulation(args: argparse.Namespace) -> str:
    if args.catalog is None:
        catalogue = generate_catalogue(args.tracks, args.seed)
    else:
        catalogue = catalogue_from_tracks(_read_all(read_tracks(args.catalog), args.catalog), args.seed)
    if not catalogue.tracks:
        raise CommandError(f"{args.catalog} holds no tracks to listen to")
    listeners = make_listeners(catalogue, args.users, args.seed)
    if args.weeks:
        events = simulate_drifting_listens(catalogue, listeners, args.events, args.weeks, args.seed)
    else:
        events = simulate_listens(catalogue, listeners, args.events, args.seed, start=time.time())
    if args.tsv is not None:
        written = write_tsv(args.tsv, events, settings.event_weights())
        return (f"wrote {written:,} events of {args.users:,} simulated listeners (seed {args.seed}) "
                f"to {args.tsv}")
    sent_tracks = _send_tracks(args, catalogue.tracks, "tracks")
    sent_events = _send_listens(args, events, "events", args.events)
    return (f"sent {sent_tracks:,} tracks to '{TRACKS}' and {sent_events:,} events of "
            f"{args.users:,} simulated listeners (seed {args.seed}) to '{LISTENS}' at {args.broker}")


def write_tsv(path: Path, listens: Iterable[Listen], weights: dict[str, float]) -> int:
    """Write ``listens`` to ``path`` as a header and ``user<TAB>item<TAB>weight<TAB>timestamp`` rows
    (weight: count × the event's weight); return the rows written.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     rows = write_tsv(Path(d, "e.tsv"), [Listen("u", "a", "skip", 1, 5.0)], {"skip": -1.0})
    ...     Path(d, "e.tsv").read_text().splitlines()
    ['user\\titem\\tweight\\ttimestamp', 'u\\ta\\t-1\\t5.000']
    """
    with path.open("w", encoding="utf-8") as out:
        out.write("user\titem\tweight\ttimestamp\n")
        written = 0
        for listen in listens:
            out.write(f"{listen.user_id}\t{listen.item_id}\t{weights[listen.event] * listen.count:g}\t{listen.ts:.3f}\n")
            written += 1
    return written


def _send_tracks(args: argparse.Namespace, tracks: list[Track], description: str) -> int:
    # The catalogue is sent whole and unpaced: --rate and --limit shape the events only.
    return send_messages(args.broker, map(_track_message, tracks),
                         description=description, total=len(tracks))


def _send_listens(args: argparse.Namespace, listens: Iterable[Listen], description: str,
                  total: int) -> int:
    return send_messages(args.broker, map(_listen_message, listens), rate=args.rate,
                         limit=args.limit, description=description, total=total)


def _track_message(track: Track) -> Message:
    return Message(TRACKS, track.item_id, track.to_bytes())


def _listen_message(listen: Listen) -> Message:
    return Message(LISTENS, listen.user_id, listen.to_bytes())


def _read_all(items: Iterable[T], path: Path) -> list[T]:
    """Return every item read from ``path``, turning a bad file into a one-line CommandError."""
    try:
        return list(items)
    except InvalidMessage as exc:
        raise CommandError(str(exc)) from None
    except UnicodeDecodeError:
        raise CommandError(f"{path} is not UTF-8 text") from None
    except csv.Error as exc:
        raise CommandError(f"{path}: {exc}") from None
