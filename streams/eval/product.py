"""Drive the product's own state, recommenders and fusion over a replay, without Kafka.

Nothing here re-implements product logic: user state goes through
``streams.state.user.apply_event``, item statistics through ``ItemStats.update``, lists
through ``streams.ranking.fuse``. What the live system gets from topics is supplied
directly: item text vectors (the encoder's output), a flat in-memory vector index,
and CF item factors refit every ``refit_every`` events by :mod:`streams.training`.
Items no event has touched yet are excluded, as the baselines' candidate rule requires.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from streams.eval.content import text_vectors
from streams.eval.protocol import POSITIVE, Events, Recommendation
from streams.ranking import FusionConfig, fuse
from streams.recommenders import Context, create
from streams.schemas import Interaction
from streams.state.foldin import CFModel as FoldInModel
from streams.state.items import ItemStats, ItemStatsParams
from streams.state.ordering import item_hash
from streams.state.user import UserParams, UserState, apply_event
from streams.training.trainer import TrainConfig, fit_model

SOURCES = ("session", "transitions", "content", "cf", "popular")


def default_weights() -> dict[str, float]:
    """The product's shipped defaults (the prototype's best)."""
    from streams.ranking import DEFAULT_WEIGHTS

    return dict(DEFAULT_WEIGHTS)


class FlatIndex:
    """Exact inner-product search over a fixed matrix (what the FAISS replica answers live)."""

    def __init__(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        self.ids = list(ids)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.row = {i: n for n, i in enumerate(self.ids)}
        self.hashes = np.array([item_hash(i) for i in self.ids], dtype=np.uint32)

    def search(self, query: np.ndarray, k: int, allow: Any = None, deny: Any = None) -> list[list[tuple[str, float]]]:
        out = []
        for q in np.atleast_2d(np.asarray(query, dtype=np.float32)):
            if allow is None:
                rows, scores = None, self.vectors @ q
            else:
                rows = np.fromiter((self.row[i] for i in allow if i in self.row), dtype=np.int64)
                scores = self.vectors[rows] @ q
            top = self._top(scores, self.hashes if rows is None else self.hashes[rows], k)
            ids = top if rows is None else rows[top]
            out.append([(self.ids[r], float(scores[t])) for r, t in zip(ids.tolist(), top.tolist())])
        return out

    @staticmethod
    def _top(scores: np.ndarray, hashes: np.ndarray, k: int) -> np.ndarray:
        """Positions of the k best scores, ties by stable hash (exact at the cut)."""
        n = scores.shape[0]
        if k < n:
            cut = np.partition(scores, n - k)[n - k]
            keep = np.flatnonzero(scores >= cut)
        else:
            keep = np.arange(n)
        order = np.lexsort((hashes[keep], -scores[keep]))
        return keep[order[:k]]


class ProductReplay:
    """A :class:`~streams.eval.protocol.Scorer` backed by the product code."""

    def __init__(self, events: Events, items: Sequence[Mapping], weights: Mapping[str, float],
                 extra: Mapping[str, float] | None = None, refit_every: int = 5000,
                 vectors: np.ndarray | None = None) -> None:
        self.ids = [str(i) for i in events.item_ids.tolist()]
        self.user_ids = [str(u) for u in events.user_ids.tolist()]
        self.pos = {i: n for n, i in enumerate(self.ids)}
        by_id = {str(e["item_id"]): e for e in items}
        self.vectors = text_vectors([by_id[i] for i in self.ids]) if vectors is None else vectors
        known = np.abs(self.vectors).sum(axis=1) > 0
        mean = self.vectors[known].mean(axis=0) if known.any() else None
        self.stats = ItemStats(ItemStatsParams())
        self.params = UserParams()
        self.users: dict[int, UserState] = {}
        self.cf: FoldInModel | None = None
        self.sources = {
            "session": create("session", stats=self.stats),
            "transitions": create("transitions", stats=self.stats),
            "content": create("content", index=FlatIndex(self.ids, self.vectors), mean=lambda: mean),
            "cf": create("cf", model=lambda: self.cf),
            "popular": create("popular", stats=self.stats),
        }
        self.config = FusionConfig(weights=dict(weights), k=20, **dict(extra or {}))
        self.unseen: set[str] = set(self.ids)
        self.pairs: list[tuple[str, str]] = []
        self.refit_every, self.since_fit = refit_every, None
        self.now = 0.0
        self.refits = 0

    def _refit(self) -> None:
        model = fit_model(list(dict.fromkeys(self.pairs)), TrainConfig())
        self.cf = FoldInModel.from_model(model)
        self.since_fit, self.refits = 0, self.refits + 1

    def state(self, user: int) -> UserState:
        return self.users.get(user) or UserState(self.user_ids[user])

    def context(self) -> Context:
        if self.since_fit is None or self.since_fit >= self.refit_every:
            self._refit()
        return Context(now=self.now, exclude=frozenset(self.unseen))

    def recommend(self, user: int, candidates: np.ndarray, k: int) -> Recommendation:
        ranked = fuse(self.state(user), self.context(), self.sources, self.config)
        items = np.array([self.pos[e["item_id"]] for e in ranked], dtype=np.int64)
        keep = candidates[items] if items.size else np.zeros(0, bool)
        explained = [e["sources"] for e, ok in zip(ranked, keep) if ok]
        return Recommendation(items[keep][:k], explained[:k])

    def observe(self, user: int, item: int, value: float, ts: float) -> None:
        item_id, user_id = self.ids[item], self.user_ids[user]
        event = Interaction(f"{user_id}-{item_id}", "rating", user_id, item_id, ts, value)
        self.stats.update(event)
        self.users[user] = apply_event(self.state(user), event, self.vectors[item], self.params)
        self.unseen.discard(item_id)
        if value >= POSITIVE:
            self.pairs.append((user_id, item_id))
        if self.since_fit is not None:
            self.since_fit += 1
        self.now = max(self.now, ts)
