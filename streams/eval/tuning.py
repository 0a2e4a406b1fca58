"""Choose fusion weights on the validation replay, evaluating a whole grid in one pass.

Min-max normalisation is per source and does not depend on the weights, so one
``gather`` of every source per request (the product's own code) gives a sources x pool
matrix; every weight vector's fused list is then one matrix product. Ties are broken
by the product's stable item hash, as ``fuse`` does.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from streams.eval.protocol import Events, Recommendation, Split, replay
from streams.ranking.config import FusionConfig
from streams.ranking.fusion import gather
from streams.ranking.normalise import normalise_array
from streams.state.ordering import item_hash

TUNED = ("session", "transitions", "content", "cf")
LEVELS = (0.0, 0.1, 0.2, 0.3, 0.45, 0.6)


def weight_grid(sources: Sequence[str] = TUNED, levels: Sequence[float] = LEVELS) -> np.ndarray:
    """The first source fixed at 1 (only ratios matter), the others over ``levels``."""
    rows = [(1.0, *rest) for rest in itertools.product(levels, repeat=len(sources) - 1)]
    return np.array(rows, dtype=np.float64)


def fused_ranks(matrix: np.ndarray, hashes: np.ndarray, grid: np.ndarray, target: int) -> np.ndarray:
    """Rank (from 0) of pool column ``target`` under every weight vector; ties by smaller hash."""
    fused = grid @ matrix
    at = fused[:, target][:, None]
    ahead = (fused > at) | ((fused == at) & (hashes < hashes[target])[None, :])
    return ahead.sum(axis=1)


@dataclass
class _Pending:
    user: int
    pool: dict[str, int]
    matrix: np.ndarray
    hashes: np.ndarray


class FusionGrid:
    """A replay scorer that totals HR@10 / NDCG@10 for every row of ``grid`` at once."""

    def __init__(self, product, grid: np.ndarray, sources: Sequence[str] = TUNED, k: int = 10) -> None:
        self.product, self.grid, self.sources, self.k = product, grid, tuple(sources), k
        self.config = FusionConfig(weights={s: 1.0 for s in self.sources}, k=20)
        self.hits = np.zeros(len(grid))
        self.ndcg = np.zeros(len(grid))
        self.scored = 0
        self.pending: _Pending | None = None

    def recommend(self, user: int, candidates: np.ndarray, k: int) -> Recommendation:
        got = gather(self.product.state(user), self.product.context(), self.product.sources, self.config)
        pool = sorted(set().union(*(s.items for s in got.values()))) if got else []
        matrix = np.zeros((len(self.sources), len(pool)))
        index = {item: n for n, item in enumerate(pool)}
        for row, name in enumerate(self.sources):
            if name in got and got[name].items:
                cols = np.fromiter((index[i] for i in got[name].items), dtype=np.int64, count=len(got[name]))
                matrix[row, cols] = normalise_array(got[name], self.config.normalise)
        hashes = np.array([item_hash(i) for i in pool], dtype=np.uint32)
        self.pending = _Pending(user, index, matrix, hashes)
        return Recommendation(np.zeros(0, dtype=np.int64))

    def observe(self, user: int, item: int, value: float, ts: float) -> None:
        pending, self.pending = self.pending, None
        if pending is not None and pending.user == user:
            self.scored += 1
            column = pending.pool.get(self.product.ids[item])
            if column is not None:
                ranks = fused_ranks(pending.matrix, pending.hashes, self.grid, column)
                inside = ranks < self.k
                self.hits += inside
                self.ndcg += np.where(inside, 1.0 / np.log2(ranks + 2.0), 0.0)
        self.product.observe(user, item, value, ts)

    def results(self) -> list[tuple[dict[str, float], float]]:
        """(weights normalised to sum 1, HR@k) for every grid row, best first."""
        n = max(self.scored, 1)
        rows = [({s: round(float(w) / float(r.sum()), 4) for s, w in zip(self.sources, r)}, h / n)
                for r, h in zip(self.grid, self.hits)]
        return sorted(rows, key=lambda p: -p[1])


def tune_weights(events: Events, items: Sequence[Mapping], split: Split, config
                 ) -> tuple[dict[str, float], list[tuple[dict[str, float], float]]]:
    """Best weights on ``split`` (the validation replay) and the whole grid's scores."""
    from streams.eval.product import ProductReplay

    product = ProductReplay(events, items, {s: 1.0 for s in TUNED}, config.extra)
    grid = FusionGrid(product, weight_grid())
    replay(events, {"grid": grid}, split)
    results = grid.results()
    best = {**results[0][0], "popular": 0.0}
    return best, results
