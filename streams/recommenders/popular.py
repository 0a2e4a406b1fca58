"""Time-decayed trending items: a weak signal alone, but the cold-start fallback."""
from __future__ import annotations

import numpy as np

from streams.recommenders.base import Context
from streams.recommenders.dense import DenseSource
from streams.recommenders.registry import register
from streams.state.items import ItemStats
from streams.state.user import UserState


class PopularRecommender(DenseSource):
    name = "popular"

    def dense(self, user: UserState, ctx: Context) -> np.ndarray | None:
        return self.stats.popularity_at(ctx.now)


@register("popular")
def popular(stats: ItemStats) -> PopularRecommender:
    return PopularRecommender(stats)
