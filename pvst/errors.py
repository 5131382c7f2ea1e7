"""Errors that reach a user: one class, a message that names the file and the problem."""


class PvstError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""


class ConfigError(PvstError):
    """The configuration is invalid (names the file and the key)."""


class ArtifactError(PvstError):
    """An artifact is missing, incomplete, or was made with other parameters."""


class MediaError(PvstError):
    """A video or image cannot be read or written."""
