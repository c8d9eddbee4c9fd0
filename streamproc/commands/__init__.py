"""The command-line commands, one module each (registered by :mod:`streamproc.cli`)."""
