"""Every setting of streamproc, read once from the environment.

Each field has a sane default; ``STREAMPROC_<NAME>`` overrides it (for example
``STREAMPROC_BROKER=kafka://kafka:9092``). Spotify credentials are read by the
Spotify client alone, from spotipy's own ``SPOTIPY_*`` variables, and never stored here.

>>> Settings.from_env({"STREAMPROC_TOP_N": "5"}).top_n
5
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

# Defined apart, so that the command line can report a bad setting found while importing this module.
from streamproc.errors import SettingsError

PREFIX = "STREAMPROC_"
# The codecs every Kafka client streamproc uses can write and read (aiokafka through cramjam).
COMPRESSIONS = ("none", "gzip", "snappy", "lz4", "zstd")
EXPLORATION_POLICIES = ("uniform", "thompson")
ITEM_MODELS = ("ease", "rp3beta", "none")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class Settings:
    """streamproc's configuration; see the README's table for what each field means."""

    broker: str = "kafka://127.0.0.1:9092"
    app_id: str = "streamproc"
    data_dir: str = ".streamproc"
    data: str = str(PROJECT_ROOT.parent / "shared" / "data")
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    topic_partitions: int = 8
    top_n: int = 10
    max_per_artist: int = 0
    weight_play: float = 1.0
    weight_skip: float = -1.0
    weight_like: float = 5.0
    weight_playlist_add: float = 3.0
    skip_penalty: float = 0.5
    max_message_bytes: int = 65536
    batch_size: int = 1000
    batch_seconds: float = 0.1
    list_interval_seconds: float = 1.0
    list_behind_seconds: float = 0.5
    list_behind_events: int = 1000
    retrain_events: int = 20000
    retrain_seconds: float = 60.0
    # A training takes the trainer's worker seconds of CPU: however fast events come, not more often than this.
    retrain_min_seconds: float = 30.0
    min_train_users: int = 20
    state_bytes_per_event: float = 150.0
    snapshot_max_age_seconds: float = 3600.0
    als_factors: int = 64
    als_iterations: int = 15
    als_regularization: float = 0.8
    als_alpha: float = 2.0
    als_confidence: str = "log1p"
    als_regularization_mode: str = "weighted"
    als_solver: str = "cg"
    als_threads: int = 1
    min_als_items: int = 1
    item_model: str = "ease"
    item_neighbours: int = 200
    ease_regularization: float = 100.0
    rp3beta_alpha: float = 0.8
    rp3beta_beta: float = 0.2
    hybrid_weight: float = 0.8
    hybrid_normalise: str = "minmax"
    clusters: int = 12
    cluster_batch: int = 256
    content_clusters: int = 2
    session_timeout: float = 6.0
    heartbeat_interval: float = 1.0
    epoch_check_seconds: float = 5.0
    fetch_max_wait_ms: int = 10
    producer_linger_ms: int = 1
    compression: str = "none"
    standby_replicas: int = 1
    rocksdb_write_buffer_mb: int = 4
    rocksdb_block_cache_mb: int = 8
    discover_cron: str = "0 0 * * 1"
    timezone: str = "UTC"
    discover_size: int = 30
    emerging_size: int = 30
    emerging_popularity: float = 20.0
    playlist_no_repeat_days: float = 28.0
    exploration: float = 0.1
    exploration_policy: str = "uniform"
    web_url: str = "http://127.0.0.1:6066"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Return settings with every ``STREAMPROC_*`` variable of ``environ`` applied."""
        environ = os.environ if environ is None else environ
        values = {}
        for field in dataclasses.fields(cls):
            raw = environ.get(PREFIX + field.name.upper())
            if raw is not None:
                values[field.name] = _convert(field.name, type(field.default), raw)
        return cls(**values)

    def event_weights(self) -> dict[str, float]:
        """Return the confidence each listening event adds per unit of ``count``."""
        return {
            "play": self.weight_play,
            "skip": self.weight_skip,
            "like": self.weight_like,
            "playlist_add": self.weight_playlist_add,
        }

    def compression_type(self) -> str | None:
        """Return the producers' compression codec for Kafka clients (None for none).

        >>> Settings(compression="lz4").compression_type()
        'lz4'
        >>> Settings(compression="zip").compression_type()
        Traceback (most recent call last):
        ...
        streamproc.errors.SettingsError: STREAMPROC_COMPRESSION='zip' is not one of none, gzip, snappy, lz4, zstd
        """
        if self.compression not in COMPRESSIONS:
            raise SettingsError(f"{PREFIX}COMPRESSION={self.compression!r} is not one of {', '.join(COMPRESSIONS)}")
        return None if self.compression == "none" else self.compression

    def explores_by_bandit(self) -> bool:
        """Return True when exploration picks its clusters by Thompson sampling, False when uniformly.

        >>> Settings(exploration_policy="thompson").explores_by_bandit()
        True
        >>> Settings(exploration_policy="greedy").explores_by_bandit()
        Traceback (most recent call last):
        ...
        streamproc.errors.SettingsError: STREAMPROC_EXPLORATION_POLICY='greedy' is not one of uniform, thompson
        """
        if self.exploration_policy not in EXPLORATION_POLICIES:
            raise SettingsError(f"{PREFIX}EXPLORATION_POLICY={self.exploration_policy!r} is not one of "
                                f"{', '.join(EXPLORATION_POLICIES)}")
        return self.exploration_policy == "thompson"

    def penalty_per_skip(self) -> float:
        """Return ``STREAMPROC_SKIP_PENALTY``, the share of its standing an item only skipped loses per
        skip in that user's lists (1: never again), checked to be between 0 and 1.

        >>> Settings(skip_penalty=0.25).penalty_per_skip()
        0.25
        >>> Settings(skip_penalty=1.5).penalty_per_skip()
        Traceback (most recent call last):
        ...
        streamproc.errors.SettingsError: STREAMPROC_SKIP_PENALTY=1.5 is not between 0 and 1
        """
        if not 0.0 <= self.skip_penalty <= 1.0:
            raise SettingsError(f"{PREFIX}SKIP_PENALTY={self.skip_penalty!r} is not between 0 and 1")
        return self.skip_penalty

    def serves_item_model(self) -> bool:
        """Return True when the trainer fits an item model to blend with the ALS, False for the ALS alone.

        >>> Settings(item_model="none").serves_item_model(), Settings(hybrid_weight=1.0).serves_item_model()
        (False, False)
        >>> Settings(item_model="knn").serves_item_model()
        Traceback (most recent call last):
        ...
        streamproc.errors.SettingsError: STREAMPROC_ITEM_MODEL='knn' is not one of ease, rp3beta, none
        """
        if self.item_model not in ITEM_MODELS:
            raise SettingsError(f"{PREFIX}ITEM_MODEL={self.item_model!r} is not one of {', '.join(ITEM_MODELS)}")
        if not 0.0 <= self.hybrid_weight <= 1.0 or self.hybrid_normalise not in ("minmax", "rank"):
            raise SettingsError(f"{PREFIX}HYBRID_WEIGHT must be in [0, 1] and {PREFIX}HYBRID_NORMALISE minmax or "
                                f"rank, got {self.hybrid_weight!r} and {self.hybrid_normalise!r}")
        return self.item_model != "none" and self.hybrid_weight < 1.0

    def bootstrap_servers(self) -> str:
        """Return the broker as ``host:port`` for plain Kafka clients."""
        return self.broker.split("://", 1)[-1]


def _convert(name: str, kind: type, raw: str) -> object:
    try:
        return kind(raw)
    except ValueError:
        raise SettingsError(
            f"{PREFIX}{name.upper()}={raw!r} is not a valid {kind.__name__}"
        ) from None


settings = Settings.from_env()
