"""When lists are ranked: at once while the worker keeps up, coalesced per user when it falls behind."""

from __future__ import annotations

from streamproc.recommend.list_schedule import ListSchedule


def test_a_worker_that_keeps_up_ranks_every_changed_user_at_once():
    schedule = ListSchedule(interval_s=1.0, behind_s=0.5)
    for step in range(5):
        now = 100.0 + step * 0.1
        assert schedule.due({"u": now - 0.01}, now) == {"u": now - 0.01}
    assert schedule.held == 0


def test_behind_a_user_is_held_and_the_list_reports_its_oldest_waiting_event():
    schedule = ListSchedule(interval_s=1.0, behind_s=0.5)
    assert schedule.due({"u": 10.0}, now=10.6) == {"u": 10.0}
    assert schedule.due({"u": 10.1}, now=10.7) == {}
    assert schedule.due({"u": 10.2}, now=10.8) == {}
    assert schedule.held == 1
    assert schedule.flush(now=11.5) == {}
    assert schedule.flush(now=11.7) == {"u": 10.1}
    assert schedule.held == 0


def test_a_long_wait_stretches_the_interval_until_the_worker_catches_up():
    schedule = ListSchedule(interval_s=1.0, behind_s=0.5)
    assert schedule.due({"u": 0.0}, now=20.0) == {"u": 0.0}
    assert schedule.due({"u": 1.0}, now=22.0) == {}
    assert schedule.wait_s == 10.5
    assert schedule.flush(now=22.4) == {}
    # Nothing new for longer than behind_s: caught up, the plain interval again.
    assert schedule.flush(now=22.6) == {"u": 1.0}
    assert schedule.wait_s == 1.0


def test_a_zero_interval_never_holds():
    schedule = ListSchedule(interval_s=0.0, behind_s=0.5)
    assert schedule.due({"u": 0.0}, now=30.0) == {"u": 0.0}
    assert schedule.due({"u": 0.0}, now=30.0) == {"u": 0.0}


def test_a_user_released_and_held_again_waits_for_the_interval_of_the_list_sent_last():
    schedule = ListSchedule(interval_s=1.0, behind_s=0.5)
    assert schedule.due({"u": 10.0}, now=10.6) == {"u": 10.0}
    assert schedule.due({"u": 10.1}, now=10.7) == {}
    # Caught up: released before its interval, then held again behind the list just sent.
    assert schedule.due({"u": 10.75}, now=10.8) == {"u": 10.1}
    assert schedule.due({"u": 10.3}, now=11.0) == {}
    assert schedule.flush(now=11.65) == {}
    assert schedule.flush(now=11.85) == {"u": 10.3}
    assert schedule.held == 0


def test_a_flush_releases_many_held_users_in_the_order_their_lists_went_out():
    schedule = ListSchedule(interval_s=1.0, behind_s=0.5)
    users = [f"u{i}" for i in range(1000)]
    for i, user_id in enumerate(users):
        schedule.due({user_id: 0.0}, now=10.0 + i * 0.0005)
    assert schedule.due({user_id: 10.0 for user_id in users}, now=10.6) == {}
    assert schedule.held == 1000
    assert list(schedule.flush(now=11.24975)) == users[:500]
    assert schedule.held == 500
