"""Build recommendation lists for a batch of users: config + variant, batched search, fusion.

The glue between a worker's live parts (item statistics, the FAISS indexes, the current
CF model, the control fold) and the pure :func:`streams.ranking.fuse`. No Faust and no
Kafka here, so the same code serves the ranking agent, the ``requests`` agent, the web
view and the benchmark. One :meth:`Ranker.rank` call makes one FAISS search call for the
content candidates of every user in the batch and one for the CF candidates (grouped by
over-fetch size, so a user who has seen 900 items does not make everyone fetch 1,000).
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streams.control import DEFAULT_SCENARIO, ConfigVersion
from streams.feedback.variants import variant_config
from streams.ranking.config import FusionConfig
from streams.ranking.fusion import fuse
from streams.ranking.indexes import CFIndex, ContentIndex
from streams.ranking.sources import Prefetched, SharedPopular, SparseDense, unseen_top
from streams.recommenders import create
from streams.recommenders.base import EMPTY, Context, Scored
from streams.recommenders.vector import unit
from streams.state.foldin import CFModel, fold_in
from streams.state.items import ItemStats
from streams.state.user import UserState

ConfigFn = Callable[[str | None], ConfigVersion]
ModelFn = Callable[[], CFModel | None]
FIELDS = set(FusionConfig.model_fields)


@dataclass(frozen=True)
class Job:
    """One list to make: after a state change (trigger) or on request."""

    user_id: str
    state: UserState | None = None
    scenario: str | None = None
    trigger_event_id: str | None = None
    request_id: str | None = None
    k: int | None = None


@dataclass
class Plan:
    job: Job
    user: UserState
    cv: ConfigVersion
    variant: str
    cfg: FusionConfig
    content_q: np.ndarray | None = None
    cf_u: np.ndarray | None = None
    hits: dict[str, Scored] = field(default_factory=dict)


class Ranker:
    """Makes wire-ready lists; every list carries the config version and variant that made it."""

    def __init__(self, stats: ItemStats, content: ContentIndex, cf: CFIndex, model: ModelFn,
                 configs: ConfigFn) -> None:
        self.stats, self.content, self.cf, self.model, self.configs = stats, content, cf, model, configs
        self.session = create("session", stats=stats)
        self.transitions = create("transitions", stats=stats)
        self.popular = SharedPopular(stats)
        self._cfgs: dict[tuple[str, int, str, int | None], FusionConfig] = {}

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
        self.popular.prepare(now)
        plans = [self._plan(j, model) for j in jobs]
        self._search("content", self.content.index, [(p, p.content_q) for p in plans])
        self._search("cf", self.cf.index, [(p, p.cf_u) for p in plans])
        ctx = Context(now=now, exclude=frozenset(self.content.deleted))
        return [self._one(p, ctx) for p in plans]

    def _plan(self, job: Job, model: CFModel | None) -> Plan:
        user = job.state or UserState(job.user_id)
        cv, variant, cfg = self._config(job)
        p = Plan(job, user, cv, variant, cfg)
        if cfg.weights.get("content", 0) > 0:
            p.content_q = self._content_query(user)
        if cfg.weights.get("cf", 0) > 0 and model is not None and user.positives:
            u = user.cf if user.cf_version == model.version else fold_in(
                model, [i for i, _ in user.positives], [w for _, w in user.positives])
            p.cf_u = None if u is None else np.asarray(u, np.float32)
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
        """Candidates for every plan that has a query: one search call per over-fetch size."""
        todo = [(p, q) for p, q in queries if q is not None]
        if index is None or not todo or len(index) == 0:
            return
        groups: dict[int, list[tuple[Plan, np.ndarray]]] = {}
        for p, q in todo:
            need = p.cfg.candidates + len(p.user.seen)
            fetch = min(-(-need // 64) * 64, len(index))  # few distinct sizes, little over-fetch
            groups.setdefault(fetch, []).append((p, q))
        for fetch, group in groups.items():
            hits = index.search_batch(np.vstack([q for _, q in group]), fetch)
            for (p, _), h in zip(group, hits):
                p.hits[name] = unseen_top(h, p.user, Context(0.0, exclude=self.content.deleted),
                                          p.cfg.candidates)

    def _sources(self, p: Plan, ctx: Context) -> dict[str, Any]:
        out: dict[str, Any] = {"popular": self.popular}
        wanted = {n for n, w in p.cfg.weights.items() if w > 0} | {p.cfg.fallback}
        if "content" in wanted and p.content_q is not None:
            q = p.content_q
            out["content"] = Prefetched("content", p.hits.get("content", EMPTY),
                                        lambda items: self.content.score_items(q, items))
        if "cf" in wanted and p.cf_u is not None:
            u = p.cf_u
            out["cf"] = Prefetched("cf", p.hits.get("cf", EMPTY), lambda items: self.cf.score_items(u, items))
        for name, src in (("session", self.session), ("transitions", self.transitions)):
            if name in wanted and p.user.positives:
                out[name] = SparseDense(src, p.user, ctx)  # type: ignore[arg-type]
        return out

    def _one(self, p: Plan, ctx: Context) -> dict[str, Any]:
        items = fuse(p.user, ctx, self._sources(p, ctx), p.cfg)
        if not items:  # no signal and no fallback configured: popular is the floor of service
            cfg = p.cfg.model_copy(update={"weights": {"popular": 1.0}})
            items = fuse(p.user, ctx, {"popular": self.popular}, cfg)
        return wire_list(p, items)


def wire_list(p: Plan, items: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``recommendations`` value (README wire contract)."""
    out = {"rec_id": uuid.uuid4().hex, "user_id": p.job.user_id,
           "scenario": p.job.scenario or DEFAULT_SCENARIO, "variant": p.variant,
           "config_version": p.cv.version, "trigger_event_id": p.job.trigger_event_id,
           "ts": time.time(), "items": items}
    if p.job.request_id is not None:
        out["request_id"] = p.job.request_id
    return out
