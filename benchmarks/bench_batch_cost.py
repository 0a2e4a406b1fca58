"""What a list costs by ranking-batch size, and whether a thread could rank beside the loop (not a test).

    python benchmarks/bench_batch_cost.py                          # 1 ... 256 users a batch
    python benchmarks/bench_batch_cost.py --sizes 4,16,64 --new-users 4096
    python benchmarks/bench_batch_cost.py --thread-check           # also: ranking in a thread

The ranking agent ranks whoever turned dirty since its last batch, so at a steady event
rate the batch size is set by how long a cycle takes: a list that must arrive within
20 ms at 1,000 events/s comes from a batch of ~10-20 users, not from the 256-user batches
that give the best lists/s. This measures the CPU a list costs at each batch size
(``Ranker.rank``, one thread, the world of ``bench_ranking.py``), with the agent's largest
batch (``MAX_BATCH``) as the baseline in the same run; rounds interleave the sizes, so load
on a shared box hits them alike.

``--thread-check`` runs ``Ranker.rank`` in a second thread beside a pure-Python loop (what
the worker's event loop is) and prints each one's progress as a fraction of its progress
alone, in the same run: numpy and FAISS release the GIL inside their calls, and the sum
says how much of the ranking a thread could overlap with the loop (1.0: none).
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_ranking as br  # noqa: E402
from streams.agents.ranking import MAX_BATCH  # noqa: E402
from streams.ranking import default_config  # noqa: E402
from streams.ranking.service import Job, Ranker  # noqa: E402

T = TypeVar("T")


def cpu_per_list(r: Ranker, jobs: list[Job], size: int, now: float, lists: int) -> float:
    """CPU ms a list, ranking ``lists`` of ``jobs`` in batches of ``size``."""
    batches = [jobs[i:i + size] for i in range(0, len(jobs), size)][: max(4, lists // size)]
    t = time.process_time()
    for b in batches:
        r.rank(b, now)
    return 1e3 * (time.process_time() - t) / sum(len(b) for b in batches)


def spin(stop: threading.Event, out: list[int]) -> None:
    n = 0
    while not stop.is_set():
        for _ in range(1000):
            n += 1
    out.append(n)


def beside_spinner(work: Callable[[], T]) -> tuple[T, float]:
    """``work()`` while a pure-Python loop spins in another thread: its result, and the
    loop's pace meanwhile (iterations a second)."""
    stop, out = threading.Event(), []
    th = threading.Thread(target=spin, args=(stop, out))
    t = time.perf_counter()
    th.start()
    try:
        result = work()
    finally:
        stop.set()
        th.join()
    return result, out[0] / (time.perf_counter() - t)


def thread_check(r: Ranker, jobs: list[Job], size: int, now: float, seconds: float,
                 switch_s: float) -> None:
    batches = [jobs[i:i + size] for i in range(0, len(jobs), size)]
    sys.setswitchinterval(switch_s)

    def rank_for(s: float) -> float:
        t, n = time.perf_counter(), 0
        while time.perf_counter() - t < s:
            for b in batches:
                r.rank(b, now)
                n += len(b)
        return n / (time.perf_counter() - t)

    _, spin_alone = beside_spinner(lambda: time.sleep(seconds))
    rank_alone = rank_for(seconds)
    rank_both, spin_both = beside_spinner(lambda: rank_for(seconds))
    a, b = rank_both / rank_alone, spin_both / spin_alone
    print(f"thread check (switch interval {switch_s * 1e3:g} ms, batches of {size}): ranking "
          f"{rank_alone:,.0f} lists/s alone, {rank_both:,.0f} beside the loop ({a:.2f}); "
          f"the loop at {b:.2f} of its pace alone; sum {a + b:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    br.add_world_args(ap)
    ap.add_argument("--sizes", default="1,2,4,8,16,32,64,128,256", help="batch sizes, comma separated")
    ap.add_argument("--lists", type=int, default=1024, help="lists per size per round")
    ap.add_argument("--rounds", type=int, default=3, help="the best round of each size is kept")
    ap.add_argument("--thread-check", action="store_true")
    ap.add_argument("--seconds", type=float, default=5.0, help="each phase of the thread check")
    args = ap.parse_args()

    w, users = br.world_and_users(args)
    r = br.make_ranker(w, default_config())
    jobs = [Job(u.user_id, u) for u in users]
    now = w["now"]
    r.rank(jobs[:MAX_BATCH], now)  # builds the indexes
    sizes = sorted({int(x) for x in args.sizes.split(",")} | {MAX_BATCH})
    best = {s: float("inf") for s in sizes}
    for _ in range(args.rounds):
        for s in sizes:
            best[s] = min(best[s], cpu_per_list(r, jobs, s, now, args.lists))
    print(f"{args.items:,} items, {len(users):,} {'new ' if args.new_users else ''}users; "
          f"CPU a list by batch size (best of {args.rounds} rounds, baseline {MAX_BATCH} = the agent's largest):")
    for s in sizes:
        print(f"  {s:>4} a batch: {best[s]:.3f} ms a list, {best[s] * s:7.2f} ms a batch, "
              f"{best[s] / best[MAX_BATCH]:.2f}x the baseline's list")
    if args.thread_check:
        for switch_s in (0.005, 0.0005):
            thread_check(r, jobs, 32, now, args.seconds, switch_s)


if __name__ == "__main__":
    main()
