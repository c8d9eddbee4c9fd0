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
