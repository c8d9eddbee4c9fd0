"""The error a command raises to stop with one readable line."""


class CommandError(RuntimeError):
    """A command cannot go on; ``str(error)`` is the line shown to the user."""
