"""Ranker.rank (fusion over item keys) gives exactly the lists of ``fuse`` over per-user sources.

The reference is the string path: :func:`streams.ranking.fuse` with the batch adapters
(Prefetched content/CF hits from the same FAISS search, SparseDense session/transitions,
SharedPopular), which is what the ranker ran before it fused over keys. Covers seen items,
deleted items (tombstones), a cold user (popular), the popular fallback and rescoring.
"""
from __future__ import annotations

import numpy as np
import pytest

from streams.control import ConfigVersion
from streams.ranking import FusionConfig, default_config, fuse
from streams.ranking.indexes import CFIndex, ContentIndex
from streams.ranking.service import Job, Ranker
from streams.ranking.sources import Prefetched, SharedPopular, SparseDense
from streams.recommenders.vector import unseen_top
from streams.recommenders import EMPTY, Context
from streams.schemas import Interaction
from streams.state import CFModel, ItemStats, UserParams, UserState, apply_event, refresh_cf

N_ITEMS, N_USERS, DIM = 300, 40, 16


def world(config: dict) -> tuple[Ranker, list[UserState], float]:
    rng = np.random.default_rng(5)
    ids = [f"i{j}" for j in range(N_ITEMS)]
    vecs = rng.standard_normal((N_ITEMS, DIM)).astype(np.float32)
    stats, params = ItemStats(), UserParams()
    users: dict[str, UserState] = {}
    pop = rng.zipf(1.5, 4000) % N_ITEMS
    for n in range(3000):
        u, i = f"u{int(rng.integers(N_USERS))}", int(pop[n])
        e = Interaction(f"e{n}", "rating", u, ids[i], 1000.0 + n, float(1 + n % 5))
        stats.update(e)
        users[u] = apply_event(users.get(u) or UserState(u), e, vecs[i], params)
    model = CFModel(ids, rng.standard_normal((N_ITEMS, 8)).astype(np.float32), 0.05, 1.0, "v1")
    content = ContentIndex(stats)
    for i, v in zip(ids, vecs):
        content.on_vector(i, v)
    for i in ids[:12:3]:  # some popular items are deleted (tombstones)
        content.on_vector(i, None)
    cv = ConfigVersion("default", 1, {**default_config(), **config})
    r = Ranker(stats, content, CFIndex(), lambda: model, lambda scenario: cv)
    states = [refresh_cf(users[u], model) for u in sorted(users)] + [UserState("cold")]
    return r, states, 1000.0 + 3000


