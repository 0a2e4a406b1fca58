"""Errors of the index area (root: :class:`VectorIndexError`)."""
from __future__ import annotations

from streams.errors import GenreError


class VectorIndexError(GenreError):
    """Base of every error the index and its replica raise on purpose."""


class DimensionMismatch(VectorIndexError):
    """Vectors or queries do not have the index's width."""


class SnapshotError(VectorIndexError):
    """A snapshot on disk is missing pieces or does not match the index config."""
