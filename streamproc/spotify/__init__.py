"""Spotify as a source and a sink: import playlists and libraries to Kafka, export lists as playlists.

``config`` reads the settings and credentials, ``client`` builds spotipy clients with the
request policy (timeouts, bounded rate-limit waits, one-line errors), ``importer`` and
``exporter`` do the work, ``enrichment`` makes the importer's optional lookups (audio
features, genres) fail softly, ``cli`` registers ``streamproc spotify``.
"""
