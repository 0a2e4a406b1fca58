"""The ranking area's one root exception."""
from __future__ import annotations


class RankingError(Exception):
    """Root of every error raised by :mod:`streams.ranking`."""


class InvalidConfig(RankingError, ValueError):
    """A fusion config that must not go live; ``problems`` lists every reason, not just the first.

    A ValueError too, so the control-topic fold treats it like any validation failure.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid fusion config: " + "; ".join(problems))
