"""Names of the Kafka topics streamproc reads and writes."""

LISTENS = "listens"
TRACKS = "tracks"
RECOMMENDATIONS = "recommendations"
DEAD_LETTERS = "dead-letters"

INPUT_TOPICS = (LISTENS, TRACKS)
