"""Fusion: ask each weighted source for candidates, normalise, weight, filter, diversify, cut.

Every output item carries its per-source contributions (weight × normalised score), so
``score == sum(sources.values())`` and the feedback loop can credit sources for clicks.
The pool is scored as one (items × sources) array: per-item Python work stays O(sources).

:func:`fuse_keyed` is the whole computation over integer item keys (arrays only; ids are
looked up for the final k); :func:`fuse` runs it for any :class:`Recommender` sources
through a per-call key space, and the worker's :class:`~streams.ranking.service.Ranker`
runs it directly in its catalogue-wide key space (no string work per candidate).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from streams.ranking.config import FusionConfig
from streams.ranking.mmr import mmr
from streams.ranking.normalise import normalise_values
from streams.recommenders.base import Context, Found, Recommender, Scored, is_seen, score_items, seen_sorted
from streams.state.ordering import item_hash, top_k_indices
from streams.state.user import UserState

VectorLookup = Callable[[Sequence[str]], Mapping[str, np.ndarray]]
Explained = dict[str, Any]  # {"item_id", "score", "sources": {name: contribution}}


def _filtered(s: Scored, user: UserState, ctx: Context) -> Scored:
    """Defence in depth: a source that forgot the seen/exclude rule cannot leak an item."""
    return Scored({i: v for i, v in s.items.items() if not user.has_seen(i) and i not in ctx.exclude},
                  s.floor)


def gather(user: UserState, ctx: Context, sources: Mapping[str, Recommender],
           cfg: FusionConfig) -> dict[str, Scored]:
    """Each positively weighted source's candidates, then (rescore) its view of everyone's."""
    got = {name: _filtered(sources[name].score(user, ctx, cfg.candidates), user, ctx)
           for name, w in cfg.weights.items() if w > 0 and name in sources}
    if cfg.rescore and len(got) > 1:
        pool = dict.fromkeys(i for s in got.values() for i in s.items)
        for name, s in got.items():
            missing = [i for i in pool if i not in s.items]
            if s.items and missing:
                extra = sources[name].score(user, ctx, missing).items
                got[name] = Scored({**s.items, **extra}, s.floor)
    return got


def _fallback(user: UserState, ctx: Context, sources: Mapping[str, Recommender],
              cfg: FusionConfig, have: int) -> Scored | None:
    fb = cfg.fallback
    if have >= cfg.k or fb is None or fb not in sources or cfg.weights.get(fb, 0) > 0:
        return None
    return _filtered(sources[fb].score(user, ctx, cfg.k + have), user, ctx)


@dataclass(frozen=True)
class Top:
    """One source's candidates in an int key space: keys, raw scores (best first), floor."""

    keys: np.ndarray  # int64
    vals: np.ndarray  # float64
    floor: float | None = None


NO_TOP = Top(np.zeros(0, np.int64), np.zeros(0))


class Keys(Protocol):
    """An int key space for one user's request."""

    def hashes(self, keys: np.ndarray) -> np.ndarray:
        """uint32 stable hash of each key's item id (the tie-break)."""
        ...

    def blocked(self, keys: np.ndarray) -> np.ndarray:
        """True where the item is seen by the user or excluded by the context."""
        ...

    def ids(self, keys: np.ndarray) -> list[str]: ...


Rescore = Callable[[str, np.ndarray], Found]  # (source, keys) -> that source's raw scores
FallbackTop = Callable[[int], "Top | None"]  # pool size -> the fallback's candidates, if used


def unblocked(t: Top, keys: Keys) -> Top:
    """Defence in depth: a source that forgot the seen/exclude rule cannot leak an item."""
    if t.keys.size == 0:
        return t
    bad = keys.blocked(t.keys)
    return Top(t.keys[~bad], t.vals[~bad], t.floor) if bad.any() else t


