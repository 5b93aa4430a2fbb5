"""The one error a config check raises."""


class ConfigError(ValueError):
    """A config that cannot run; the message is one line naming the file or key and what is allowed."""