def reference(r: Ranker, user: UserState, now: float) -> list[dict]:
    """The string path for one user (the ranker's plan, its FAISS search, ``fuse``)."""
    p = r._plan(Job(user.user_id, user), r.model())
    cfg: FusionConfig = p.cfg
    ctx = Context(now=now, exclude=frozenset(r.content.deleted))
    out: dict = {"popular": r.popular}
    wanted = {n for n, w in cfg.weights.items() if w > 0} | {cfg.fallback}
    for name, index, q, rescore in (("content", r.content.index, p.content_q, r.content.score_items),
                                    ("cf", r.cf.index, p.cf_u, r.cf.score_items)):
        if name in wanted and q is not None:
            fetch = min(-(-(cfg.per_source + user.seen.overfetch) // 64) * 64, len(index))
            hits = index.search(q, fetch)
            top = unseen_top(hits, user, Context(0.0, exclude=r.content.deleted), cfg.per_source)
            out[name] = Prefetched(name, top or EMPTY, lambda items, q=q, f=rescore: f(q, items))
    for name in ("session", "transitions"):
        if name in wanted and user.positives:
            out[name] = SparseDense(getattr(r, name), user, ctx)
    items = fuse(user, ctx, out, cfg)
    if not items:
        items = fuse(user, ctx, {"popular": r.popular}, cfg.model_copy(update={"weights": {"popular": 1.0}}))
    return items


@pytest.mark.parametrize("config", [
    {},  # the shipped defaults: 4 sources, rescoring, popular as fallback only
    {"candidates": 3, "k": 20},  # pools shorter than k: the popular fallback fills in
    {"weights": {"session": 0.5, "cf": 0.3, "popular": 0.2}, "normalise": "none"},
    {"weights": {"transitions": 1.0}, "fallback": "session", "k": 30, "candidates": 4},
    {"rescore": False},
])
def test_rank_equals_fuse_over_per_user_sources(config: dict) -> None:
    r, users, now = world(config)
    lists = r.rank([Job(u.user_id, u) for u in users], now)
    assert [x["user_id"] for x in lists] == [u.user_id for u in users]
    for user, got in zip(users, lists):
        assert got["items"] == reference(r, user, now), user.user_id
        assert not {i["item_id"] for i in got["items"]} & r.content.deleted
    assert lists[-1]["items"] and set(lists[-1]["items"][0]["sources"]) == {"popular"}


def test_keys_follow_new_items_deletes_and_restores() -> None:
    r, users, now = world({})
    r.rank([Job(users[0].user_id, users[0])], now)
    rng = np.random.default_rng(9)
    r.content.on_vector("new", rng.standard_normal(DIM).astype(np.float32))
    r.content.on_vector("i1", None)
    r.content.on_vector("i0", rng.standard_normal(DIM).astype(np.float32))  # deleted, then back
    lists = r.rank([Job(u.user_id, u) for u in users], now)
    for user, got in zip(users, lists):
        assert got["items"] == reference(r, user, now)
    k = r.keys.index
    assert r.keys.deleted[k["i1"]] and not r.keys.deleted[k["i0"]] and r.keys.content_row[k["new"]] >= 0


def test_popular_head_is_the_full_order_cut() -> None:
    """SharedPopular orders only as far as asked (doubling): every head is the prefix of the
    full order (popularity desc, ties by stable hash), removed and zero-count items left out."""
    stats = ItemStats()
    rng = np.random.default_rng(3)
    for n in range(6000):  # few distinct counts: many ties
        i = int(rng.zipf(1.2)) % 1500
        stats.update(Interaction(f"e{n}", "click", f"u{n % 50}", f"i{i}", 1000.0, None))
    for i in range(0, 1500, 97):
        stats.remove_item(f"i{i}")
    pop = SharedPopular(stats)
    pop.prepare(1000.0)
    arr, hashes = pop.scores, stats.ids.hashes[: pop.scores.size]
    valid = np.flatnonzero((arr > 0) & ~stats.removed[: arr.size])
    full = valid[np.lexsort((hashes[valid], -arr[valid]))]
    for n in (1, 10, 255, 256, 257, 600, 5000, len(full), len(full) + 1):
        assert np.array_equal(pop.head(n), full[:n]), n
    pop.prepare(1001.0)  # a new clock starts over
    assert np.array_equal(pop.head(300), full[:300])


def test_dense_tops_leave_the_scores_as_they_were() -> None:
    """The top-k masks seen and deleted cells in the batch's score array itself and puts
    them back: rescoring and the fallback read those rows afterwards."""
    r, users, now = world({})
    r.rank([Job(users[0].user_id, users[0])], now)  # syncs keys and indexes
    ctx = Context(now=now, exclude=frozenset(r.content.deleted))
    plans = [r._plan(Job(u.user_id, u), r.model()) for u in users]
    assert ctx.exclude and any(p.seen is not None for p in plans)
    for name in ("session", "transitions"):
        r._dense(name, plans, ctx)
        src = getattr(r, name)
        for p in plans:
            if name in p.have:
                assert np.array_equal(p.dense[name], src.dense_rows([p.user])[0]), (name, p.job.user_id)
                assert p.tops[name].keys.size and (p.tops[name].vals > 0).all()


def test_batched_rescoring_gives_each_lists_own_scores() -> None:
    """Content/CF rescoring of many lists in one pair-kernel call: the bits of a call per
    list, with unknown rows (-1) not found and lists that have no known row at all."""
    r, users, now = world({})
    r.rank([Job(u.user_id, u) for u in users], now)
    rng = np.random.default_rng(2)
    plans = [r._plan(Job(u.user_id, u), r.model()) for u in users[:6]]
    lists = np.repeat(np.arange(6), [5, 0, 40, 3, 1, 17])
    for index, table, q in ((r.content, r.keys.content_row, [p.content_q for p in plans]),
                            (r.cf, r.keys.cf_row, [p.cf_u for p in plans])):
        rows = table[rng.integers(len(r.keys.hash), size=lists.size)]
        rows[rng.random(lists.size) < 0.2] = -1
        rows[lists == 3] = -1
        found, vals = index.rows_matvec_many(lists, rows, q)
        for i in range(6):
            f, v = index.rows_matvec(rows[lists == i], q[i])
            assert np.array_equal(found[lists == i], f) and np.array_equal(vals[lists == i], v)
        assert not found[lists == 3].any() and found.any()
