"""A short soak (``bench.soak``): two rounds of a worker SIGKILLed and restarted under a steady replay;
every user's event count, as the workers hold it, must equal what was produced after each round."""

from __future__ import annotations

import pytest

from bench.soak import Soak, run

pytestmark = pytest.mark.integration


def test_two_rounds_of_sigkill_and_restart_lose_and_double_nothing(broker, tmp_path):
    rounds = run(broker.bootstrap, tmp_path, Soak(rounds=2, users=100, events=1000, rate=200, seed=7))
    assert [(r.number, r.events, r.lost, r.doubled, r.users_short, r.users_over) for r in rounds] == [
        (1, 1000, 0, 0, [], []), (2, 2000, 0, 0, [], [])]
    assert all(r.resume_s is not None for r in rounds), "a round did not resume within the settle timeout"