def fuse_keyed(cfg: FusionConfig, tops: dict[str, Top], keys: Keys, rescore: Rescore,
               fallback: FallbackTop, vectors: VectorLookup | None = None) -> list[Explained]:
    """:func:`fuse` over int keys: ``tops`` are the positively weighted sources' candidates."""
    tops = {n: unblocked(t, keys) for n, t in tops.items()}
    weights = {n: cfg.weights[n] for n in tops}
    cat = np.concatenate([t.keys for t in tops.values()]) if tops else np.zeros(0, np.int64)
    _, first = np.unique(cat, return_index=True)
    pool = cat[np.sort(first)]  # first-proposed first
    rescored = len(tops) if cfg.rescore and len(tops) > 1 else 0  # the fallback is not rescored
    asked = pool.size  # nor are the others asked about its items
    fb = fallback(asked)
    if fb is not None:
        fb = unblocked(fb, keys)
        if fb.keys.size:
            tops[cfg.fallback] = fb  # type: ignore[index]
            weights[cfg.fallback] = cfg.fallback_weight  # type: ignore[index]
            pool = np.concatenate([pool, fb.keys[~np.isin(fb.keys, pool)]])
    if pool.size == 0:
        return []
    order = np.argsort(pool)
    ordered = pool[order]
    names = list(tops)
    m = pool.size
    raw = np.zeros((m, len(names)))
    present = np.zeros((m, len(names)), dtype=bool)
    for c, name in enumerate(names):
        t = tops[name]
        if t.keys.size == 0:
            continue
        rows = order[np.searchsorted(ordered, t.keys)]
        raw[rows, c] = t.vals
        present[rows, c] = True
        if c < rescored:
            miss = np.flatnonzero(~present[:asked, c])
            if miss.size:  # every source's opinion of the others' candidates, as one array call
                found, vals = rescore(name, pool[miss])
                raw[miss[found], c] = vals[found]
                present[miss[found], c] = True
    contrib = np.zeros((m, len(names)))
    for c, name in enumerate(names):
        has = present[:, c]
        if has.any():
            contrib[has, c] = weights[name] * normalise_values(raw[has, c], tops[name].floor, cfg.normalise)
    total = contrib.sum(axis=1)
    diversify = cfg.mmr_lambda < 1.0 and vectors is not None
    top = top_k_indices(total, keys.hashes(pool), max(cfg.mmr_pool, cfg.k) if diversify else cfg.k)
    if diversify and top.size > 1:
        cand = keys.ids(pool[top])
        picked = mmr(cand, dict(zip(cand, total[top].tolist())), vectors(cand), cfg.k, cfg.mmr_lambda)  # type: ignore[misc]
        at = dict(zip(cand, top.tolist()))
        top = np.array([at[i] for i in picked], dtype=np.int64)
    top = top[: cfg.k]
    cols = list(enumerate(names))
    return [{"item_id": i, "score": s, "sources": {n: cb[c] for c, n in cols if pr[c]}}
            for i, s, cb, pr in zip(keys.ids(pool[top]), total[top].tolist(), contrib[top].tolist(),
                                    present[top].tolist())]


class _Local:
    """The ids met in one :func:`fuse` call, keyed 0, 1, … in order of first sight."""

    def __init__(self, user: UserState, ctx: Context) -> None:
        self.user, self.ctx = user, ctx
        self.index: dict[str, int] = {}
        self.names: list[str] = []
        self._hash: list[int] = []
        self._seen: np.ndarray | None = None

    def add(self, item: str) -> int:
        k = self.index.get(item)
        if k is None:
            k = self.index[item] = len(self.names)
            self.names.append(item)
            self._hash.append(item_hash(item))
        return k

    def top(self, s: Scored) -> Top:
        n = len(s.items)
        return Top(np.fromiter(map(self.add, s.items), dtype=np.int64, count=n),
                   np.fromiter(s.items.values(), dtype=np.float64, count=n), s.floor)

    def hashes(self, keys: np.ndarray) -> np.ndarray:
        return np.array(self._hash, dtype=np.uint32)[keys]

    def blocked(self, keys: np.ndarray) -> np.ndarray:
        bad = np.zeros(keys.size, bool)
        if self.user.seen:
            if self._seen is None:
                self._seen = seen_sorted(self.user)
            bad |= is_seen(self.hashes(keys), self._seen)
        if self.ctx.exclude:
            names, ex = self.names, self.ctx.exclude
            bad |= np.fromiter((names[k] in ex for k in keys.tolist()), dtype=bool, count=keys.size)
        return bad

    def ids(self, keys: np.ndarray) -> list[str]:
        names = self.names
        return [names[k] for k in keys.tolist()]


def fuse(user: UserState, ctx: Context, sources: Mapping[str, Recommender], cfg: FusionConfig,
         vectors: VectorLookup | None = None) -> list[Explained]:
    """The user's top-k list with explanations; never raises for missing signal (may be [])."""
    local = _Local(user, ctx)
    tops = {name: local.top(sources[name].score(user, ctx, cfg.candidates))
            for name, w in cfg.weights.items() if w > 0 and name in sources}

    def rescore(name: str, keys: np.ndarray) -> Found:
        return score_items(sources[name], user, ctx, local.ids(keys))

    def fallback(have: int) -> Top | None:
        fb = _fallback(user, ctx, sources, cfg, have)
        return None if fb is None else local.top(fb)

    return fuse_keyed(cfg, tops, local, rescore, fallback, vectors)
