"""The ``streamproc`` command: one sub-command per module, each registering itself.

Every failure the user can cause (a wrong path, a bad option, an unreachable broker)
ends with one line on standard error and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from streamproc.errors import BrokerUnavailable, CommandError, SettingsError

COMMAND_MODULES = (
    "streamproc.commands.broker",
    "streamproc.commands.worker",
    "streamproc.commands.replay",
    "streamproc.commands.evaluate",
    "streamproc.commands.tune",
    "streamproc.spotify.cli",
    "streamproc.commands.listener",
    "streamproc.commands.bench_stream",
)
USAGE_ERROR = 2


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, not a usage block."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of every sub-command."""
    parser = OneLineParser(prog="streamproc", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except (CommandError, BrokerUnavailable, SettingsError, OSError) as exc:
        print(f"streamproc: error: {_describe(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _describe(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.strerror}: {exc.filename}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
