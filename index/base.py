"""The :class:`VectorIndex` protocol: upsert/delete by string id, filtered top-k search.

Rankers read while the replica thread writes, so every implementation must be safe to
call from several threads.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np


class Hit(NamedTuple):
    """One search result: the item id and its inner-product score (cosine for unit vectors)."""

    item_id: str
    score: float


@runtime_checkable
class VectorIndex(Protocol):
    """A mutable inner-product index keyed by item id."""

    dim: int

    def upsert(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Insert or replace; within one call the last occurrence of an id wins."""
        ...

    def delete(self, ids: Sequence[str]) -> int:
        """Remove ids (unknown ids are ignored); returns how many were present."""
        ...

    def search(self, query: np.ndarray, k: int, allow: Collection[str] | None = None,
               deny: Collection[str] | None = None) -> list[Hit]:
        """Top-k by inner product, best first, restricted to ``allow`` and outside ``deny``."""
        ...

    def search_batch(self, queries: np.ndarray, k: int, allow: Collection[str] | None = None,
                     deny: Collection[str] | None = None,
                     deny_per_query: Sequence[Collection[str]] | None = None) -> list[list[Hit]]:
        """Many queries in one call; ``deny_per_query[i]`` is added to ``deny`` for query i."""
        ...

    def get(self, item_id: str) -> np.ndarray | None:
        """The stored vector of ``item_id`` (or None)."""
        ...

    def export(self) -> tuple[list[str], np.ndarray]:
        """Every live (id, vector), for snapshots."""
        ...

    def __len__(self) -> int: ...

    def __contains__(self, item_id: object) -> bool: ...
