"""Names of the Kafka topics streamproc reads and writes."""

LISTENS = "listens"
TRACKS = "tracks"
RECOMMENDATIONS = "recommendations"
DEAD_LETTERS = "dead-letters"
CONTROLS = "controls"
PLAYLISTS = "playlists"

INPUT_TOPICS = (LISTENS, TRACKS, CONTROLS)
