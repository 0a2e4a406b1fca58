"""Build recommendation lists for a batch of users: config + variant, batched search, fusion.

The glue between a worker's live parts (item statistics, the FAISS indexes, the current
CF model, the control fold) and the pure :func:`streams.ranking.fuse`. No Faust and no
Kafka here, so the same code serves the ranking agent, the ``requests`` agent, the web
view and the benchmark. One :meth:`Ranker.rank` call makes one FAISS search call for the
content candidates of every user in the batch and one for the CF candidates (each user
over-fetching by its own seen count), answered as label arrays that map to item keys by
one gather (:class:`~streams.ranking.keys.LabelKeys`). Session and transitions score
a chunk of users as rows of one array and cut every row's top candidates with one top-k.
Fusion then runs over :class:`ItemKeys` (one int per item id) for the whole chunk at
once (:func:`~streams.ranking.fusion.fuse_many`): per list remain only the rescoring
calls (array gathers, the pair kernel) and the output, and ids are looked up for the final
k only. Lists are the same as :func:`streams.ranking.fuse` over the per-user sources
would give (``tests/unit/test_ranking_service.py`` checks that).
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from index.exact import top_k_rows
from streams.control import DEFAULT_SCENARIO, ConfigVersion
from streams.feedback.variants import variant_config
from streams.ranking.config import FusionConfig
from streams.ranking.fusion import (NO_TOP, Ask, Explained, RescoreMany, Top, fuse_keyed, fuse_many,
                                    rescore_each)
from streams.ranking.indexes import CFIndex, ContentIndex
from streams.ranking.keys import ItemKeys, LabelKeys
from streams.ranking.sources import SharedPopular, top_valid_rows
from streams.recommenders import create
from streams.recommenders.base import Context, Found, gather_rows, in_sorted, is_seen, seen_sorted
from streams.recommenders.session import SessionRecommender
from streams.recommenders.vector import unit
from streams.state.foldin import CFModel, fold_in
from streams.state.seen import fingerprints
from streams.state.items import ItemStats
from streams.state.user import UserState

ConfigFn = Callable[[str | None], ConfigVersion]
ModelFn = Callable[[], CFModel | None]
FIELDS = set(FusionConfig.model_fields)
DENSE_FLOATS = 1 << 22  # session/transitions scores held per chunk of users (32 MiB a source)


@dataclass(frozen=True)
class Job:
    """One list to make: after a state change (trigger) or on request."""

    user_id: str
    state: UserState | None = None
    scenario: str | None = None
    trigger_event_id: str | None = None
    request_id: str | None = None
    k: int | None = None
    trigger_ts: float | None = None  # the trigger's Kafka timestamp (s), for the freshness metric


@dataclass
class Plan:
    job: Job
    user: UserState
    cv: ConfigVersion
    variant: str
    cfg: FusionConfig
    content_q: np.ndarray | None = None
    cf_u: np.ndarray | None = None
    tops: dict[str, Top] = field(default_factory=dict)  # candidates of the batched sources
    seen: np.ndarray | None = None  # the user's seen fingerprints, sorted (None: none seen)
    have: set[str] = field(default_factory=set)  # sources with signal for this user
    dense: dict[str, np.ndarray] = field(default_factory=dict)  # session/transitions scores


def fetch_sizes(plans: Sequence[Plan], n_items: int) -> np.ndarray:
    """Hits to fetch per plan: its candidates plus its seen over-fetch, rounded up to 64
    (few distinct sizes, little over-fetch), at most the index size."""
    need = np.array([p.cfg.per_source + p.user.seen.overfetch for p in plans])
    return np.minimum(-(-need // 64) * 64, n_items)


class Ranker:
    """Makes wire-ready lists; every list carries the config version and variant that made it."""

    def __init__(self, stats: ItemStats, content: ContentIndex, cf: CFIndex, model: ModelFn,
                 configs: ConfigFn) -> None:
        self.stats, self.content, self.cf, self.model, self.configs = stats, content, cf, model, configs
        self.session = create("session", stats=stats)
        self.transitions = create("transitions", stats=stats)
        self.popular = SharedPopular(stats)
        self.keys = ItemKeys(stats, content, cf)
        self.labels = {"content": LabelKeys(self.keys), "cf": LabelKeys(self.keys)}
        self._cfgs: dict[tuple[str, int, str, int | None], FusionConfig] = {}
        self._hash_order = np.zeros(0, np.int64)  # ItemStats rows by stable hash (seen lookups)

    # --- config -------------------------------------------------------------------------
    def _config(self, job: Job) -> tuple[ConfigVersion, str, FusionConfig]:
        cv = self.configs(job.scenario or DEFAULT_SCENARIO)
        variant, eff = variant_config(cv.config, job.user_id)
        key = (cv.scenario, cv.version, variant, job.k)
        cfg = self._cfgs.get(key)
        if cfg is None:
            cfg = FusionConfig.parse({k: v for k, v in eff.items() if k in FIELDS})
            if job.k is not None:
                cfg = cfg.model_copy(update={"k": job.k})
            if len(self._cfgs) > 1024:
                self._cfgs.clear()
            self._cfgs[key] = cfg
        return cv, variant, cfg

    # --- batch --------------------------------------------------------------------------
    def rank(self, jobs: Sequence[Job], now: float | None = None) -> list[dict[str, Any]]:
        """One list per job, in order."""
        now = time.time() if now is None else now
        gone = self.content.sync()
        model = self.model()
        self.cf.refresh(model, self.content.deleted)
        self.cf.delete(gone)
        self.keys.sync()
        self.popular.prepare(now)
        plans = [self._plan(j, model) for j in jobs]
        self._search("content", self.content.index, [(p, p.content_q) for p in plans])
        self._search("cf", self.cf.index, [(p, p.cf_u) for p in plans])
        ctx = Context(now=now, exclude=frozenset(self.content.deleted))
        out = []
        step = max(1, DENSE_FLOATS // max(self.stats.n_items, 1))  # bounds the dense arrays' memory
        for at in range(0, len(plans), step):
            chunk = plans[at:at + step]
            for name in ("session", "transitions"):
                self._dense(name, chunk, ctx)
            out.extend(self._fuse(chunk, ctx))
            for p in chunk:
                p.dense.clear()
        return out

    def _plan(self, job: Job, model: CFModel | None) -> Plan:
        user = job.state or UserState(job.user_id)
        cv, variant, cfg = self._config(job)
        p = Plan(job, user, cv, variant, cfg, seen=seen_sorted(user))
        if cfg.weights.get("content", 0) > 0:
            p.content_q = self._content_query(user)
        if cfg.weights.get("cf", 0) > 0 and model is not None and user.positives:
            u = user.cf if user.cf_version == model.version else fold_in(
                model, [i for i, _ in user.positives], [w for _, w in user.positives])
            p.cf_u = None if u is None else np.asarray(u, np.float32)
        wanted = {n for n, w in cfg.weights.items() if w > 0} | {cfg.fallback}
        p.have = {"popular"} | {n for n in ("session", "transitions") if n in wanted and user.positives}
        if "content" in wanted and p.content_q is not None:
            p.have.add("content")
        if "cf" in wanted and p.cf_u is not None:
            p.have.add("cf")
        return p

    def _content_query(self, user: UserState) -> np.ndarray | None:
        """The content recommender's query: interest vector centred on the item mean."""
        if user.content is None or self.content.index is None:
            return None
        q = user.content.astype(np.float32)
        if q.shape != (self.content.index.dim,):
            return None
        mu = self.content.mean()
        if mu is not None:
            q = q - np.float32(user.content_mass) * mu
        return unit(q)

    def _search(self, name: str, index: Any, queries: list[tuple[Plan, np.ndarray | None]]) -> None:
        """Candidates for every plan that has a query: one search call, each over-fetching
        by its own seen count (a user who has seen 900 items does not make everyone fetch 1,000)."""
        todo = [(p, q) for p, q in queries if q is not None]
        if index is None or not todo or len(index) == 0:
            return
        plans = [p for p, _ in todo]
        scores, labels = index.search_labels(np.vstack([q for _, q in todo]), fetch_sizes(plans, len(index)))
        keys = self.labels[name].table(index)[labels]
        for p, top in zip(plans, self._unseen_tops(plans, keys, scores, labels >= 0)):
            p.tops[name] = top

    def _unseen_tops(self, plans: list[Plan], keys: np.ndarray, scores: np.ndarray,
                     hit: np.ndarray) -> list[Top]:
        """Per plan (row), the first ``candidates`` hits it has not seen and that are not deleted.

        The whole group at once: the seen test is one binary search of (row, fingerprint)
        pairs in every row's sorted seen fingerprints, tagged with the row, not a call per row.
        """
        ok = hit & ~_Batch(self.keys, plans).blocked(np.arange(len(plans))[:, None], keys)
        ok &= np.cumsum(ok, axis=1) <= np.array([p.cfg.per_source for p in plans])[:, None]
        cut = np.cumsum(ok.sum(axis=1))[:-1]
        return [Top(k, v) for k, v in zip(np.split(keys[ok], cut), np.split(scores[ok].astype(np.float64), cut))]

    def _dense(self, name: str, plans: list[Plan], ctx: Context) -> None:
        """A dense source's scores for every plan that uses it, as rows of one array, and
        the top candidates of every plan that weights it: a few numpy calls for them all."""
        users = [p for p in plans if name in p.have]
        src: SessionRecommender = getattr(self, name)
        if not users or self.stats.n_items == 0:
            return  # (no items: no scores, as dense() gives None)
        rows = src.dense_rows([p.user for p in users])
        for p, row in zip(users, rows):
            p.dense[name] = row
        at = [i for i, p in enumerate(users) if p.cfg.weights.get(name, 0) > 0]
        if at:
            tops = self._dense_tops(rows if len(at) == len(users) else rows[at], [users[i] for i in at], ctx)
            for i, top in zip(at, tops):
                users[i].tops[name] = top

    def _dense_tops(self, arr: np.ndarray, plans: list[Plan], ctx: Context) -> list[Top]:
        """Per row, the best ``per_source`` positive scores (ties by stable hash) of items not
        removed, not deleted (when the context excludes any) and not seen by that user:
        what :func:`top_valid_rows` gives one row, with one top-k for the whole array.

        The excluded cells are set to -inf in ``arr`` itself and put back afterwards (a few
        per row), and zeros are left to the top-k's floor: a masked copy of the whole array
        cost more than the top-k itself.
        """
        n = arr.shape[1]
        hashes, of = self.stats.ids.hashes[:n], self.keys.of_stats
        bad = self.stats.removed[:n].copy()
        if ctx.exclude:
            bad |= self.keys.deleted[of[:n]]
        bad_cols = np.flatnonzero(bad)
        rows, cols = self._seen_cells(plans, fingerprints(hashes))
        kept_bad, kept_seen = arr[:, bad_cols], arr[rows, cols]
        ks = np.array([p.cfg.per_source for p in plans])
        vals = np.full((len(plans), int(ks.max())), -np.inf)
        top = np.full(vals.shape, -1, np.int64)
        arr[:, bad_cols] = -np.inf
        arr[rows, cols] = -np.inf
        try:
            for k in np.unique(ks).tolist():
                at = np.flatnonzero(ks == k)
                v, c = top_k_rows(arr if at.size == len(plans) else arr[at], k, hashes, floor=0.0)
                vals[at, : v.shape[1]], top[at, : c.shape[1]] = v, c
        finally:
            arr[rows, cols] = kept_seen
            arr[:, bad_cols] = kept_bad
        found = top >= 0
        cut = np.cumsum(found.sum(axis=1))[:-1]
        return [Top(of[c], v, 0.0) for c, v in zip(np.split(top[found], cut), np.split(vals[found], cut))]

    def _seen_cells(self, plans: list[Plan], hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row, ItemStats row) of every item each plan's user has seen, by seen-set
        fingerprint (``hashes`` are the items' fingerprints, in ItemStats row order)."""
        if self._hash_order.size != hashes.size:
            self._hash_order = np.argsort(hashes, kind="stable")
        order = self._hash_order
        ordered = hashes[order]
        seen = [(i, p.seen) for i, p in enumerate(plans) if p.seen is not None]
        if not seen:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        rows = np.concatenate([np.full(s.size, i) for i, s in seen])
        vals = np.concatenate([s for _, s in seen])
        lo, hi = np.searchsorted(ordered, vals, "left"), np.searchsorted(ordered, vals, "right")
        hit = hi > lo
        rows, lo, span = rows[hit], lo[hit], (hi - lo)[hit]
        extra = [np.flatnonzero(span > d) for d in range(1, int(span.max(initial=1)))]  # hash collisions
        return (np.concatenate([rows, *(rows[e] for e in extra)]),
                order[np.concatenate([lo, *(lo[e] + d for d, e in enumerate(extra, 1))])])

    def _fuse(self, plans: list[Plan], ctx: Context) -> list[dict[str, Any]]:
        """The plans' lists: fusion for all of them at once (:func:`fuse_many`)."""
        reqs = [_Request(self, p) for p in plans]
        asks = [r.ask(p.cfg, p.have, ctx) for r, p in zip(reqs, plans)]
        lists = fuse_many(asks, _Batch(self.keys, plans), self._rescorer(plans, asks))
        out = []
        for p, req, items in zip(plans, reqs, lists):
            if not items:  # no signal and no fallback configured: popular is the floor of service
                cfg = p.cfg.model_copy(update={"weights": {"popular": 1.0}})
                items = req.fuse(cfg, {"popular"}, ctx)
            out.append(wire_list(p, items))
        return out

    def _rescorer(self, plans: list[Plan], asks: list[Ask]) -> RescoreMany:
        """Rescoring for :func:`fuse_many`: content and CF gaps of all the plans in one
        pair-kernel call each (the per-plan calls cost more in overhead than in arithmetic);
        the dense sources' gaps, a gather each, per plan."""
        per_list = rescore_each(asks)

        def rescore(name: str, lists: np.ndarray, keys: np.ndarray) -> Found:
            if name == "content":
                return self.content.rows_matvec_many(lists, self.keys.content_row[keys],
                                                     [p.content_q for p in plans])
            if name == "cf":
                return self.cf.rows_matvec_many(lists, self.keys.cf_row[keys], [p.cf_u for p in plans])
            return per_list(name, lists, keys)
        return rescore


class _Batch:
    """The :class:`BatchKeys` of a list of plans: the item keys, and which the plan at each
    row may not show (deleted, or seen: one binary search of (row, fingerprint) pairs in
    every plan's sorted seen fingerprints, tagged with its row)."""

    def __init__(self, keys: ItemKeys, plans: list[Plan]) -> None:
        self.k = keys
        seen = [(np.uint64(i) << np.uint64(32)) | p.seen.astype(np.uint64)
                for i, p in enumerate(plans) if p.seen is not None]
        self.seen = np.concatenate(seen) if seen else None

    def hashes(self, keys: np.ndarray) -> np.ndarray:
        return self.k.hash[keys]

    def blocked(self, rows: np.ndarray, keys: np.ndarray) -> np.ndarray:
        bad = self.k.deleted[keys]
        if self.seen is not None:
            fps = fingerprints(self.k.hash[keys]).astype(np.uint64)
            tagged = (np.asarray(rows, np.uint64) << np.uint64(32)) | fps
            bad |= in_sorted(tagged, self.seen)
        return bad

    def ids(self, keys: np.ndarray) -> list[str]:
        return self.k.ids(keys)


class _Request:
    """One plan's sources over the ranker's item keys (the :class:`Keys` fusion runs in)."""

    def __init__(self, r: Ranker, p: Plan) -> None:
        self.r, self.p, self.k = r, p, r.keys

    # --- Keys ---------------------------------------------------------------------------
    def hashes(self, keys: np.ndarray) -> np.ndarray:
        return self.k.hash[keys]

    def blocked(self, keys: np.ndarray) -> np.ndarray:
        bad = self.k.deleted[keys]
        if self.p.seen is not None:
            bad |= is_seen(self.k.hash[keys], self.p.seen)
        return bad

    def ids(self, keys: np.ndarray) -> list[str]:
        return self.k.ids(keys)

    # --- sources ------------------------------------------------------------------------
    def dense(self, name: str, ctx: Context) -> np.ndarray | None:
        return self.p.dense.get(name)  # computed for the whole chunk (Ranker._dense)

    def top(self, name: str, n: int, ctx: Context) -> Top:
        t = self.p.tops.get(name)
        if t is not None or name in ("content", "cf"):  # found for the whole batch
            t = NO_TOP if t is None else t
            return t if n >= t.keys.size else Top(t.keys[:n], t.vals[:n], t.floor)
        stats, user = self.r.stats, self.p.user
        if name == "popular":
            arr = self.r.popular.scores
            cand = self.r.popular.head(n + user.seen.overfetch + len(ctx.exclude))
        else:
            arr = self.dense(name, ctx)
            if arr is None or arr.size == 0:
                return NO_TOP
            cand = np.flatnonzero(arr > 0)
        if arr.size == 0:
            return NO_TOP
        of = self.k.of_stats
        deleted = self.k.deleted
        rows = top_valid_rows(stats, cand, arr, self.p.seen,
                              (lambda c: deleted[of[c]]) if ctx.exclude else None, n, len(ctx.exclude))
        return Top(of[rows], arr[rows], 0.0)

    def rescore(self, name: str, keys: np.ndarray, ctx: Context) -> Found:
        if name == "content":
            return self.r.content.rows_matvec(self.k.content_row[keys], self.p.content_q)
        if name == "cf":
            return self.r.cf.rows_matvec(self.k.cf_row[keys], self.p.cf_u)
        arr = self.r.popular.scores if name == "popular" else self.dense(name, ctx)
        if arr is None or arr.size == 0:
            return np.zeros(keys.size, bool), np.zeros(keys.size)
        return gather_rows(self.k.stats_row[keys], arr)

    def ask(self, cfg: FusionConfig, have: set[str], ctx: Context) -> Ask:
        """What fusion needs of this plan's sources under ``cfg``."""
        tops = {n: self.top(n, cfg.per_source, ctx) for n, w in cfg.weights.items() if w > 0 and n in have}

        def fallback(n: int) -> Top | None:
            fb = cfg.fallback
            if n >= cfg.k or fb is None or fb not in have or cfg.weights.get(fb, 0) > 0:
                return None
            return self.top(fb, cfg.k + n, ctx)

        return Ask(cfg, tops, lambda n, keys: self.rescore(n, keys, ctx), fallback)

    def fuse(self, cfg: FusionConfig, have: set[str], ctx: Context) -> list[Explained]:
        a = self.ask(cfg, have, ctx)
        return fuse_keyed(cfg, a.tops, self, a.rescore, a.fallback)


def wire_list(p: Plan, items: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``recommendations`` value (README wire contract)."""
    out = {"rec_id": uuid.uuid4().hex, "user_id": p.job.user_id,
           "scenario": p.job.scenario or DEFAULT_SCENARIO, "variant": p.variant,
           "config_version": p.cv.version, "trigger_event_id": p.job.trigger_event_id,
           "ts": time.time(), "items": items}
    if p.job.request_id is not None:
        out["request_id"] = p.job.request_id
    return out
