"""Content source: search the item-vector index with the user's interest vector.

The query is centred on the catalogue mean (``u - mass·mean`` = Σ w·(x - mean) when the
mean is stable), which in the prototype lifted this weak-alone signal; it always earned
weight in the fusion.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from streams.recommenders.base import EMPTY, Context, Scored, VectorSearch
from streams.recommenders.registry import register
from streams.recommenders.vector import search_index, unit
from streams.state.user import UserState

MeanFn = Callable[[], np.ndarray | None]


class ContentRecommender:
    name = "content"

    def __init__(self, index: VectorSearch, mean: MeanFn | None = None) -> None:
        self.index, self.mean = index, mean

    def query(self, user: UserState) -> np.ndarray | None:
        if user.content is None:
            return None
        q = user.content.astype(np.float32)
        mu = self.mean() if self.mean is not None else None
        if mu is not None and mu.shape == q.shape:
            q = q - np.float32(user.content_mass) * mu
        return unit(q)

    def score(self, user: UserState, ctx: Context, want: int | Sequence[str]) -> Scored:
        q = self.query(user)
        return EMPTY if q is None else search_index(self.index, q, user, ctx, want)


@register("content")
def content(index: VectorSearch, mean: MeanFn | None = None) -> ContentRecommender:
    return ContentRecommender(index, mean)
