"""streamproc: a real-time music recommender on Kafka and Faust."""

__version__ = "0.1.0"
