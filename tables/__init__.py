"""Topics, messages and table schemas: the one place where wire formats are defined."""
