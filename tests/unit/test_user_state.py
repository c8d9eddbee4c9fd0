"""The user-state records: exact restore from a snapshot and a replay, forgetting, and what a snapshot costs."""

from __future__ import annotations

import json
import random
import zlib

from tables import user_state
from tables.user_state import (FIRST_SNAPSHOT_EVENTS, LogRecord, PartitionState, base_of,
                               commit_record)

WEIGHTS = {"play": 1.0, "skip": -1.0, "like": 5.0, "playlist_add": 3.0}


def committed(state: PartitionState, start: int = 0) -> list[LogRecord]:
    """Return a snapshot of ``state`` and its commit, as a log starting at offset ``start`` would hold them."""
    records = state.snapshot_records(base=-1)
    return records + [commit_record(start)]


def test_a_redelivered_event_counts_once_and_a_skipped_offset_moves_the_applied_offset():
    state = PartitionState(0, WEIGHTS)
    assert state.apply("u1", "a", "like", 2, offset=3)
    assert not state.apply("u1", "a", "like", 2, offset=3)
    assert not state.apply("u1", "a", "like", 2, offset=1)
    state.skip(7)
    assert not state.apply("u1", "b", "play", 1, offset=6)
    assert state.history("u1") == {"a": 10.0} and state.events("u1") == 1 and state.through == 7


def test_a_snapshot_of_many_chunks_restores_every_user_exactly(monkeypatch):
    monkeypatch.setattr(user_state, "CHUNK_BYTES", 16 * 1024)
    rng = random.Random(0)
    state = PartitionState(2, WEIGHTS)
    for offset in range(20_000):
        state.apply(f"user-{rng.randrange(3000)}", f"item-{rng.randrange(20_000)}", "play", 1, offset)
    records = committed(state)
    assert len(records) > 2, "the test wants a snapshot of more than one chunk"
    assert all(len(record.value or b"") <= 16 * 1024 for record in records)
    restored = PartitionState.from_records(records, partition=2, weights=WEIGHTS)
    assert restored.users == state.users and restored.through == state.through


def test_chunks_of_a_snapshot_never_finished_are_ignored():
    state = PartitionState(0, WEIGHTS)
    state.apply("u1", "a", "play", 1, offset=0)
    first = committed(state)
    state.apply("u2", "b", "play", 1, offset=1)
    unfinished = [record for record in state.snapshot_records(base=0)
                  if record.headers["chunk"] == "0"][:1]
    unfinished[0].headers["chunks"] = "2"  # as if the writer died after the first of two chunks
    restored = PartitionState.from_records(first + unfinished, partition=0, weights=WEIGHTS)
    assert set(restored.users) == {"u1"} and restored.through == 0


def test_a_forget_marker_deletes_the_user_and_voids_their_replayed_events_up_to_it():
    state = PartitionState(0, WEIGHTS)
    state.apply("u1", "a", "play", 1, offset=0)
    state.apply("u2", "a", "play", 1, offset=1)
    records = committed(state)
    state.apply("u1", "b", "play", 1, offset=2)
    records.append(state.forget("u1"))
    restored = PartitionState.from_records(records, partition=0, weights=WEIGHTS)
    assert restored.history("u1") is None
    assert not restored.apply("u1", "b", "play", 1, offset=2), "a forgotten event must not come back on replay"
    assert restored.apply("u1", "c", "play", 1, offset=3), "a later listen starts a new history"
    assert restored.history("u1") == {"c": 1.0}


def test_the_base_header_leads_a_reader_to_the_newest_committed_snapshot():
    assert base_of(commit_record(42)) == 42
    assert base_of(LogRecord({"kind": "forget", "base": "17"}, b"u1")) == 17
    assert base_of(LogRecord({}, b"")) == -1


