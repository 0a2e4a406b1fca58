"""Batch-friendly adapters that give :func:`streams.ranking.fuse` its sources per user.

The registry's recommenders answer one user at a time; a worker ranks a batch of users,
so the expensive parts are shared here: content and CF candidates come from one FAISS
``search_batch`` per batch (:class:`Prefetched` holds each user's share), popularity is
computed and sorted once per batch (:class:`SharedPopular`), and ItemKNN-style dense
sources are cut to their non-zero entries before the seen filter (:class:`SparseDense`).
Scores match the per-user recommenders: same queries, same floors, same tie-breaks.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from streams.recommenders.base import EMPTY, Context, Found, Scored, gather_rows, is_seen, seen_sorted
from streams.state.seen import FP_SPARE
from streams.recommenders.dense import DenseSource
from streams.state.items import ItemStats
from streams.state.ordering import top_k_indices
from streams.state.user import UserState

Rescore = Callable[[Sequence[str]], Found]  # exact scores of the given items, as arrays


class Prefetched:
    """A vector source whose top-N was found by a batched search; rescoring is exact."""

    def __init__(self, name: str, top: Scored, rescore: Rescore) -> None:
        self.name, self.top, self.rescore = name, top, rescore

    def score(self, user: UserState, ctx: Context, want: int | Sequence[str]) -> Scored:
        if isinstance(want, int):
            if want >= len(self.top.items):
                return self.top
            return Scored(dict(list(self.top.items.items())[:want]), self.top.floor)
        if not want:
            return EMPTY
        items = list(want)
        found, vals = self.rescore(items)
        return Scored({i: v for i, v, f in zip(items, vals.tolist(), found.tolist()) if f})

    def score_items(self, user: UserState, ctx: Context, items: Sequence[str]) -> Found:
        return self.rescore(items)


class SparseDense:
    """One user's dense source (session, transitions), top-k over its non-zero entries only."""

    def __init__(self, source: DenseSource, user: UserState, ctx: Context) -> None:
        self.name, self.stats = source.name, source.stats
        self._arr = source.dense(user, ctx)

    def score(self, user: UserState, ctx: Context, want: int | Sequence[str]) -> Scored:
        arr = self._arr
        if arr is None or arr.size == 0:
            return EMPTY
        ids = self.stats.ids
        if not isinstance(want, int):
            got = ((i, ids.get(i)) for i in want)
            return Scored({i: float(arr[j]) for i, j in got if j is not None and j < arr.size}, 0.0)
        nz = np.flatnonzero(arr > 0)
        return Scored(_top_valid(self.stats, nz, arr, user, ctx, want), 0.0)

    def score_items(self, user: UserState, ctx: Context, items: Sequence[str]) -> Found:
        return _items(self.stats, self._arr, items)


def _items(stats: ItemStats, arr: np.ndarray | None, items: Sequence[str]) -> Found:
    """Dense-array scores of the given items (an item the stats never saw is not found)."""
    if arr is None or arr.size == 0:
        return np.zeros(len(items), bool), np.zeros(len(items))
    get = stats.ids.get
    rows = np.fromiter((-1 if (j := get(i)) is None else j for i in items), dtype=np.int64, count=len(items))
    return gather_rows(rows, arr)


def _top_valid(stats: ItemStats, cand: np.ndarray, arr: np.ndarray, user: UserState,
               ctx: Context, k: int) -> dict[str, float]:
    """Top-k of ``arr`` over the candidate indices, dropping removed, seen and excluded items."""
    ex = ctx.exclude
    drop = (lambda c: np.fromiter((stats.ids.id_of(j) in ex for j in c.tolist()), bool, c.size)) if ex else None
    top = top_valid_rows(stats, cand, arr, seen_sorted(user), drop, k, len(ex))
    return dict(zip(stats.ids.ids_of(top.tolist()), arr[top].tolist()))


def top_valid_rows(stats: ItemStats, cand: np.ndarray, arr: np.ndarray, seen: np.ndarray | None,
                   excluded: Callable[[np.ndarray], np.ndarray] | None, k: int,
                   n_excluded: int = 0) -> np.ndarray:
    """ItemStats rows of the top-k of ``arr`` over ``cand``: not removed, not seen (``seen``:
    sorted fingerprints), not ``excluded`` (a mask over rows, dropping at most ``n_excluded``);
    best first, ties by stable hash.

    The seen/excluded tests run on the best k + |seen| + FP_SPARE + n_excluded only (they
    drop at most |seen| seen items plus rare fingerprint false positives), not on every
    candidate.
    """
    if cand.size == 0:
        return cand
    hashes = stats.ids.hashes
    cand = cand[~stats.removed[cand]]
    spare = (seen.size + FP_SPARE if seen is not None else 0) + (n_excluded if excluded is not None else 0)
    top = cand[top_k_indices(arr[cand], hashes[cand], k + spare)] if cand.size else cand
    if seen is not None and top.size:
        top = top[~is_seen(hashes[top], seen)]
    if excluded is not None and top.size:
        top = top[~excluded(top)]
    return top[:k]


class SharedPopular:
    """Decayed popularity computed once per batch, its head ordered on demand, then cut per user.

    Only the head is ordered (as far as a batch asks, doubling): the full sort of the
    catalogue took ~6 % of a worker's loop at 200 events/s, where every batch of one or
    two users sees a new clock and new item statistics.
    """

    name = "popular"

    def __init__(self, stats: ItemStats) -> None:
        self.stats = stats
        self._key: tuple[float, int] | None = None
        self._arr = np.zeros(0)
        self._valid = np.zeros(0, bool)
        self._order = np.zeros(0, np.int64)  # the best rows so far, best first
        self._complete = True  # _order holds every valid row

    @property
    def scores(self) -> np.ndarray:
        """Popularity per ItemStats row, as of the last :meth:`prepare`."""
        return self._arr

    def head(self, n: int) -> np.ndarray:
        """The ``n`` most popular valid rows (popularity desc, ties by stable hash)."""
        if n > self._order.size and not self._complete:
            want = max(n, 2 * self._order.size, 256)
            hashes = self.stats.ids.hashes[: self._arr.size]
            self._order = top_k_indices(self._arr, hashes, want, self._valid)
            self._complete = self._order.size < want
        return self._order[:n]

    def prepare(self, now: float) -> None:
        key = (now, self.stats.version)
        if key == self._key:
            return
        self._key = key
        arr = self.stats.popularity_at(now)
        self._arr, self._valid = arr, (arr > 0) & ~self.stats.removed[: arr.size]
        self._order, self._complete = np.zeros(0, np.int64), not self._valid.any()

    def score(self, user: UserState, ctx: Context, want: int | Sequence[str]) -> Scored:
        arr, ids = self._arr, self.stats.ids
        if arr.size == 0:
            return EMPTY
        if not isinstance(want, int):
            got = ((i, ids.get(i)) for i in want)
            return Scored({i: float(arr[j]) for i, j in got if j is not None and j < arr.size}, 0.0)
        head = self.head(want + user.seen.overfetch + len(ctx.exclude))
        return Scored(_top_valid(self.stats, head, arr, user, ctx, want), 0.0)

    def score_items(self, user: UserState, ctx: Context, items: Sequence[str]) -> Found:
        return _items(self.stats, self._arr, items)
