"""Errors of the encoders area.

:class:`EncoderError` is the root; :class:`MediaError` marks *one item's* bad input
(undecodable image, URL, oversized payload) so the worker can dead-letter that item
and keep the rest of the batch.
"""
from __future__ import annotations

from streams.errors import GenreError


class EncoderError(GenreError):
    """Base of every error the encoders raise on purpose."""


class MediaError(EncoderError):
    """An item's text or media cannot be encoded; ``reason`` goes to the dead-letter topic."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownEncoder(EncoderError):
    """A configured encoder name is not in the registry."""
