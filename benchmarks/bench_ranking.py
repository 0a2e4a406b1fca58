"""In-process cost of fused lists (not a test): ``Ranker.rank`` beside its bare FAISS search.

    python benchmarks/bench_ranking.py                       # 10,000 items, 2,000 users
    python benchmarks/bench_ranking.py --items 1682 --users 943 --events 100000   # MovieLens-sized
    python benchmarks/bench_ranking.py --dump /tmp/lists.json  # the lists, to diff two versions
    python benchmarks/bench_ranking.py --new-users 4096      # lists for brand-new users instead

Builds a synthetic world in memory (no Kafka): ``--items`` random unit 384-d item vectors in
the worker's :class:`ContentIndex` (FAISS), Zipf-popular rating events folded into
:class:`ItemStats` and per-user :class:`UserState` (content interest, positives, seen set),
and a 64-factor CF model with every user's vector solved against it. Then, in the same run
and interleaved round by round (so load on a shared box hits both alike):

- ``faiss``: the two batched searches one ``Ranker.rank`` call makes (content + CF queries
  of the batch, same over-fetch) and nothing else: the floor a list cannot go below here;
- ``rank``: ``Ranker.rank`` on batches of ``--batch`` users (default config: 5 sources,
  50 candidates each, rescoring on) = the ranking agent's work per batch;
- ``fuse``: the registry recommenders through ``streams.ranking.fuse`` one user at a time
  (the offline evaluator's path: dense CF, exact flat content search).

``--new-users N`` ranks N users who each have just made their first rating instead of the
world's users (the saturation phase of ``bench_freshness``: a backlog of distinct users).

Prints lists/s (median over rounds, wall clock) and lists per CPU-second of the process
(steadier when other jobs share the cores; FAISS may use several threads), and rank/faiss.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams.control import ConfigVersion  # noqa: E402
from streams.eval.product import FlatIndex  # noqa: E402
from streams.ranking import FusionConfig, default_config, fuse  # noqa: E402
from streams.ranking.indexes import CFIndex, ContentIndex  # noqa: E402
from streams.ranking.service import Job, Ranker, fetch_sizes  # noqa: E402
from streams.recommenders import Context, create  # noqa: E402
from streams.schemas import Interaction  # noqa: E402
from streams.state import CFModel, ItemStats, UserParams, UserState, apply_event, refresh_cf  # noqa: E402


def world(n_items: int, n_users: int, n_events: int, dim: int = 384, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    vecs = rng.standard_normal((n_items, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    pop = rng.zipf(1.3, n_items * 10) % n_items
    users = rng.integers(n_users, size=n_events)
    items = pop[rng.integers(pop.size, size=n_events)]
    ids = [f"i{j}" for j in range(n_items)]
    stats = ItemStats()
    params = UserParams()
    states: dict[str, UserState] = {}
    t0 = 8.8e8
    for n, (u, i) in enumerate(zip(users.tolist(), items.tolist())):
        e = Interaction(f"e{n}", "rating", f"u{u}", ids[i], t0 + n, float(1 + n % 5))
        stats.update(e)
        states[e.user_id] = apply_event(states.get(e.user_id) or UserState(e.user_id), e, vecs[i], params)
    model = CFModel(ids, (rng.standard_normal((n_items, 64)) * 0.1).astype(np.float32), 0.05, 1.0, "v1")
    states = {u: refresh_cf(s, model) for u, s in states.items()}
    return {"ids": ids, "vecs": vecs, "stats": stats, "users": states, "model": model, "now": t0 + n_events}


def new_users(w: dict, n: int, seed: int = 1) -> list[UserState]:
    """``n`` users with one rating each (a random item), folded into the world's statistics."""
    rng = np.random.default_rng(seed)
    out = []
    for k, i in enumerate(rng.integers(len(w["ids"]), size=n).tolist()):
        e = Interaction(f"n{k}", "rating", f"new{k}", w["ids"][i], w["now"], 5.0)
        w["stats"].update(e)
        out.append(refresh_cf(apply_event(UserState(e.user_id), e, w["vecs"][i], UserParams()), w["model"]))
    return out


def add_world_args(ap: argparse.ArgumentParser) -> None:
    """The world's size and whose lists to make (shared with ``bench_batch_cost.py``)."""
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--new-users", type=int, default=0,
                    help="rank this many users with one rating each instead of the world's users")


def world_and_users(args: argparse.Namespace) -> tuple[dict, list[UserState]]:
    """:func:`world` and the users to rank (``--new-users`` or the world's, by id)."""
    w = world(args.items, args.users, args.events)
    users = new_users(w, args.new_users) if args.new_users else sorted(w["users"].values(), key=lambda s: s.user_id)
    return w, users


