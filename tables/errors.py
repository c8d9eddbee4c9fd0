"""The error raised for a message that cannot be used."""


class InvalidMessage(ValueError):
    """A message could not be decoded or validated; ``str(error)`` is the one-line reason."""
