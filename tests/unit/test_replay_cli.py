"""The ``replay`` command: what it sends, in which order, and how it fails (one line, non-zero)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streamproc import cli
from streamproc.settings import settings
from streamproc.commands import replay
from tables.topics import LISTENS, TRACKS

UNREACHABLE = "127.0.0.1:1"
FAIL_WITHIN_S = 15.0
# Runs the real CLI frame with the replay command alone, so these tests do not depend on
# the other commands' modules.
REPLAY_ONLY = (
    "import sys, streamproc.cli as cli; cli.COMMAND_MODULES = ('streamproc.commands.replay',); "
    "sys.exit(cli.main())"
)


@pytest.fixture
def replay_only(monkeypatch):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("streamproc.commands.replay",))


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, str, dict, float | None]]:
    """Capture what the command sends, as (topic, key, value, rate), instead of reaching a broker."""
    messages: list[tuple[str, str, dict, float | None]] = []

    def send_messages(bootstrap, batch, *, rate=None, limit=None, description="", total=None):
        taken = [(m.topic, m.key, json.loads(m.value), rate) for m in itertools.islice(batch, limit)]
        messages.extend(taken)
        return len(taken)

    monkeypatch.setattr(replay, "send_messages", send_messages)
    return messages


def run(argv: list[str]) -> int:
    try:
        return cli.main(["replay", *argv])
    except SystemExit as exit:
        return int(exit.code)


@pytest.fixture
def lastfm_copy(tmp_path) -> Path:
    (tmp_path / "user_artists.dat").write_bytes(
        b"userID\tartistID\tweight\r\n2\t51\t10\r\n2\t52\t3\r\n7\t51\t1\r\n"
    )
    (tmp_path / "artists.dat").write_bytes(
        b"id\tname\turl\tpictureURL\n51\tMALICE MIZER\tu\tp\n52\tBj\xc3\xb6rk\tu\tp\n99\tUnplayed\tu\tp\n"
    )
    return tmp_path


def test_lastfm_sends_the_played_artists_then_the_plays_keyed_by_user(replay_only, sent, lastfm_copy, capsys):
    assert run(["lastfm", str(lastfm_copy), "--rate", "1000"]) == 0

    assert [(topic, key) for topic, key, _, _ in sent] == [
        (TRACKS, "51"), (TRACKS, "52"), (LISTENS, "2"), (LISTENS, "2"), (LISTENS, "7"),
    ]
    assert sent[1][2]["name"] == "Björk"
    assert sent[2][2]["count"] == 10
    assert [rate for topic, _, _, rate in sent if topic == TRACKS] == [None, None]
    assert [rate for topic, _, _, rate in sent if topic == LISTENS] == [1000.0] * 3
    assert capsys.readouterr().out == f"sent 2 artists to 'tracks' and 3 plays to 'listens' at {settings.bootstrap_servers()}\n"


def test_lastfm_limit_counts_plays_and_sends_only_their_artists(replay_only, sent, lastfm_copy):
    assert run(["lastfm", str(lastfm_copy), "--limit", "1"]) == 0

    assert [(topic, key) for topic, key, _, _ in sent] == [(TRACKS, "51"), (LISTENS, "2")]


def test_catalog_sends_tracks_keyed_by_item(replay_only, sent, emergify_csv, capsys):
    assert run(["catalog", str(emergify_csv), "--limit", "5", "--broker", "kafka://10.0.0.1:9093"]) == 0

    assert len(sent) == 5
    assert all(topic == TRACKS and key == value["item_id"] for topic, key, value, _ in sent)
    assert capsys.readouterr().out == "sent 5 tracks to 'tracks' at 10.0.0.1:9093\n"


def test_simulate_sends_the_catalogue_then_events_and_is_seeded(replay_only, sent):
    argv = ["simulate", "--users", "4", "--events", "50", "--tracks", "30", "--seed", "5"]
    assert run(argv) == 0
    first = [(topic, key, {**value, "ts": None}) for topic, key, value, _ in sent]
    sent.clear()
    assert run(argv) == 0

    assert [(topic, key, {**value, "ts": None}) for topic, key, value, _ in sent] == first
    assert [topic for topic, *_ in first] == [TRACKS] * 30 + [LISTENS] * 50
    assert {key for topic, key, _ in first if topic == LISTENS} <= {f"sim-user-{u}" for u in range(4)}
    tracks = {key for topic, key, _ in first if topic == TRACKS}
    assert {value["item_id"] for topic, _, value in first if topic == LISTENS} <= tracks


def test_simulate_tsv_writes_drifting_events_with_their_times_and_sends_nothing(replay_only, sent, tmp_path, capsys):
    path = tmp_path / "events.tsv"
    argv = ["simulate", "--users", "5", "--events", "400", "--tracks", "60", "--seed", "3", "--weeks", "3",
            "--tsv", str(path)]
    assert run(argv) == 0
    first = path.read_text()
    assert run(argv) == 0

    assert path.read_text() == first and sent == []
    header, *rows = [line.split("\t") for line in first.splitlines()]
    assert header == ["user", "item", "weight", "timestamp"] and len(rows) == 400
    stamps = [float(row[3]) for row in rows]
    assert stamps == sorted(stamps) and 2 * 7 * 86400 < stamps[-1] - stamps[0] < 4 * 7 * 86400
    # A skip lowers the item's confidence, as its weight says.
    assert {float(row[2]) < 0 for row in rows} == {True, False}
    assert capsys.readouterr().out.splitlines()[-1] == f"wrote 400 events of 5 simulated listeners (seed 3) to {path}"


def test_simulate_plays_the_tracks_of_a_catalog_file(replay_only, sent, emergify_csv):
    assert run(["simulate", "--catalog", str(emergify_csv), "--events", "100", "--limit", "20"]) == 0

    assert sum(topic == TRACKS for topic, *_ in sent) == 4_470
    assert sum(topic == LISTENS for topic, *_ in sent) == 20


@pytest.mark.parametrize(
    "argv, status, message",
    [
        (["lastfm", "/no/such/dir"], 1, "No such file or directory: /no/such/dir/user_artists.dat"),
        (["catalog", "/no/such.csv"], 1, "No such file or directory: /no/such.csv"),
        (["simulate", "--catalog", "/no/such.csv"], 1, "No such file or directory: /no/such.csv"),
        (["simulate", "--users", "0"], 2, "argument --users: must be greater than zero, got 0"),
        (["simulate", "--events", "many"], 2, "argument --events: expected a whole number, got 'many'"),
        (["catalog", "x.csv", "--rate", "-5"], 2, "argument --rate: must be greater than zero, got -5"),
        (["lastfm", "d", "--limit", "0"], 2, "argument --limit: must be greater than zero, got 0"),
        (["lastfm", "d", "--broker", "nowhere"], 2, "argument --broker: expected HOST:PORT, got 'nowhere'"),
        (["stream"], 2, "invalid choice: 'stream'"),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_status(replay_only, sent, capsys, argv, status, message):
    assert run(argv) == status

    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert sent == []


def test_a_file_that_is_not_an_export_is_one_line(replay_only, sent, lastfm_copy, capsys):
    (lastfm_copy / "user_artists.dat").write_bytes(b"userID\tartistID\tweight\r\n2\t51\tten\r\n")

    assert run(["catalog", str(lastfm_copy / "artists.dat")]) == 1
    assert run(["lastfm", str(lastfm_copy)]) == 1
    (lastfm_copy / "binary.csv").write_bytes(b"\xff\xfe\x00garbage")
    assert run(["catalog", str(lastfm_copy / "binary.csv")]) == 1

    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        f"streamproc: error: {lastfm_copy}/artists.dat: not an Exportify CSV, it lacks columns Spotify ID, Track Name, Artist Name(s)",
        f"streamproc: error: {lastfm_copy}/user_artists.dat:2: weight must be a whole number, got 'ten'",
        f"streamproc: error: {lastfm_copy}/binary.csv is not UTF-8 text",
    ]
    assert sent == []


def run_process(args: list[str]) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, timeout=FAIL_WITHIN_S + 15)
    return done, time.monotonic() - started


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "--events", "10"],
        ["catalog", "{emergify_csv}"],
        ["lastfm", "{lastfm_dir}", "--limit", "10"],
    ],
)
def test_an_unreachable_broker_fails_fast_with_one_line(argv, emergify_csv, lastfm_dir):
    argv = [arg.format(emergify_csv=emergify_csv, lastfm_dir=lastfm_dir) for arg in argv]

    done, took = run_process([sys.executable, "-c", REPLAY_ONLY, "replay", *argv, "--broker", UNREACHABLE])

    assert done.returncode == 1
    assert done.stderr == f"streamproc: error: cannot reach the Kafka broker at {UNREACHABLE}\n"
    assert done.stdout == ""
    assert took < FAIL_WITHIN_S


def test_the_streamproc_command_fails_fast_on_an_unreachable_broker():
    # Through the whole CLI, every command module included.
    done, took = run_process(
        [sys.executable, "-m", "streamproc.cli", "replay", "simulate", "--broker", UNREACHABLE]
    )

    assert (done.returncode, done.stderr) == (1, f"streamproc: error: cannot reach the Kafka broker at {UNREACHABLE}\n")
    assert took < FAIL_WITHIN_S
