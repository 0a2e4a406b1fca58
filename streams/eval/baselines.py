"""Streaming baselines replayed alongside the product: popularity, ItemKNN and ALS fold-in.

They follow the reference definitions exactly (no tuning) so their figures are
comparable run to run: positives are ratings >= 4, candidates and tie-breaking are
left to the protocol (ties go to the smaller item id).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from streams.eval.protocol import POSITIVE, DenseScorer
from streams.training.als import ALSParams, FoldIn, fit_item_factors


class Popularity(DenseScorer):
    """Score = how many positive ratings the item has received so far."""

    def __init__(self, n_users: int, n_items: int) -> None:
        self.counts = np.zeros(n_items, dtype=np.float64)

    def scores(self, user: int) -> np.ndarray:
        return self.counts

    def observe(self, user: int, item: int, value: float, ts: float) -> None:
        if value >= POSITIVE:
            self.counts[item] += 1.0


class _Positives:
    """Each user's positive items in arrival order (shared by ItemKNN and ALS)."""

    def __init__(self, n_users: int) -> None:
        self.by_user: list[list[int]] = [[] for _ in range(n_users)]

    def add(self, user: int, item: int) -> list[int]:
        self.by_user[user].append(item)
        return self.by_user[user]


class ItemKNN(DenseScorer):
    """Cosine on the binary positive matrix, maintained incrementally; score = Σ sim to last ``history`` positives."""

    def __init__(self, n_users: int, n_items: int, history: int = 50) -> None:
        self.co = np.zeros((n_items, n_items), dtype=np.float64)  # co-positive counts, diagonal = item counts
        self.positives = _Positives(n_users)
        self.history = history

    def scores(self, user: int) -> np.ndarray:
        recent = self.positives.by_user[user][-self.history:]
        if not recent:
            return np.zeros(self.co.shape[0])
        norms = np.sqrt(np.diag(self.co))
        inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        rows = self.co[recent] * inv[recent, None]
        return rows.sum(axis=0) * inv

    def observe(self, user: int, item: int, value: float, ts: float) -> None:
        if value < POSITIVE:
            return
        history = self.positives.add(user, item)
        others = np.asarray(history[:-1], dtype=np.int64)
        self.co[item, others] += 1.0
        self.co[others, item] += 1.0
        self.co[item, item] += 1.0


class ALSFoldIn(DenseScorer):
    """ALS item factors refit every ``refit_every`` events; the user is folded in at request time.

    Folding in at request time from all of the user's positives is the same exact solve
    as doing it after every event, only lazier.
    """

    def __init__(self, n_users: int, n_items: int, params: ALSParams = ALSParams(), refit_every: int = 5000) -> None:
        self.params, self.refit_every = params, refit_every
        self.n_users, self.n_items = n_users, n_items
        self.positives = _Positives(n_users)
        self.pairs: list[tuple[int, int]] = []
        self.since_fit: int | None = None
        self.fold: FoldIn | None = None
        self.fits = 0

    def _refit(self) -> None:
        rows, cols = zip(*self.pairs) if self.pairs else ((), ())
        matrix = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(self.n_users, self.n_items))
        factors = fit_item_factors(matrix, self.params)
        self.fold = FoldIn.build(factors, self.params.regularization, self.params.alpha)
        self.since_fit = 0
        self.fits += 1

    def scores(self, user: int) -> np.ndarray:
        if self.since_fit is None or self.since_fit >= self.refit_every:
            self._refit()
        assert self.fold is not None
        items = np.asarray(self.positives.by_user[user], dtype=np.int64)
        return self.fold.item_factors @ self.fold.user_vector(items)

    def observe(self, user: int, item: int, value: float, ts: float) -> None:
        if self.since_fit is not None:
            self.since_fit += 1
        if value >= POSITIVE:
            self.positives.add(user, item)
            self.pairs.append((user, item))
