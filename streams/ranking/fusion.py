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
from streams.ranking.normalise import normalise_array
from streams.recommenders.base import Context, Recommender, Scored
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


def fuse(user: UserState, ctx: Context, sources: Mapping[str, Recommender], cfg: FusionConfig,
         vectors: VectorLookup | None = None) -> list[Explained]:
    """The user's top-k list with explanations; never raises for missing signal (may be [])."""
    scored = gather(user, ctx, sources, cfg)
    weights = {n: cfg.weights[n] for n in scored}
    pool = dict.fromkeys(i for s in scored.values() for i in s.items)
    fb = _fallback(user, ctx, sources, cfg, len(pool))
    if fb is not None and fb.items:
        scored[cfg.fallback] = fb  # type: ignore[index]
        weights[cfg.fallback] = cfg.fallback_weight  # type: ignore[index]
        pool.update(dict.fromkeys(fb.items))
    if not pool:
        return []
    row = {i: n for n, i in enumerate(pool)}
    names = list(scored)
    contrib = np.zeros((len(pool), len(names)))
    present = np.zeros((len(pool), len(names)), dtype=bool)
    for c, name in enumerate(names):
        rows = np.fromiter((row[i] for i in scored[name].items), dtype=np.int64, count=len(scored[name]))
        contrib[rows, c] = weights[name] * normalise_array(scored[name], cfg.normalise)
        present[rows, c] = True
    total = contrib.sum(axis=1)
    items = list(pool)
    hashes = np.fromiter((item_hash(i) for i in items), dtype=np.uint32, count=len(items))
    diversify = cfg.mmr_lambda < 1.0 and vectors is not None
    top = top_k_indices(total, hashes, max(cfg.mmr_pool, cfg.k) if diversify else cfg.k).tolist()
    if diversify and len(top) > 1:
        cand = [items[r] for r in top]
        picked = mmr(cand, dict(zip(cand, total[top].tolist())), vectors(cand), cfg.k, cfg.mmr_lambda)
        top = [row[i] for i in picked]
    return [{"item_id": items[r], "score": float(total[r]),
             "sources": {names[c]: float(contrib[r, c]) for c in np.flatnonzero(present[r])}}
            for r in top[: cfg.k]]
