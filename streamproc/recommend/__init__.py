"""Ranking: the recommender, the catalogue, personalisation, playlists; no Kafka and no Faust."""
