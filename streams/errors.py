"""Root exceptions of the streams package.

Each area raises a subclass of :class:`GenreError` so callers can catch the family
without catching programming errors (``TypeError`` and friends stay loud).
"""
from __future__ import annotations


class GenreError(Exception):
    """Base class of every error GENRE stream raises on purpose."""


class InvalidMessage(GenreError):
    """A message on a topic broke the wire contract.

    ``reason`` is short and human readable; it is what lands in the dead-letter topic.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConfigError(GenreError):
    """Settings or runtime configuration are invalid."""


class KafkaSetupError(GenreError):
    """The local broker could not be installed, formatted, started or reached."""
