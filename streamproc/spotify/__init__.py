"""Spotify as a source and a sink: import playlists and libraries to Kafka, export lists as playlists.

``config`` reads the settings and credentials, ``client`` builds spotipy clients with the
request policy (timeouts, bounded rate-limit waits, one-line errors), ``importer`` and
``exporter`` do the work, ``cli`` registers ``streamproc spotify``.
"""
