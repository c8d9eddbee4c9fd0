"""The ``streamproc spotify`` options and the failures that need no broker."""

from __future__ import annotations

import argparse

import pytest
from spotify_fake import fake  # noqa: F401

from streamproc.settings import SettingsError, settings
from streamproc.spotify import cli
from streamproc.spotify.client import SpotifyError


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="streamproc")
    cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["spotify", *argv])


def test_defaults_come_from_the_settings():
    args = parse("export", "--user", "u1")
    assert (args.broker, args.kind, args.name) == (settings.bootstrap_servers(), "recommendations", None)
    args = parse("import-playlist", "pl1", "--broker", "kafka://k1:9092", "--limit", "5")
    assert (args.broker, args.as_user, args.limit, args.rate) == ("k1:9092", None, 5, None)


@pytest.mark.parametrize("argv", [
    ("export", "--user", "u1", "--kind", "weekly"),
    ("export",),
    ("import-library",),
    ("import-playlist", "pl1", "--limit", "0"),
    ("import-playlist", "pl1", "--broker", "nohost"),
])
def test_bad_options_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        parse(*argv)
    assert stop.value.code == 2


def test_bad_credentials_fail_before_any_message_is_sent(fake, tmp_path, monkeypatch):
    for name, value in fake.environ(tmp_path / "token.json", secret="wrong").items():
        monkeypatch.setenv(name, value)
    args = parse("import-playlist", "pl1", "--broker", "127.0.0.1:1")
    with pytest.raises(SpotifyError, match="refused the credentials"):
        args.func(args)


def test_missing_credentials_name_the_variable(monkeypatch):
    monkeypatch.delenv("SPOTIPY_CLIENT_ID", raising=False)
    args = parse("import-playlist", "pl1", "--broker", "127.0.0.1:1")
    with pytest.raises(SettingsError, match="SPOTIPY_CLIENT_ID is not set"):
        args.func(args)
