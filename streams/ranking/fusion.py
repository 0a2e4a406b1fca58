"""Fusion: ask each weighted source for candidates, normalise, weight, filter, diversify, cut.

Every output item carries its per-source contributions (weight × normalised score), so
``score == sum(sources.values())`` and the feedback loop can credit sources for clicks.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from streams.ranking.config import FusionConfig
from streams.ranking.mmr import mmr
from streams.ranking.normalise import normalise
from streams.recommenders.base import Context, Recommender, Scored
from streams.state.ordering import sort_scored
from streams.state.user import UserState

VectorLookup = Callable[[Sequence[str]], Mapping[str, np.ndarray]]
Explained = dict[str, Any]  # {"item_id", "score", "sources": {name: contribution}}


def _allowed(user: UserState, ctx: Context) -> Callable[[str], bool]:
    return lambda i: not user.has_seen(i) and i not in ctx.exclude


def gather(user: UserState, ctx: Context, sources: Mapping[str, Recommender],
           cfg: FusionConfig) -> dict[str, Scored]:
    """Each positively weighted source's candidates, then (rescore) its view of everyone's."""
    ok = _allowed(user, ctx)
    got: dict[str, Scored] = {}
    for name, w in cfg.weights.items():
        src = sources.get(name)
        if w > 0 and src is not None:
            s = src.score(user, ctx, cfg.candidates)
            got[name] = Scored({i: v for i, v in s.items.items() if ok(i)}, s.floor)
    if cfg.rescore and len(got) > 1:
        pool = set().union(*(s.items for s in got.values()))
        for name, s in got.items():
            missing = sorted(pool.difference(s.items))  # sorted: the same request, the same calls
            if s.items and missing:
                extra = sources[name].score(user, ctx, missing).items
                got[name] = Scored({**s.items, **extra}, s.floor)
    return got


def combine(scored: Mapping[str, Scored], weights: Mapping[str, float], how: str
            ) -> dict[str, dict[str, float]]:
    """item → {source: weight × normalised score} over every candidate."""
    out: dict[str, dict[str, float]] = {}
    for name, s in scored.items():
        w = weights[name]
        for item, v in normalise(s, how).items():
            out.setdefault(item, {})[name] = w * v
    return out


def fuse(user: UserState, ctx: Context, sources: Mapping[str, Recommender], cfg: FusionConfig,
         vectors: VectorLookup | None = None) -> list[Explained]:
    """The user's top-k list with explanations; never raises for missing signal (may be [])."""
    contrib = combine(gather(user, ctx, sources, cfg), cfg.weights, cfg.normalise)
    fb = cfg.fallback
    if len(contrib) < cfg.k and fb is not None and fb in sources and cfg.weights.get(fb, 0) <= 0:
        s = sources[fb].score(user, ctx, cfg.k + len(contrib))
        ok = _allowed(user, ctx)
        s = Scored({i: v for i, v in s.items.items() if ok(i)}, s.floor)
        for item, part in combine({fb: s}, {fb: cfg.fallback_weight}, cfg.normalise).items():
            contrib.setdefault(item, {})[fb] = part[fb]
    total = {i: sum(p.values()) for i, p in contrib.items()}
    ranked = [i for i, _ in sort_scored(total)]
    if cfg.mmr_lambda < 1.0 and vectors is not None and len(ranked) > 1:
        pool = ranked[: max(cfg.mmr_pool, cfg.k)]
        ranked = mmr(pool, total, vectors(pool), cfg.k, cfg.mmr_lambda)
    return [{"item_id": i, "score": total[i], "sources": contrib[i]} for i in ranked[: cfg.k]]
