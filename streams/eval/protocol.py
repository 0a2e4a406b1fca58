"""The temporal-replay protocol shared by every scorer (baselines and the product).

Events are replayed in (timestamp, user, item) order. Before an event from the
scored range with rating >= ``positive`` is applied, every scorer is asked for the
user's list; candidates are items seen in an earlier event that the user has not
rated. Only afterwards does any scorer see the event, so nothing leaks forward.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from streams.data.movielens import Ratings
from streams.eval.metrics import MetricTotals, top_k

LIST_LENGTH = 20
POSITIVE = 4.0


@dataclass(frozen=True)
class Events:
    """A replay sequence in dense indices: ``items`` index into ``item_ids`` (sorted ids)."""

    users: np.ndarray  # int64 dense user index
    items: np.ndarray  # int64 dense item index
    values: np.ndarray  # float32 rating
    ts: np.ndarray  # float64 epoch seconds
    user_ids: np.ndarray  # dense index -> original id
    item_ids: np.ndarray  # dense index -> original id (sorted, so ties by index = ties by id)

    @property
    def n_users(self) -> int:
        return int(self.user_ids.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.item_ids.shape[0])

    def __len__(self) -> int:
        return int(self.users.shape[0])


def events_from_ratings(ratings: Ratings, item_ids: np.ndarray | None = None) -> Events:
    """Densify ids; ``item_ids`` (the catalogue) defaults to the rated items."""
    items = np.unique(ratings.item_ids) if item_ids is None else np.sort(np.asarray(item_ids))
    users = np.unique(ratings.user_ids)
    return Events(
        users=np.searchsorted(users, ratings.user_ids).astype(np.int64),
        items=np.searchsorted(items, ratings.item_ids).astype(np.int64),
        values=ratings.values.astype(np.float32),
        ts=ratings.timestamps.astype(np.float64),
        user_ids=users, item_ids=items,
    )


@dataclass(frozen=True)
class Split:
    """Replay ``[0, end)``; events from ``start`` on are scored."""

    start: int
    end: int


def holdout_split(n: int) -> Split:
    """First half warms up, second half is scored."""
    return Split(start=n // 2, end=n)


def validation_split(n: int) -> Split:
    """Only the warm-up half: its first half warms up, its second half is scored (for tuning)."""
    half = n // 2
    return Split(start=half // 2, end=half)


@dataclass(frozen=True)
class Recommendation:
    """A ranked list of dense item indices, with optional per-item source contributions."""

    items: np.ndarray
    explanations: list[dict[str, float]] | None = None


class Scorer(Protocol):
    """Anything the replay can drive: it ranks before an event and learns after it."""

    def recommend(self, user: int, candidates: np.ndarray, k: int) -> Recommendation: ...

    def observe(self, user: int, item: int, value: float, ts: float) -> None: ...


class DenseScorer:
    """Base for scorers that produce one score per item; ranking and filtering are shared."""

    def scores(self, user: int) -> np.ndarray:
        raise NotImplementedError

    def recommend(self, user: int, candidates: np.ndarray, k: int) -> Recommendation:
        return Recommendation(top_k(self.scores(user), candidates, k))

    def observe(self, user: int, item: int, value: float, ts: float) -> None:
        raise NotImplementedError


def explanation_for(rec: Recommendation, target: int) -> dict[str, float] | None:
    """The target's source contributions when it is in the list and the scorer explains."""
    if rec.explanations is None:
        return None
    where = np.flatnonzero(rec.items == target)
    return rec.explanations[int(where[0])] if where.size else None


def replay(
    events: Events, scorers: Mapping[str, Scorer], split: Split,
    positive: float = POSITIVE, progress: Callable[[int], None] | None = None,
) -> dict[str, MetricTotals]:
    """Run every scorer over ``events[:split.end]`` in one pass and total their metrics."""
    totals = {name: MetricTotals(catalogue_size=events.n_items) for name in scorers}
    seen = np.zeros(events.n_items, dtype=bool)
    rated = np.zeros((events.n_users, events.n_items), dtype=bool)
    for i in range(split.end):
        u, it = int(events.users[i]), int(events.items[i])
        v, t = float(events.values[i]), float(events.ts[i])
        if i >= split.start and v >= positive:
            candidates = seen & ~rated[u]
            for name, scorer in scorers.items():
                rec = scorer.recommend(u, candidates, LIST_LENGTH)
                totals[name].add(rec.items, it, explanation_for(rec, it))
        for scorer in scorers.values():
            scorer.observe(u, it, v, t)
        seen[it] = True
        rated[u, it] = True
        if progress is not None:
            progress(i)
    return totals
