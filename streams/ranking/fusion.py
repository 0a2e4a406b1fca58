"""Fusion: ask each weighted source for candidates, normalise, weight, filter, diversify, cut.

Every output item carries its per-source contributions (weight × normalised score), so
``score == sum(sources.values())`` and the feedback loop can credit sources for clicks.
The pool is scored as one (items × sources) array: per-item Python work stays O(sources).

:func:`fuse_many` is the whole computation over integer item keys for many lists at once
(arrays over [lists, pool, sources]; ids are looked up for the final k); :func:`fuse_keyed`
is its one-list case, :func:`fuse` runs that for any :class:`Recommender` sources through
a per-call key space, and the worker's :class:`~streams.ranking.service.Ranker` runs
:func:`fuse_many` per batch in its catalogue-wide key space (no string work per candidate).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress
from typing import Any, Protocol

import numpy as np

from index.exact import top_k_rows
from streams.ranking.config import FusionConfig
from streams.ranking.mmr import mmr
from streams.ranking.normalise import minmax_masked
from streams.recommenders.base import (Context, Found, Recommender, Scored, is_seen, score_items,
                                       seen_sorted)
from streams.state.ordering import item_hash
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
    got = {name: _filtered(sources[name].score(user, ctx, cfg.per_source), user, ctx)
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
# (source, each entry's list, each entry's key; lists ascending) -> raw scores: many lists' rescoring at once
RescoreMany = Callable[[str, np.ndarray, np.ndarray], Found]
FallbackTop = Callable[[int], "Top | None"]  # pool size -> the fallback's candidates, if used


class BatchKeys(Protocol):
    """One int key space shared by many lists (a ranking batch)."""

    def hashes(self, keys: np.ndarray) -> np.ndarray:
        """uint32 stable hash of each key's item id (any shape)."""
        ...

    def blocked(self, rows: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """True where ``keys[i]`` is seen by list ``rows[i]``'s user or excluded."""
        ...

    def ids(self, keys: np.ndarray) -> list[str]: ...


@dataclass(frozen=True)
class Ask:
    """One list's fusion inputs (see :func:`fuse_keyed`)."""

    cfg: FusionConfig
    tops: dict[str, Top]  # the positively weighted sources' candidates, in weight order
    rescore: Rescore
    fallback: FallbackTop
    vectors: VectorLookup | None = None


class _OneList:
    """A single list's :class:`Keys` as :class:`BatchKeys`."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self.hashes, self.ids = keys.hashes, keys.ids

    def blocked(self, rows: np.ndarray, keys: np.ndarray) -> np.ndarray:
        return self.keys.blocked(keys)


def fuse_keyed(cfg: FusionConfig, tops: dict[str, Top], keys: Keys, rescore: Rescore,
               fallback: FallbackTop, vectors: VectorLookup | None = None) -> list[Explained]:
    """:func:`fuse` over int keys: ``tops`` are the positively weighted sources' candidates."""
    return fuse_many([Ask(cfg, tops, rescore, fallback, vectors)], _OneList(keys))[0]


@dataclass
class _Entries:
    """Every list's candidates end to end (list by list, source by source, best first)."""

    row: np.ndarray  # which list
    col: np.ndarray  # which of its sources
    key: np.ndarray
    val: np.ndarray

    @classmethod
    def of(cls, tops: list[list[Top]]) -> "_Entries":
        parts = [(r, c, t) for r, ts in enumerate(tops) for c, t in enumerate(ts) if t.keys.size]
        if not parts:
            return cls(*(np.zeros(0, np.int64) for _ in range(3)), np.zeros(0))
        n = [t.keys.size for _, _, t in parts]
        return cls(np.repeat([r for r, _, _ in parts], n), np.repeat([c for _, c, _ in parts], n),
                   np.concatenate([t.keys for _, _, t in parts]).astype(np.int64, copy=False),
                   np.concatenate([t.vals for _, _, t in parts]).astype(np.float64, copy=False))

    def pool(self, lists: int) -> tuple[np.ndarray, np.ndarray]:
        """Each entry's slot in its list's pool (keys in order of first proposal) and the pool sizes."""
        tagged = self.row * (int(self.key.max(initial=0)) + 1) + self.key  # (list, key) as one int
        order = np.argsort(tagged, kind="stable")  # by list, then key; stable: first proposal first
        t = tagged[order]
        new = np.ones(order.size, bool)
        new[1:] = t[1:] != t[:-1]
        first = order[new]  # each (list, key)'s first position
        rank = np.empty(first.size, np.int64)
        rank[np.argsort(first)] = np.arange(first.size)  # lists are end to end: rank = list, first sight
        sizes = np.bincount(self.row[first], minlength=lists)
        slot = np.empty(order.size, np.int64)
        slot[order] = rank[np.cumsum(new) - 1]
        return slot - (np.cumsum(sizes) - sizes)[self.row], sizes


def fuse_many(asks: Sequence[Ask], keys: BatchKeys,
              rescore: RescoreMany | None = None) -> list[list[Explained]]:
    """:func:`fuse_keyed` for many lists in one key space: the pools, rescoring gaps,
    normalisation and top-k of every list as a few array operations over
    [lists, pool, sources] arrays (per list: only MMR and the output). Rescoring asks
    ``rescore`` once a source for every list's gaps (default: each list's own
    :attr:`Ask.rescore`, a call a list and source).

    The same arithmetic in the same order as one list at a time, so the lists are equal
    bit for bit: sources of a list are summed in its weight order (the padding columns add
    +0.0), and each pool keeps its first-proposed order (ties after score and hash).
    """
    if not asks:
        return []
    names = [list(a.tops) for a in asks]
    tops = [list(a.tops.values()) for a in asks]
    e = _Entries.of(tops)
    bad = keys.blocked(e.row, e.key) if e.key.size else np.zeros(0, bool)
    if bad.any():  # defence in depth: a source that forgot the seen/exclude rule cannot leak an item
        e = _Entries(e.row[~bad], e.col[~bad], e.key[~bad], e.val[~bad])
        tops = [[_kept(t, keys, r) for t in ts] for r, ts in enumerate(tops)]
    slot, asked = e.pool(len(asks))  # the fallback is not rescored, nor are the others asked about its items
    weights = [[a.cfg.weights[n] for n in ns] for a, ns in zip(asks, names)]
    extra = False
    for r, a in enumerate(asks):
        fb = a.fallback(int(asked[r]))
        if fb is not None and fb.keys.size:
            fb = _kept(fb, keys, r)
            if fb.keys.size:
                names[r], tops[r] = [*names[r], a.cfg.fallback], [*tops[r], fb]  # type: ignore[list-item]
                weights[r] = [*weights[r], a.cfg.fallback_weight]
                extra = True
    if extra:
        e = _Entries.of(tops)
        slot, sizes = e.pool(len(asks))
    else:
        sizes = asked
    shape = (len(asks), int(sizes.max()), max(map(len, names)))
    raw, present = np.zeros(shape), np.zeros(shape, bool)
    raw[e.row, slot, e.col], present[e.row, slot, e.col] = e.val, True
    pool = np.zeros(shape[:2], np.int64)
    pool[e.row, slot] = e.key
    _rescore(asks, names, tops, raw, present, pool, asked, rescore or rescore_each(asks))
    contrib = _contributions(asks, tops, weights, raw, present)
    total = contrib.sum(axis=2)
    live = np.arange(shape[1]) < sizes[:, None]
    want = [max(a.cfg.mmr_pool, a.cfg.k) if _diversify(a) else a.cfg.k for a in asks]
    _, best = top_k_rows(np.where(live, total, -np.inf), max(want), keys.hashes(pool))
    picks = [_picked(a, keys, pool[r], total[r], best[r][best[r] >= 0][:want[r]]) for r, a in enumerate(asks)]
    ids = keys.ids(np.concatenate([pool[r][t] for r, t in enumerate(picks)]))
    out, at = [], 0
    for r, t in enumerate(picks):
        ns, width = names[r], len(names[r])
        out.append([{"item_id": i, "score": s, "sources": dict(compress(zip(ns, cb), pr))}
                    for i, s, cb, pr in zip(ids[at:at + t.size], total[r][t].tolist(),
                                            contrib[r][t, :width].tolist(), present[r][t, :width].tolist())])
        at += t.size
    return out


def _kept(t: Top, keys: BatchKeys, row: int) -> Top:
    """``t`` without the keys list ``row`` may not show."""
    if t.keys.size == 0:
        return t
    bad = keys.blocked(np.full(t.keys.size, row), t.keys)
    return Top(t.keys[~bad], t.vals[~bad], t.floor) if bad.any() else t


def rescore_each(asks: Sequence[Ask]) -> RescoreMany:
    """A :data:`RescoreMany` made of each list's :attr:`Ask.rescore`."""
    def rescore(name: str, lists: np.ndarray, keys: np.ndarray) -> Found:
        found, vals = np.zeros(keys.size, bool), np.zeros(keys.size)
        starts = np.flatnonzero(np.r_[True, lists[1:] != lists[:-1]])
        for lo, hi in zip(starts.tolist(), [*starts[1:].tolist(), keys.size]):
            found[lo:hi], vals[lo:hi] = asks[int(lists[lo])].rescore(name, keys[lo:hi])
        return found, vals
    return rescore


def _rescore(asks: Sequence[Ask], names: list[list[str]], tops: list[list[Top]], raw: np.ndarray,
             present: np.ndarray, pool: np.ndarray, asked: np.ndarray, rescore: RescoreMany) -> None:
    """Every source's opinion of the others' candidates, in place: per source, the gaps of
    every list that weights it (its own candidates, before any fallback) in one call."""
    gaps: dict[str, list[tuple[int, int]]] = {}  # source -> (list, its column there)
    for r, a in enumerate(asks):
        if a.cfg.rescore and len(a.tops) > 1:
            for c in range(len(a.tops)):
                if tops[r][c].keys.size:
                    gaps.setdefault(names[r][c], []).append((r, c))
    asked_slots = np.arange(raw.shape[1]) < asked[:, None]  # the fallback's are not rescored
    for name, where in gaps.items():
        rows, cols = (np.array(x) for x in zip(*where))
        at, slot = np.nonzero(~present[rows, :, cols] & asked_slots[rows])  # lists ascending
        if at.size:
            r, c = rows[at], cols[at]
            found, vals = rescore(name, r, pool[r, slot])
            raw[r[found], slot[found], c[found]] = vals[found]
            present[r[found], slot[found], c[found]] = True


def _contributions(asks: Sequence[Ask], tops: list[list[Top]], weights: list[list[float]],
                   raw: np.ndarray, present: np.ndarray) -> np.ndarray:
    """weight × normalised raw score where the source has one, else 0 ([lists, pool, sources]).

    Min-max (:func:`minmax_masked`) per (list, source) over the scores present, or the
    raw scores where the list's config says ``normalise: none``.
    """
    lists, _, width = raw.shape
    w = np.zeros((lists, width))
    floor = np.full((lists, width), np.nan)
    minmax = np.array([a.cfg.normalise == "minmax" for a in asks])
    for r, ts in enumerate(tops):
        w[r, : len(ts)] = weights[r]
        floor[r, : len(ts)] = [np.nan if t.floor is None else t.floor for t in ts]
    norm = minmax_masked(raw, present, floor)
    norm = np.where(minmax[:, None, None], norm, raw)
    return np.where(present, w[:, None, :] * norm, 0.0)


def _diversify(a: Ask) -> bool:
    return a.cfg.mmr_lambda < 1.0 and a.vectors is not None


def _picked(a: Ask, keys: BatchKeys, pool: np.ndarray, total: np.ndarray, top: np.ndarray) -> np.ndarray:
    """The list's final pool slots: its top-k, or MMR's pick among its best ``mmr_pool``."""
    if _diversify(a) and top.size > 1:
        cand = keys.ids(pool[top])
        vectors = a.vectors(cand)  # type: ignore[misc]
        picked = mmr(cand, dict(zip(cand, total[top].tolist())), vectors, a.cfg.k, a.cfg.mmr_lambda)
        at = dict(zip(cand, top.tolist()))
        top = np.array([at[i] for i in picked], dtype=np.int64)
    return top[: a.cfg.k]


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
    tops = {name: local.top(sources[name].score(user, ctx, cfg.per_source))
            for name, w in cfg.weights.items() if w > 0 and name in sources}

    def rescore(name: str, keys: np.ndarray) -> Found:
        return score_items(sources[name], user, ctx, local.ids(keys))

    def fallback(have: int) -> Top | None:
        fb = _fallback(user, ctx, sources, cfg, have)
        return None if fb is None else local.top(fb)

    return fuse_keyed(cfg, tops, local, rescore, fallback, vectors)