def test_a_snapshot_is_due_when_the_events_since_pay_for_it_or_the_oldest_is_too_old():
    state = PartitionState(0, WEIGHTS)
    assert not state.snapshot_due(150.0)
    for offset in range(FIRST_SNAPSHOT_EVENTS - 1):
        state.apply("u1", f"i{offset}", "play", 1, offset)
    assert not state.snapshot_due(150.0)
    assert state.snapshot_due(150.0, max_age_s=60.0, now=state.unsaved_since + 61.0)
    assert not state.snapshot_due(150.0, max_age_s=60.0, now=state.unsaved_since + 59.0)
    state.apply("u1", "last", "play", 1, FIRST_SNAPSHOT_EVENTS)
    assert state.snapshot_due(150.0)
    size = len(b"".join(record.value or b"" for record in state.snapshot_records(base=-1)))
    assert not state.snapshot_due(150.0)
    needed = -(-size // 150)
    for offset in range(FIRST_SNAPSHOT_EVENTS + 1, FIRST_SNAPSHOT_EVENTS + needed):
        state.apply("u1", "last", "play", 1, offset)
    assert not state.snapshot_due(150.0)
    state.apply("u1", "last", "play", 1, FIRST_SNAPSHOT_EVENTS + needed)
    assert state.snapshot_due(150.0)


def test_the_snapshot_bytes_per_event_stay_bounded_as_histories_grow():
    rng = random.Random(1)
    state = PartitionState(0, WEIGHTS)
    written, events, per_block = 0, 0, []
    for block in range(4):
        start_written, start_events = written, events
        for _ in range(30_000):
            state.apply(f"user-{rng.randrange(500)}", f"item-{rng.randrange(5000)}", "play", 1, events)
            events += 1
            if state.snapshot_due(150.0):
                written += sum(len(record.value or b"") for record in state.snapshot_records(base=-1))
        per_block.append((written - start_written) / (events - start_events))
    # A snapshot is paid for by the events before it, so each is at most one history's growth over budget.
    assert max(per_block) <= 1.1 * 150.0, per_block
    assert per_block[-1] <= 1.1 * per_block[0], per_block


def test_skips_of_items_never_played_are_counted_and_restored_from_a_snapshot():
    state = PartitionState(0, WEIGHTS)
    events = [("a", "skip", 2), ("b", "play", 1), ("b", "skip", 1), ("c", "skip", 1), ("a", "skip", 1),
              ("c", "playlist_add", 1)]
    for offset, (item, event, count) in enumerate(events):
        state.apply("u1", item, event, count, offset)
    # a only skipped (three times); b skipped after a play and c played after a skip are played items.
    assert state.history("u1") == {"a": -3.0, "b": 0.0, "c": 2.0} and state.skips("u1") == {"a": 3}
    restored = PartitionState.from_records(committed(state), partition=0, weights=WEIGHTS)
    assert restored.users == state.users and restored.skips("u1") == {"a": 3}
    assert restored.skips("nobody") == {}


def test_a_snapshot_written_before_skips_were_counted_loads_with_its_skipped_items_left_as_played():
    # The format of earlier snapshots: [events, {item: total}] per user, no skips.
    payload = zlib.compress(json.dumps({"format": 1, "partition": 0, "through": 4,
                                        "users": {"u1": [3, {"a": 2.0, "x": -1.0}]}}).encode())
    old = [LogRecord({"kind": "snapshot", "chunk": "0", "chunks": "1", "through": "4", "base": "-1"}, payload),
           commit_record(0)]
    state = PartitionState.from_records(old, partition=0, weights=WEIGHTS)
    assert state.history("u1") == {"a": 2.0, "x": -1.0} and state.skips("u1") == {} and state.events("u1") == 3
    # x's old skip is unknown as such, so x stays left out; a new item's skip counts.
    state.apply("u1", "x", "skip", 1, offset=5)
    state.apply("u1", "y", "skip", 1, offset=6)
    assert state.history("u1") == {"a": 2.0, "x": -2.0, "y": -1.0} and state.skips("u1") == {"y": 1}
    again = PartitionState.from_records(committed(state), partition=0, weights=WEIGHTS)
    assert again.users == {"u1": [5, {"a": 2.0, "x": -2.0, "y": -1.0}, {"y": 1}]}
