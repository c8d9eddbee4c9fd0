"""``streamproc playlist``, ``similar`` and ``control``: every failure is one line and a non-zero status."""

from __future__ import annotations

import pytest

from streamproc.cli import main


@pytest.mark.parametrize("args, message", [
    (["playlist", "discover", "--user", "u", "--broker", "127.0.0.1:1"], "cannot reach the Kafka broker"),
    (["playlist", "discover", "--user", "u", "--broker", "nowhere"], "--broker must be HOST:PORT"),
    (["similar", "t1", "--web", "http://127.0.0.1:1"], "cannot reach a worker at http://127.0.0.1:1"),
    (["similar", "t1", "-n", "0"], "-n must be between 1 and 100"),
    (["control", "exclude-artist", "--user", "u"], "exclude-artist needs the artist"),
    (["control", "diversity", "--user", "u", "--novelty", "3"], "'novelty' must be between 0 and 1"),
    (["control", "diversity", "--user", "u"], "needs 'max_per_artist' or 'novelty'"),
    (["control", "opt-out", "--user", "u", "--broker", "127.0.0.1:1"], "cannot reach the Kafka broker"),
])
def test_a_failure_is_one_line(args, message, capsys):
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_a_bad_kind_or_action_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["playlist", "weekly", "--user", "u"])
    assert exit.value.code == 2
    with pytest.raises(SystemExit):
        main(["control", "shout", "--user", "u"])


@pytest.mark.parametrize("variable, value, message", [
    ("STREAMPROC_TIMEZONE", "Mars/Base", "is not a time zone"),
    ("STREAMPROC_DISCOVER_CRON", "weekly", "is not a cron line"),
])
def test_a_bad_playlist_schedule_stops_the_worker_in_one_line(variable, value, message, tmp_path):
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "streamproc.cli", "worker", "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60, env={**os.environ, variable: value})
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and message in done.stderr
