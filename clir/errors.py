"""Errors a user can act on: the CLI prints them as one line and exits with code 2."""


class ClirError(Exception):
    """A user-facing error whose message is one self-contained line."""


class CorpusError(ClirError):
    """A corpus, query or qrels file that cannot be read (names the file and line)."""


class IndexFormatError(ClirError):
    """An index directory that is missing, corrupted, or built by an incompatible version or encoder."""


class ConfigError(ClirError):
    """Bad arguments or settings."""
