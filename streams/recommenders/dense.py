"""Shared ranking for sources that score the whole catalogue of an ItemStats as one array."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from streams.recommenders.base import EMPTY, Context, Found, Scored, gather_rows, unseen_mask
from streams.state.items import ItemStats
from streams.state.ordering import top_k_indices
from streams.state.user import UserState


class DenseSource:
    """Subclasses give ``dense(user, ctx)``: one score per dense item id (0 = no signal)."""

    name = "dense"

    def __init__(self, stats: ItemStats) -> None:
        self.stats = stats
        self._memo: tuple[tuple, np.ndarray | None] | None = None

    def _dense(self, user: UserState, ctx: Context) -> np.ndarray | None:
        """``dense`` memoised for one (user state, time, stats version): fusion asks twice."""
        key = (id(user), user.user_id, user.n_events, user.last_ts, ctx.now, self.stats.version)
        if self._memo is None or self._memo[0] != key:
            self._memo = (key, self.dense(user, ctx))
        return self._memo[1]

    def dense(self, user: UserState, ctx: Context) -> np.ndarray | None:
        raise NotImplementedError

    def score(self, user: UserState, ctx: Context, want: int | Sequence[str]) -> Scored:
        arr = self._dense(user, ctx)
        if arr is None or arr.size == 0:
            return EMPTY
        ids = self.stats.ids
        if not isinstance(want, int):
            got = ((i, ids.get(i)) for i in want)
            return Scored({i: float(arr[j]) for i, j in got if j is not None}, 0.0)
        valid = self._valid(user, ctx, arr.size) & (arr > 0)
        top = top_k_indices(arr, ids.hashes[: arr.size], want, valid)
        return Scored(dict(zip(ids.ids_of(top.tolist()), arr[top].tolist())), 0.0)

    def score_items(self, user: UserState, ctx: Context, items: Sequence[str]) -> Found:
        """``score(user, ctx, items)`` as arrays aligned with ``items`` (no dict per item)."""
        arr = self._dense(user, ctx)
        if arr is None or arr.size == 0:
            return np.zeros(len(items), bool), np.zeros(len(items))
        get = self.stats.ids.get
        rows = np.fromiter((-1 if (j := get(i)) is None else j for i in items), dtype=np.int64,
                           count=len(items))
        return gather_rows(rows, arr)

    def _valid(self, user: UserState, ctx: Context, n: int) -> np.ndarray:
        valid = unseen_mask(self.stats.ids.hashes[:n], user) & ~self.stats.removed[:n]
        for item in ctx.exclude:
            j = self.stats.ids.get(item)
            if j is not None and j < n:
                valid[j] = False
        return valid
