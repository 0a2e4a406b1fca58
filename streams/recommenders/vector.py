"""Shared search for sources that query a vector index (content, cf)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from streams.recommenders.base import EMPTY, Context, Scored, VectorSearch
from streams.state.user import UserState


def search_index(index: VectorSearch, query: np.ndarray, user: UserState, ctx: Context,
                 want: int | Sequence[str]) -> Scored:
    """Top-``want`` unseen hits (over-fetching by the seen/excluded count), or given items' scores."""
    q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
    if not isinstance(want, int):
        items = list(want)
        if not items:
            return EMPTY
        hits = index.search(q, len(items), allow=items)[0]
        return Scored({i: float(s) for i, s in hits})
    if want <= 0:
        return EMPTY
    hits = index.search(q, want + user.seen.overfetch + len(ctx.exclude))[0]
    return unseen_top(hits, user, ctx, want)


def unseen_top(hits: Sequence[tuple[str, float]], user: UserState, ctx: Context, n: int) -> Scored:
    """The first ``n`` hits the user has not seen and that are not excluded (hits are sorted)."""
    out: dict[str, float] = {}
    for item, score in hits:
        if not user.has_seen(item) and item not in ctx.exclude:
            out[item] = float(score)
            if len(out) == n:
                break
    return Scored(out)


def unit(v: np.ndarray | None) -> np.ndarray | None:
    if v is None:
        return None
    n = float(np.linalg.norm(v))
    return v / n if n > 0 and np.isfinite(n) else None
