"""Errors that stop a command with one readable line."""


class CommandError(RuntimeError):
    """A command cannot go on; ``str(error)`` is the line shown to the user."""


class BrokerUnavailable(RuntimeError):
    """The broker could not be reached or refused the messages."""


class SettingsError(ValueError):
    """A setting in the environment could not be read."""
