"""When lists are ranked: at once while the worker keeps up, coalesced per user in stream time when it falls behind."""

from __future__ import annotations

from streamproc.recommend.list_schedule import ListSchedule


def test_a_worker_that_keeps_up_ranks_every_changed_user_at_once():
    schedule = ListSchedule(interval_s=1.0, behind_s=0.5)
    for step in range(5):
        now = 100.0 + step * 0.1
        assert schedule.due({"u": now - 0.01}, now) == {"u": now - 0.01}
    assert schedule.held == 0


def test_behind_a_user_is_held_until_stream_time_moves_on_and_reports_its_oldest_waiting_event():
    schedule = ListSchedule(interval_s=1.0, behind_s=0.5)
    assert schedule.due({"u": 10.0}, now=15.0) == {"u": 10.0}
    assert schedule.due({"u": 10.1}, now=15.1) == {}
    assert schedule.due({"u": 10.2}, now=15.2) == {}
    assert schedule.held == 1
    # The clock moving on releases nobody while the worker is still behind ...
    assert schedule.due({"v": 10.9}, now=17.0) == {"v": 10.9}
    assert schedule.flush(now=17.1) == {}
    # ... stream time does.
    assert schedule.due({"w": 11.0}, now=17.2) == {"u": 10.1, "w": 11.0}
    assert schedule.held == 0


def test_the_same_backlog_sends_the_same_lists_however_fast_it_is_worked_off():
    # Two seconds of events, three seconds late: a slow worker ends five seconds behind, a fast one two.
    events = [(f"u{i % 50}", 1000.0 + i * 0.001) for i in range(2000)]

    def lists_sent(seconds_per_event: float) -> int:
        schedule = ListSchedule(interval_s=1.0, behind_s=0.5)
        sent = 0
        for i, (user_id, produced_at) in enumerate(events):
            now = 1003.0 + i * seconds_per_event
            sent += len(schedule.due({user_id: produced_at}, now)) + len(schedule.flush(now))
        return sent + len(schedule.flush(now + 1.0))

    assert lists_sent(0.002) == lists_sent(0.0005) < len(events) / 5


def test_a_worker_that_catches_up_releases_every_held_user():
    schedule = ListSchedule(interval_s=1.0, behind_s=0.5)
    assert schedule.due({"u": 0.0, "v": 0.0}, now=20.0) == {"u": 0.0, "v": 0.0}
    assert schedule.due({"u": 0.5}, now=21.0) == {}
    assert schedule.due({"v": 0.6}, now=21.1) == {}
    assert schedule.flush(now=21.5) == {}
    # Nothing new for longer than behind_s: caught up.
    assert schedule.flush(now=21.7) == {"u": 0.5, "v": 0.6}
    # So is a batch whose events waited less than behind_s.
    assert schedule.due({"u": 0.7}, now=30.0) == {}
    assert schedule.due({"v": 29.9}, now=30.0) == {"u": 0.7, "v": 29.9}


def test_a_zero_interval_never_holds():
    schedule = ListSchedule(interval_s=0.0, behind_s=0.5)
    assert schedule.due({"u": 0.0}, now=30.0) == {"u": 0.0}
    assert schedule.due({"u": 0.0}, now=30.0) == {"u": 0.0}


def test_a_user_released_and_held_again_waits_for_the_interval_of_the_list_sent_last():
    schedule = ListSchedule(interval_s=1.0, behind_s=0.5)
    assert schedule.due({"u": 10.0}, now=12.0) == {"u": 10.0}
    assert schedule.due({"u": 10.1}, now=12.1) == {}
    # Caught up: released before its interval, then held again behind the list just sent.
    assert schedule.due({"u": 12.15}, now=12.2) == {"u": 10.1}
    assert schedule.due({"u": 12.2}, now=13.0) == {}
    assert schedule.due({"v": 13.1}, now=14.0) == {"v": 13.1}
    assert schedule.due({"v": 13.2}, now=14.1) == {"u": 12.2}
    assert schedule.held == 1


def test_a_flush_releases_many_held_users_in_the_order_their_lists_went_out():
    schedule = ListSchedule(interval_s=1.0, behind_s=0.5)
    users = [f"u{i}" for i in range(1000)]
    for i, user_id in enumerate(users):
        schedule.due({user_id: i * 0.001}, now=10.0 + i * 0.001)
    assert schedule.due({user_id: 0.999 for user_id in users}, now=11.0) == {}
    assert schedule.held == 1000
    assert list(schedule.due({"x": 1.4995}, now=11.5)) == users[:500] + ["x"]
    assert schedule.held == 500


def test_a_batch_with_a_backlog_behind_it_is_behind_however_fresh_its_events():
    schedule = ListSchedule(interval_s=1.0, behind_s=0.5, behind_records=1000)
    assert schedule.due({"u": 10.0}, now=10.1, unread=5000) == {"u": 10.0}
    assert schedule.due({"u": 10.05}, now=10.2, unread=4000) == {}
    assert schedule.due({"v": 10.1}, now=10.3, unread=999) == {"u": 10.05, "v": 10.1}
