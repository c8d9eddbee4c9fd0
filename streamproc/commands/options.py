"""Command-line options and argument types shared by the commands that produce to Kafka."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

from streamproc.settings import settings

T = TypeVar("T")


def add_send_options(parser: argparse.ArgumentParser, stream: str) -> None:
    """Add ``--broker``, ``--rate`` and ``--limit``, read alike by every producer command."""
    parser.add_argument("--broker", type=bootstrap, default=settings.bootstrap_servers(),
                        metavar="HOST:PORT",
                        help=f"Kafka bootstrap server (default: {settings.bootstrap_servers()})")
    parser.add_argument("--rate", type=positive(float), metavar="PER_SECOND",
                        help=f"send at most this many {stream} a second (default: no limit)")
    parser.add_argument("--limit", type=positive(int), metavar="N",
                        help=f"send at most N {stream} (default: all)")


def bootstrap(value: str) -> str:
    """Return ``value`` as ``host:port``, accepting a ``kafka://`` URL as settings do.

    >>> bootstrap("kafka://127.0.0.1:9092")
    '127.0.0.1:9092'
    """
    address = value.split("://", 1)[-1]
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return address


def positive(kind: Callable[[str], T]) -> Callable[[str], T]:
    """Return an argparse type that reads a ``kind`` number greater than zero.

    >>> positive(int)("3")
    3
    """
    noun = "whole number" if kind is int else "number"

    def parse(text: str) -> T:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {noun}, got {text!r}") from None
        if not value > 0:  # type: ignore[operator]
            raise argparse.ArgumentTypeError(f"must be greater than zero, got {text}")
        return value

    return parse
