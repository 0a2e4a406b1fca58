"""Items related to the user's recent positives: ItemKNN co-occurrence and transitions.

The history is the user's last ``history`` positives, newest first, each weighted by its
positive weight × ``decay``^position. Weighting by position beat weighting by elapsed time
in the prototype (0.171 → 0.187 HR@10 for ItemKNN with 0.85 over the last ~20), and it
needs no clock, so replays and live traffic agree.
"""
from __future__ import annotations

from typing import Literal

import numpy as np

from streams.recommenders.base import Context, RecommenderError
from streams.recommenders.dense import DenseSource
from streams.recommenders.registry import register
from streams.state.items import ItemStats
from streams.state.user import UserState


class SessionRecommender(DenseSource):
    """score(c) = Σ_pos decay^pos · w_h · sim(h, c), sim = cosine of pair counts (or raw)."""

    def __init__(self, stats: ItemStats, history: int = 20, decay: float = 0.85,
                 signal: Literal["cooc", "transitions"] = "cooc",
                 normalise: Literal["cosine", "none"] = "cosine", name: str = "session") -> None:
        super().__init__(stats)
        if signal not in ("cooc", "transitions") or normalise not in ("cosine", "none"):
            raise RecommenderError(f"bad signal/normalise: {signal!r}/{normalise!r}")
        if history < 1 or not 0 < decay <= 1:
            raise RecommenderError(f"need history >= 1 and 0 < decay <= 1, got {history}, {decay}")
        self.name, self.history, self.decay = name, history, decay
        self.signal, self.normalise = signal, normalise

    def dense(self, user: UserState, ctx: Context) -> np.ndarray | None:
        hist = user.recent_positives(self.history)
        n = self.stats.n_items
        if not hist or n == 0:
            return None
        pairs = self.stats.cooc if self.signal == "cooc" else self.stats.transitions
        counts = self.stats.user_counts()
        cosine = self.normalise == "cosine"
        keys_at, vals_at = [], []
        for pos, (item, w) in enumerate(hist):
            i = self.stats.ids.get(item)
            if i is None:
                continue
            keys, vals = pairs.row(i)
            if keys.size == 0:
                continue
            coef = w * self.decay ** pos
            keys_at.append(keys)
            vals_at.append((coef / np.sqrt(counts[i]) if cosine else coef) * vals)
        if not keys_at:
            return np.zeros(n, dtype=np.float64)
        # one scatter-add, in history order (the same sums as adding row after row)
        acc = np.bincount(np.concatenate(keys_at), np.concatenate(vals_at), minlength=n)
        if cosine:
            nz = counts > 0
            acc[nz] /= np.sqrt(counts[nz])
        return acc


@register("session")
def session(stats: ItemStats, history: int = 20, decay: float = 0.85,
            normalise: Literal["cosine", "none"] = "cosine") -> SessionRecommender:
    return SessionRecommender(stats, history, decay, "cooc", normalise, name="session")


@register("transitions")
def transitions(stats: ItemStats, history: int = 5, decay: float = 0.85,
                normalise: Literal["cosine", "none"] = "cosine") -> SessionRecommender:
    return SessionRecommender(stats, history, decay, "transitions", normalise, name="transitions")
