"""Fusion: ask each weighted source for candidates, normalise, weight, filter, diversify, cut.

Every output item carries its per-source contributions (weight × normalised score), so
``score == sum(sources.values())`` and the feedback loop can credit sources for clicks.
The pool is scored as one (items × sources) array: per-item Python work stays O(sources).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from streams.ranking.config import FusionConfig
from streams.ranking.mmr import mmr
from streams.ranking.normalise import normalise_values
from streams.recommenders.base import Context, Recommender, Scored, score_items, seen_hashes
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


def _pool(user: UserState, ctx: Context, tops: dict[str, Scored]) -> tuple[list[str], np.ndarray]:
    """The candidates of every source, first-proposed first, minus seen/excluded items.

    Filters the union once (one ``isin`` over stable hashes) rather than every source's
    list item by item; a source that leaked a filtered item loses it from its own list
    too, exactly as :func:`_filtered` would have done. Returns (pool, pool hashes).
    """
    pool = list(dict.fromkeys(i for s in tops.values() for i in s.items))
    hashes = np.fromiter(map(item_hash, pool), dtype=np.uint32, count=len(pool))
    bad = np.isin(hashes, seen_hashes(user)) if user.seen and pool else np.zeros(len(pool), bool)
    if ctx.exclude and pool:
        bad |= np.fromiter((i in ctx.exclude for i in pool), dtype=bool, count=len(pool))
    if bad.any():
        drop = {pool[r] for r in np.flatnonzero(bad).tolist()}
        for name, s in tops.items():
            if not drop.isdisjoint(s.items):
                tops[name] = Scored({i: v for i, v in s.items.items() if i not in drop}, s.floor)
        keep = ~bad
        pool = [i for i, k in zip(pool, keep.tolist()) if k]
        hashes = hashes[keep]
    return pool, hashes


def fuse(user: UserState, ctx: Context, sources: Mapping[str, Recommender], cfg: FusionConfig,
         vectors: VectorLookup | None = None) -> list[Explained]:
    """The user's top-k list with explanations; never raises for missing signal (may be [])."""
    tops = {name: sources[name].score(user, ctx, cfg.candidates)
            for name, w in cfg.weights.items() if w > 0 and name in sources}
    weights = {n: cfg.weights[n] for n in tops}
    pool, hashes = _pool(user, ctx, tops)
    rescored = len(tops) if cfg.rescore and len(tops) > 1 else 0  # the fallback is not rescored
    asked = len(pool)  # nor are the others asked about its items
    fb = _fallback(user, ctx, sources, cfg, asked)
    if fb is not None and fb.items:
        tops[cfg.fallback] = fb  # type: ignore[index]
        weights[cfg.fallback] = cfg.fallback_weight  # type: ignore[index]
        have = set(pool)
        new = [i for i in fb.items if i not in have]
        pool += new
        hashes = np.concatenate([hashes, np.fromiter(map(item_hash, new), np.uint32, len(new))])
    if not pool:
        return []
    row = {i: n for n, i in enumerate(pool)}
    names = list(tops)
    m = len(pool)
    raw = np.zeros((m, len(names)))
    present = np.zeros((m, len(names)), dtype=bool)
    for c, name in enumerate(names):
        s = tops[name]
        if not s.items:
            continue
        rows = np.fromiter((row[i] for i in s.items), dtype=np.int64, count=len(s.items))
        raw[rows, c] = np.fromiter(s.items.values(), dtype=np.float64, count=len(s.items))
        present[rows, c] = True
        if c < rescored:
            miss = np.flatnonzero(~present[:asked, c])
            if miss.size:  # every source's opinion of the others' candidates, as one array call
                found, vals = score_items(sources[name], user, ctx, [pool[r] for r in miss.tolist()])
                raw[miss[found], c] = vals[found]
                present[miss[found], c] = True
    contrib = np.zeros((m, len(names)))
    for c, name in enumerate(names):
        has = present[:, c]
        if has.any():
            contrib[has, c] = weights[name] * normalise_values(raw[has, c], tops[name].floor, cfg.normalise)
    total = contrib.sum(axis=1)
    diversify = cfg.mmr_lambda < 1.0 and vectors is not None
    top = top_k_indices(total, hashes, max(cfg.mmr_pool, cfg.k) if diversify else cfg.k).tolist()
    if diversify and len(top) > 1:
        cand = [pool[r] for r in top]
        picked = mmr(cand, dict(zip(cand, total[top].tolist())), vectors(cand), cfg.k, cfg.mmr_lambda)
        top = [row[i] for i in picked]
    return [{"item_id": pool[r], "score": float(total[r]),
             "sources": {names[c]: float(contrib[r, c]) for c in np.flatnonzero(present[r])}}
            for r in top[: cfg.k]]
