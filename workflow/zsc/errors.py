"""The error of a config that cannot run, shared by every layer.

It lives here, below the registries and stages, so that a stage that finds a bad setting (a probe
split that does not exist, a candidate of the search that breaks a cross-option rule) names the
config key with the same error the config's own checks raise (zsc.config re-exports it).
"""


class ConfigError(ValueError):
    """A config that cannot run; the message is one line naming the file or key and what is allowed."""