def make_ranker(w: dict, config: dict) -> Ranker:
    content = ContentIndex(w["stats"])
    for i, v in zip(w["ids"], w["vecs"]):
        content.on_vector(i, v)
    cv = ConfigVersion("default", 1, config)
    return Ranker(w["stats"], content, CFIndex(), lambda: w["model"], lambda scenario: cv)


def faiss_only(r: Ranker, jobs: list[Job]) -> None:
    """The searches of one rank() call, without fusion (same queries, same over-fetch)."""
    model = r.model()
    plans = [r._plan(j, model) for j in jobs]
    for index, qs in ((r.content.index, [(p, p.content_q) for p in plans]),
                      (r.cf.index, [(p, p.cf_u) for p in plans])):
        todo = [(p, q) for p, q in qs if q is not None]
        if todo:
            index.search_labels(np.vstack([q for _, q in todo]), fetch_sizes([p for p, _ in todo], len(index)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_world_args(ap)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=5, help="each round ranks every user once")
    ap.add_argument("--fuse-users", type=int, default=200, help="users per round on the fuse path (0: skip)")
    ap.add_argument("--config", default="{}", help="fusion config overlay, e.g. '{\"candidates\": 50}'")
    ap.add_argument("--dump", help="write every user's list (ids, scores, sources) here and exit")
    args = ap.parse_args()

    t = time.perf_counter()
    w, users = world_and_users(args)
    config = {**default_config(), **orjson.loads(args.config)}
    r = make_ranker(w, config)
    jobs = [Job(u.user_id, u) for u in users]
    batches = [jobs[i:i + args.batch] for i in range(0, len(jobs), args.batch)]
    now = w["now"]
    r.rank(batches[0], now)  # builds the indexes
    print(f"world: {args.items:,} items, {len(users):,} users, {args.events:,} events "
          f"(median {int(np.median([len(u.seen) for u in users]))} seen, "
          f"{int(np.median([len(u.positives) for u in users]))} positives a user), "
          f"built in {time.perf_counter() - t:.1f} s")

    sources = {"session": create("session", stats=w["stats"]),
               "transitions": create("transitions", stats=w["stats"]),
               "content": create("content", index=FlatIndex(w["ids"], w["vecs"]), mean=r.content.mean),
               "cf": create("cf", model=lambda: w["model"]), "popular": create("popular", stats=w["stats"])}
    cfg = FusionConfig.parse(config)
    ctx = Context(now=now, exclude=frozenset(r.content.deleted))

    if args.dump:
        ranked = [x for b in batches for x in r.rank(b, now)]
        fused = [fuse(u, ctx, sources, cfg) for u in users[: args.fuse_users]]
        out = {"rank": {x["user_id"]: x["items"] for x in ranked},
               "fuse": {u.user_id: x for u, x in zip(users, fused)}}
        Path(args.dump).write_bytes(orjson.dumps(out))
        print(f"wrote {len(ranked)} ranked and {len(fused)} fused lists to {args.dump}")
        return

    # wall-clock lists/s, and lists per CPU-second of this process (steadier on a shared box)
    rates: dict[str, list[float]] = {"faiss": [], "rank": [], "fuse": []}
    cpu: dict[str, list[float]] = {"faiss": [], "rank": [], "fuse": []}

    def timed(name: str, n: int, fn: Callable[[], object]) -> None:
        t, c = time.perf_counter(), time.process_time()
        fn()
        rates[name].append(n / (time.perf_counter() - t))
        cpu[name].append(n / max(time.process_time() - c, 1e-9))

    sample = users[: args.fuse_users]
    for _ in range(args.rounds):
        timed("faiss", len(jobs), lambda: [faiss_only(r, b) for b in batches])
        timed("rank", len(jobs), lambda: [r.rank(b, now) for b in batches])
        if sample:
            timed("fuse", len(sample), lambda: [fuse(u, ctx, sources, cfg) for u in sample])
    med = {k: statistics.median(v) for k, v in rates.items() if v}
    for k, v in med.items():
        c = statistics.median(cpu[k])
        print(f"{k:>5}: {v:8,.0f} lists/s  ({1000 / v:.3f} ms a list; rounds: "
              f"{', '.join(f'{x:,.0f}' for x in rates[k])}); {c:,.0f} lists per CPU-second")
    print(f"rank costs {med['faiss'] / med['rank']:.2f}x the bare FAISS search of its batch "
          f"({statistics.median(cpu['faiss']) / statistics.median(cpu['rank']):.2f}x in CPU time)")

if __name__ == "__main__":
    main()
