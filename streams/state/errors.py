"""The state area's one root exception, so agents can catch everything from here at once."""
from __future__ import annotations


class StateError(Exception):
    """Root of every error raised by :mod:`streams.state`."""


class UnknownEventType(StateError):
    """An interaction type with no configured weight (config problem → deadletter, not crash)."""

    def __init__(self, etype: str, known: list[str]) -> None:
        super().__init__(f"unknown event type {etype!r}; configured: {', '.join(sorted(known))}")
        self.etype = etype


class MissingValue(StateError):
    """A valued type (a rating) arrived without a numeric value."""
