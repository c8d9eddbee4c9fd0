"""The RocksDB options of every table: what bounds a worker's memory.

Faust opens one RocksDB database per table and partition (8 partitions of 6 tables: up to 48 on
one worker) and gives each, by default, three 64 MiB write buffers and its own 2 GiB block cache.
Every table write is kept in a write buffer until it fills, so a worker's RSS grew by about
2.9 KB per listening event (0.46 to 1.04 GB from the 32,000th to the 235,000th event of one run) towards
several GB. Smaller buffers and caches bound it:
``databases x (write_buffer_mb x 2 + block_cache_mb)``.

>>> from streamproc.settings import Settings
>>> rocksdb_options(Settings(rocksdb_write_buffer_mb=4, rocksdb_block_cache_mb=8))["block_cache_size"]
8388608
"""

from __future__ import annotations

from typing import Any

from streamproc.settings import Settings

MIB = 1 << 20
WRITE_BUFFERS = 2


def rocksdb_options(settings: Settings) -> dict[str, Any]:
    """Return a new dict of RocksDB options for one table (Faust changes the dict it is given)."""
    return {
        "write_buffer_size": settings.rocksdb_write_buffer_mb * MIB,
        "max_write_buffer_number": WRITE_BUFFERS,
        "target_file_size_base": settings.rocksdb_write_buffer_mb * MIB,
        "block_cache_size": settings.rocksdb_block_cache_mb * MIB,
        "block_cache_compressed_size": settings.rocksdb_block_cache_mb * MIB,
    }
