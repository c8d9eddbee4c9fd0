"""The Faust app: ``streamproc.app:app``, run by ``streamproc worker``.

Settings come from :mod:`streamproc.settings`. The broker is reached through
:mod:`streamproc.kafka.transport` (Faust's aiokafka driver with a short fetch wait), and the
session timeout is short so that group joins and failovers take seconds, not minutes. Agents,
tasks and pages live in their own modules, which Faust's autodiscovery imports when a worker
starts (they import ``app`` from here, so this module imports none of them); the objects they
serve from are built in :mod:`streamproc.runtime`.
"""

from __future__ import annotations

import faust

from streamproc.kafka.producer import MAX_REQUEST_BYTES
from streamproc.settings import settings
from streamproc.kafka.transport import transport_url

DISCOVERED_MODULES = ["agents", "streamproc.kafka.catalog_feed", "streamproc.web.overview", "streamproc.web.playlists",
                      "streamproc.web.partitions"]

app = faust.App(
    settings.app_id,
    broker=transport_url(settings.broker),
    store="rocksdb://",
    datadir=settings.data_dir,
    topic_partitions=settings.topic_partitions,
    broker_session_timeout=settings.session_timeout,
    broker_heartbeat_interval=settings.heartbeat_interval,
    broker_rebalance_timeout=max(settings.session_timeout * 2, 10.0),
    producer_max_request_size=MAX_REQUEST_BYTES,
    producer_linger=settings.producer_linger_ms / 1000.0,
    producer_compression_type=settings.compression_type(),
    consumer_max_fetch_size=MAX_REQUEST_BYTES,
    key_serializer="raw",
    value_serializer="raw",
    web_host=settings.web_host,
    web_port=settings.web_port,
    web_in_thread=False,
    table_cleanup_interval=3600.0,
    table_standby_replicas=settings.standby_replicas,
    # The modules that register agents, tasks and pages on the app, imported by the worker at start.
    autodiscover=DISCOVERED_MODULES,
    origin="streamproc",
)
