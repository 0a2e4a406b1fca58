"""Micro-benchmark of the pure core (printed, never asserted on time): ``pytest -s benchmarks/bench_core_micro.py``.

apply_event events/s at 384-d, ItemStats.update events/s, and the cost of one fused list
over a MovieLens-sized synthetic world (1,682 items, 943 users, 40k Zipf events).
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from streams.ranking import FusionConfig, fuse
from streams.recommenders import Context, create
from streams.schemas import Interaction
from streams.state import (CFModel, ItemStats, UserParams, UserState, apply_event, apply_events,
                           refresh_cf, to_bytes)

pytestmark = pytest.mark.slow
N_ITEMS, N_USERS, N_EVENTS, DIM = 1682, 943, 40_000, 384


class Flat:
    def __init__(self, ids: list[str], m: np.ndarray) -> None:
        self.ids, self.m = ids, m / np.linalg.norm(m, axis=1, keepdims=True)

    def search(self, q: np.ndarray, k: int, allow: object = None, deny: object = None
               ) -> list[list[tuple[str, float]]]:
        rows = np.arange(len(self.ids)) if allow is None else np.array([int(i) for i in allow])
        s = (self.m @ q[0])[rows]
        top = np.argpartition(-s, k - 1)[:k] if k < s.size else np.arange(s.size)
        top = top[np.argsort(-s[top], kind="stable")]
        return [[(self.ids[rows[t]], float(s[t])) for t in top]]


@pytest.fixture(scope="module")
def world() -> dict:
    rng = np.random.default_rng(0)
    pop = rng.zipf(1.3, N_ITEMS * 10) % N_ITEMS
    users = rng.integers(N_USERS, size=N_EVENTS)
    items = pop[rng.integers(pop.size, size=N_EVENTS)]
    evs = [Interaction(str(n), "rating", str(u), str(i), 8.8e8 + n, float(1 + n % 5))
           for n, (u, i) in enumerate(zip(users.tolist(), items.tolist()))]
    vecs = rng.normal(size=(N_ITEMS, DIM)).astype(np.float32)
    return {"events": evs, "vectors": vecs}


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}/s ({1e6 * seconds / n:.1f} µs each)"


def test_benchmark(world: dict) -> None:
    evs, vecs = world["events"], world["vectors"]
    params = UserParams()
    users: dict[str, UserState] = {}
    n = 30_000
    t = time.perf_counter()
    for e in evs[:n]:
        users[e.user_id] = apply_event(users.get(e.user_id) or UserState(e.user_id), e,
                                       vecs[int(e.item_id)], params)
    apply_s = time.perf_counter() - t
    cf = CFModel([str(i) for i in range(N_ITEMS)], np.random.default_rng(1).normal(
        size=(N_ITEMS, 64)).astype(np.float32) * 0.1, 0.05, 1.0, "v1")
    sample = evs[n:n + 2000]
    t = time.perf_counter()
    for e in sample:
        users[e.user_id] = apply_event(users.get(e.user_id) or UserState(e.user_id), e,
                                       vecs[int(e.item_id)], params, cf)
    cf_s = time.perf_counter() - t
    batch = evs[n + 2000:n + 2064]
    t = time.perf_counter()
    for _ in range(20):
        apply_events(UserState("b"), batch, [vecs[int(e.item_id)] for e in batch], params, cf)
    batch_s = time.perf_counter() - t
    stats = ItemStats()
    t = time.perf_counter()
    for e in evs:
        stats.update(e)
    stats_s = time.perf_counter() - t
    users = {u: refresh_cf(s, cf) for u, s in users.items()}
    sizes = [len(to_bytes(s)) for s in users.values()]
    sources = {"session": create("session", stats=stats), "transitions": create("transitions", stats=stats),
               "content": create("content", index=Flat([str(i) for i in range(N_ITEMS)], vecs)),
               "cf": create("cf", model=cf), "popular": create("popular", stats=stats)}
    cfg = FusionConfig()
    ctx = Context(now=evs[-1].ts)
    sample_users = list(users.values())[:200]
    t = time.perf_counter()
    lists = [fuse(u, ctx, sources, cfg) for u in sample_users]
    fuse_s = time.perf_counter() - t
    print(f"\napply_event (384-d, no CF solve): {rate(n, apply_s)}"
          f"\napply_event with CF fold-in (64 f): {rate(len(sample), cf_s)}"
          f"\napply_events batch of 64 + one CF solve: {rate(64 * 20, batch_s)}"
          f"\nItemStats.update: {rate(len(evs), stats_s)}"
          f"\nuser state bytes: median {int(np.median(sizes))}, p95 {int(np.percentile(sizes, 95))},"
          f" max {max(sizes)} (avg {len(evs) / N_USERS:.0f} events/user)"
          f"\nfused list (5 sources, {cfg.candidates} candidates, rescore): {1000 * fuse_s / len(sample_users):.2f} ms/request")
    assert all(len(x) == cfg.k for x in lists)
