"""The one Recommender protocol every source implements, and what a request carries.

A source answers one question two ways (``want``):
- an int k: its own top-k candidates the user has not seen, with scores;
- a sequence of item ids: its scores for exactly those (so fusion can give every
  candidate every source's opinion, not only the sources that proposed it).
Scores come back as :class:`Scored`, whose ``floor`` is the score of an item this
source has no signal for, so min-max normalisation spans the whole catalogue, as the
prototype's did, rather than only the top-k.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from streams.state.seen import fingerprints
from streams.state.user import UserState


class RecommenderError(Exception):
    """Root of every error raised by :mod:`streams.recommenders`."""


class UnknownRecommender(RecommenderError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown recommender {name!r}; registered: {', '.join(sorted(known))}")


@dataclass(frozen=True)
class Context:
    """Per-request facts that are not user state."""

    now: float
    scenario: str | None = None
    exclude: Collection[str] = frozenset()  # deleted / blocked items, beyond the user's seen set


@dataclass(frozen=True)
class Scored:
    """Item → raw score of one source; ``floor`` = score of an item with no signal (None: unknown)."""

    items: dict[str, float] = field(default_factory=dict)
    floor: float | None = None

    def __len__(self) -> int:
        return len(self.items)


EMPTY = Scored()


@runtime_checkable
class Recommender(Protocol):
    name: str

    def score(self, user: UserState, ctx: Context, want: int | Sequence[str]) -> Scored:
        """Top-``want`` unseen items, or scores of the given items; empty when no signal."""
        ...


Found = tuple[np.ndarray, np.ndarray]  # (bool: the source knows the item, float64 raw score)


def score_items(source: Recommender, user: UserState, ctx: Context, items: Sequence[str]) -> Found:
    """A source's raw scores of exactly ``items``, as arrays aligned with ``items``.

    Sources may implement ``score_items`` with the same meaning (vectorised: no dict per
    item); any other source is asked through ``score(user, ctx, items)``. Values must be
    those ``score`` gives for the same items, so fusion is the same either way.
    """
    fast = getattr(source, "score_items", None)
    if fast is not None:
        return fast(user, ctx, items)
    got = source.score(user, ctx, list(items)).items
    n = len(items)
    return (np.fromiter((i in got for i in items), dtype=bool, count=n),
            np.fromiter((got.get(i, 0.0) for i in items), dtype=np.float64, count=n))


def gather_rows(rows: np.ndarray, arr: np.ndarray) -> Found:
    """``score_items`` of a dense per-item array, given each item's row (-1: unknown)."""
    found = (rows >= 0) & (rows < arr.size)
    vals = np.zeros(rows.size, dtype=np.float64)
    vals[found] = arr[rows[found]]
    return found, vals


class VectorSearch(Protocol):
    """What content/cf need from ``index.VectorIndex``."""

    def search(self, query: np.ndarray, k: int, allow: Any = None, deny: Any = None
               ) -> list[list[tuple[str, float]]]: ...


def seen_sorted(user: UserState) -> np.ndarray | None:
    """The user's seen fingerprints sorted (for :func:`is_seen`); None when nothing is seen."""
    return user.seen.sorted() if user.seen else None


def is_seen(hashes: np.ndarray, seen: np.ndarray | None) -> np.ndarray:
    """True where an item (by stable 32-bit hash) is in ``seen`` (from :func:`seen_sorted`):
    compares fingerprints, so it may also hide an unseen item (rate in ``streams.state.seen``)."""
    if seen is None:
        return np.zeros(np.shape(hashes), bool)
    return in_sorted(fingerprints(hashes), seen)


def in_sorted(values: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``np.isin(values, table)`` for a sorted ``table``: one binary search (no sort of a
    concatenation per call, which is what makes ``isin`` slow on small arrays)."""
    if table.size == 0 or values.size == 0:
        return np.zeros(values.shape, bool)
    at = np.searchsorted(table, values)
    at[at == table.size] = 0
    return table[at] == values


def unseen_mask(hashes: np.ndarray, user: UserState) -> np.ndarray:
    """True where an item (by stable hash) is not in the user's seen set."""
    return ~is_seen(hashes, seen_sorted(user))
