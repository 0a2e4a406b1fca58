"""Collaborative source: the user's fold-in vector against the current CF item factors.

The model is read through a callable so the trainer's hot-swap is seen on the next request.
A user vector solved against an older version is re-solved on the fly (not stored: the
request path never writes state). Without an index the factors are scored exactly in
numpy, which is the right call for catalogues up to ~10^5 items.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from streams.recommenders.base import (EMPTY, Context, Found, Scored, VectorSearch, gather_rows,
                                       score_items, unseen_mask)
from streams.recommenders.registry import register
from streams.recommenders.vector import search_index
from streams.state.foldin import CFModel, fold_in
from streams.state.ordering import item_hash, top_k_indices
from streams.state.user import UserState

ModelFn = Callable[[], CFModel | None]


class CFRecommender:
    name = "cf"

    def __init__(self, model: ModelFn | CFModel, index: VectorSearch | None = None) -> None:
        self.model: ModelFn = model if callable(model) else (lambda: model)
        self.index = index
        self._hashes: tuple[str, np.ndarray] | None = None

    def user_vector(self, user: UserState, m: CFModel) -> np.ndarray | None:
        if user.cf_version == m.version:
            return user.cf
        return fold_in(m, [i for i, _ in user.positives], [w for _, w in user.positives])

    def _item_hashes(self, m: CFModel) -> np.ndarray:
        if self._hashes is None or self._hashes[0] != m.version:
            self._hashes = (m.version, np.fromiter((item_hash(i) for i in m.item_ids),
                                                   dtype=np.uint32, count=len(m.item_ids)))
        return self._hashes[1]

    def score(self, user: UserState, ctx: Context, want: int | Sequence[str]) -> Scored:
        m = self.model()
        u = None if m is None else self.user_vector(user, m)
        if m is None or u is None:
            return EMPTY
        if self.index is not None:
            return search_index(self.index, u, user, ctx, want)
        scores = m.factors @ u.astype(np.float32)
        if not isinstance(want, int):
            rows = ((i, m.row(i)) for i in want)
            return Scored({i: float(scores[r]) for i, r in rows if r is not None})
        hashes = self._item_hashes(m)
        valid = unseen_mask(hashes, user)
        for item in ctx.exclude:
            r = m.row(item)
            if r is not None:
                valid[r] = False
        floor = float(scores[valid].min()) if valid.any() else None
        top = top_k_indices(scores, hashes, want, valid)
        return Scored({m.item_ids[r]: float(scores[r]) for r in top.tolist()}, floor)


    def score_items(self, user: UserState, ctx: Context, items: Sequence[str]) -> Found:
        """``score(user, ctx, items)`` as arrays (dense path: one product, one gather)."""
        m = self.model()
        if self.index is not None or m is None:
            return score_items(_Plain(self), user, ctx, items)
        u = self.user_vector(user, m)
        if u is None:
            return np.zeros(len(items), bool), np.zeros(len(items))
        row = m.row
        rows = np.fromiter((-1 if (r := row(i)) is None else r for i in items), dtype=np.int64,
                           count=len(items))
        return gather_rows(rows, m.factors @ u.astype(np.float32))


class _Plain:
    """A source seen through ``score`` only (so ``score_items`` can fall back to it)."""

    def __init__(self, inner: CFRecommender) -> None:
        self.score = inner.score


@register("cf")
def cf(model: ModelFn | CFModel, index: VectorSearch | None = None) -> CFRecommender:
    return CFRecommender(model, index)
