"""The listens reader's bookkeeping before it is connected: what it reads, and what it reports meanwhile."""

from __future__ import annotations

import asyncio

from streamproc.kafka.listens_reader import ListensReader


def test_partitions_given_before_it_connects_are_kept_and_nothing_is_reported_or_taken():
    reader = ListensReader("127.0.0.1:1", "listens", fetch_wait_ms=20, batch_size=10)
    reader.read_from({3: 17, 1: 0})
    assert reader.partitions() == [1, 3] and reader.starts == {3: 17, 1: 0}
    # The web view asks for lag at any moment: an unconnected reader has no high-water marks yet.
    assert reader.highwaters() == {}
    assert asyncio.run(reader.take()) == []
    reader.read_from({})
    assert reader.partitions() == []
