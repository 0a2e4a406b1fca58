"""End-to-end freshness and list throughput of one streams worker (not a test).

    python benchmarks/bench_freshness.py [--rate 1000 --seconds 60 --items 10000 --users 2000]
    python benchmarks/bench_freshness.py --quick        # 10 s, for small machines

Starts its own broker via streams.localkafka (or uses GENRE_KAFKA_BOOTSTRAP), publishes
``--items`` random unit vectors (384-d) to ``item-vectors``, starts one
``python -m streams.worker`` (``--workers N``: N of them in one group, each with its own
state dir) and then measures, in the same run, each phase after ``--warm`` seconds of the
same traffic (default 30; a fresh broker JVM compiles for its first ~30 s, and a broker
in production has long finished):
  1. baseline: bare produce → consume round trip of the same event messages at the same
     rate on a scratch topic (what the broker and clients cost alone);
  2. freshness: interactions produced at a steady ``--rate`` for ``--seconds``; for each
     list on ``recommendations`` whose ``trigger_event_id`` names an event, the time from
     that event's produce call to the list's arrival (one clock: the same process), and
     the CPU the worker(s) (their event loop's thread apart), the broker and the benchmark
     itself used meanwhile;
  3. saturation: a backlog of events for distinct users produced at once; lists/s from the
     first list to the last (each a full fused list over every source).
Prints p50/p90/p99 of each latency and the lists/s.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import orjson
from confluent_kafka import TopicPartition
from confluent_kafka.admin import NewTopic

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams import localkafka  # noqa: E402
from streams.localkafka import free_port  # noqa: E402
from streams.kafka_io import make_admin, make_consumer, make_producer  # noqa: E402
from streams.settings import Settings  # noqa: E402
from streams.topics import create_topics  # noqa: E402


class Arrivals(threading.Thread):
    """Reads a topic from its end and records arrival time per id (``id_of(value)``)."""

    def __init__(self, s: Settings, topic: str, id_field: str) -> None:
        super().__init__(daemon=True)
        self.c = make_consumer(s, f"bench-{uuid.uuid4().hex[:6]}", **{"fetch.wait.max.ms": 5})
        parts = self.c.list_topics(topic, timeout=10).topics[topic].partitions
        ends = [self.c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts]
        self.c.assign([TopicPartition(topic, p, e) for p, e in zip(parts, ends)])
        self.field, self.at, self.count = id_field, {}, 0
        self.made: dict[str, float | None] = {}  # the list's own ts: when the worker made it
        self.first = self.last = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            # poll() returns as soon as one message is there; consume(n, timeout) would wait
            # for n messages or the whole timeout, adding up to that timeout to every figure.
            first = self.c.poll(0.05)
            if first is None:
                continue
            for m in [first, *self.c.consume(1000, timeout=0)]:
                if m.error() is None:
                    now = time.time()
                    obj = orjson.loads(m.value())
                    self.at.setdefault(obj.get(self.field), now)
                    self.made.setdefault(obj.get(self.field), obj.get("ts"))
                    self.count += 1
                    self.first = self.first or now
                    self.last = now
        self.c.close()


def event(k: int, users: int, items: int, rnd: np.random.Generator) -> tuple[bytes, bytes]:
    u = f"u{int(rnd.integers(users))}"
    e = {"event_id": f"e{k}", "type": "click", "user_id": u, "item_id": f"i{int(rnd.integers(items))}",
         "ts": time.time()}
    return u.encode(), orjson.dumps(e)


def paced(s: Settings, topic: str, rate: float, seconds: float, users: int, items: int,
          start: int, seed: int) -> dict[str, float]:
    """Produce at a steady rate; returns event id → produce time."""
    p = make_producer(s, partitioner="murmur2_random", **{"linger.ms": 1})
    # Connect, fetch metadata and the idempotent producer id before the clock starts: a
    # cold producer holds its first messages for hundreds of ms, which no list can beat.
    p.list_topics(topic, timeout=10)
    p.produce(f"{s.topic_prefix}bench-rtt", value=b"{}")  # the scratch topic: no worker reads it
    p.flush(10)
    rnd = np.random.default_rng(seed)
    sent: dict[str, float] = {}
    n = int(rate * seconds)
    t0 = time.perf_counter()
    for i in range(n):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        key, val = event(start + i, users, items, rnd)
        sent[f"e{start + i}"] = time.time()
        p.produce(topic, key=key, value=val)
        p.poll(0)
    p.flush(30)
    return sent


def latencies(sent: dict[str, float], arr: Arrivals) -> tuple[np.ndarray, int]:
    ms = np.array([1000 * (arr.at[k] - t) for k, t in sent.items() if k in arr.at])
    return ms, len(sent) - ms.size


def pct(ms: np.ndarray) -> str:
    if ms.size == 0:
        return "no samples"
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return f"p50 {p50:.1f} ms, p90 {p90:.1f} ms, p99 {p99:.1f} ms, max {ms.max():.1f} ms (n={ms.size})"


def fill_items(s: Settings, items: int, dim: int = 384) -> None:
    p = make_producer(s, partitioner="murmur2_random", **{"linger.ms": 20})
    rng = np.random.default_rng(7)
    for j in range(items):
        v = rng.standard_normal(dim).astype(np.float32)
        v /= np.linalg.norm(v)
        p.produce(s.topic("item-vectors"), key=f"i{j}".encode(),
                  value=orjson.dumps({"item_id": f"i{j}", "vector": v}, option=orjson.OPT_SERIALIZE_NUMPY))
        p.poll(0)
    assert p.flush(60) == 0


def start_worker(s: Settings, log: Path, name: str = "w0") -> subprocess.Popen:
    env = {**os.environ, "GENRE_KAFKA_BOOTSTRAP": s.bootstrap, "GENRE_TOPIC_PREFIX": s.topic_prefix,
           "GENRE_APP_ID": s.app_id, "GENRE_PARTITIONS": str(s.partitions),
           "GENRE_STATE_DIR": str(s.state_dir / name),  # its own datadir, as on separate machines
           "GENRE_WORKER_WEB_ENABLED": "false",
           "GENRE_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "streams.worker"], cwd=ROOT, env=env,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)


def warm_up(s: Settings, arr: Arrivals, timeout_s: float = 180) -> None:
    """Until the worker answers (group joined, catalogue loaded): one event, one list."""
    p = make_producer(s, partitioner="murmur2_random")
    deadline = time.monotonic() + timeout_s
    k = 0
    while time.monotonic() < deadline:
        eid = f"warm{k}"
        p.produce(s.topic("interactions"), key=b"warm", value=orjson.dumps(
            {"event_id": eid, "type": "click", "user_id": "warm", "item_id": "i1", "ts": time.time()}))
        p.flush(5)
        t = time.monotonic()
        while time.monotonic() - t < 3:
            if eid in arr.at:
                return
            time.sleep(0.05)
        k += 1
    raise SystemExit("worker produced no list: see its log")


def _stat_seconds(path: str) -> float:
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system, all threads) each process has used so far (Linux /proc;
    empty elsewhere); for a worker also its event loop's thread alone (``name/loop``): the
    loop is what ranks, and a worker saturates when that thread does."""
    out: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            out[name] = _stat_seconds(f"/proc/{pid}/stat")
            if name.startswith("worker"):
                out[f"{name}/loop"] = _stat_seconds(f"/proc/{pid}/task/{pid}/stat")
        except OSError:
            continue
    return out


def print_cpu(before: dict[str, float], after: dict[str, float], seconds: float) -> None:
    """Who used the cores while producing, as % of one core (a worker: its event loop and
    its other threads, Faust's consumer thread mostly, in brackets)."""
    def pc(k: str) -> float:
        return 100 * (after[k] - before[k]) / seconds
    parts = []
    for k in after:
        if k in before and "/" not in k:
            loop = f"{k}/loop"
            split = f" (loop {pc(loop):.0f}, other threads {pc(k) - pc(loop):.0f})" if loop in before else ""
            parts.append(f"{k} {pc(k):.0f}{split}")
    if parts:
        print("  CPU while producing (% of one core): " + ", ".join(parts))


def settle(s: Settings, arr: Arrivals, workers: int, timeout_s: float = 120) -> None:
    """Until every partition answers (all workers joined, recovered and loaded): one event
    for a user on each partition must come back as a list."""
    p = make_producer(s, partitioner="murmur2_random")
    deadline = time.monotonic() + timeout_s
    wanted = {f"settle-{k}" for k in range(4 * s.partitions)}  # keys spread over the partitions
    def answered() -> set[str]:
        return {e.split("@")[0] for e in arr.at if isinstance(e, str) and "@" in e}

    k = 0
    while time.monotonic() < deadline:
        for u in sorted(wanted - answered()):
            p.produce(s.topic("interactions"), key=u.encode(), value=orjson.dumps(
                {"event_id": f"{u}@{k}", "type": "click", "user_id": u, "item_id": "i1", "ts": time.time()}))
        p.flush(5)
        k += 1
        time.sleep(2)
        if wanted <= answered():
            return
    raise SystemExit(f"the {workers} workers did not all answer in {timeout_s:.0f} s: see their logs")


def run(s: Settings, args: argparse.Namespace) -> None:
    create_topics(s)
    rtt = f"{s.topic_prefix}bench-rtt"
    admin = make_admin(s)
    admin.create_topics([NewTopic(rtt, num_partitions=s.partitions, replication_factor=1)])[rtt].result()
    t = time.perf_counter()
    fill_items(s, args.items)
    print(f"published {args.items:,} item vectors in {time.perf_counter() - t:.1f} s")
    if args.warm:  # the broker's JIT first (see --warm), on the same produce/fetch paths
        scratch = Arrivals(s, rtt, "event_id")
        scratch.start()
        paced(s, rtt, args.rate, args.warm, args.users, args.items, 5 * 10**7, 5)
        scratch.stop.set()
        print(f"warmed the broker with {args.warm:.0f} s at {args.rate:.0f}/s")
    base = Arrivals(s, rtt, "event_id")
    base.start()
    ours = {"benchmark": os.getpid()} | ({"broker": b} if (b := localkafka.running_pid(s)) else {})
    cpu0, t0 = cpu_seconds(ours), time.monotonic()
    sent = paced(s, rtt, args.rate, min(args.seconds, 10), args.users, args.items, 0, 1)
    cpu1, t1 = cpu_seconds(ours), time.monotonic()
    time.sleep(1)
    base.stop.set()
    b_ms, _ = latencies(sent, base)
    print(f"baseline bare produce->consume at {args.rate:.0f}/s: {pct(b_ms)}")
    print_cpu(cpu0, cpu1, t1 - t0)

    lists = Arrivals(s, s.topic("recommendations"), "trigger_event_id")
    lists.start()
    logs = [s.state_dir / f"worker{i}.log" for i in range(args.workers)]
    procs = [start_worker(s, log, f"w{i}") for i, log in enumerate(logs)]
    try:
        warm_up(s, lists)
        if args.workers > 1:
            settle(s, lists, args.workers)
        if args.warm:  # the whole pipeline at the measured rate, lists drained, then measure
            paced(s, s.topic("interactions"), args.rate, args.warm, args.users, args.items, 2 * 10**7, 3)
            time.sleep(5)
            print(f"warmed the pipeline with {args.warm:.0f} s at {args.rate:.0f}/s")
        if args.config:
            from streams.config_admin import propose
            cv = propose(s, {"scenario": "default", **orjson.loads(args.config)})
            time.sleep(1)
            print(f"config v{cv.version}: {orjson.dumps(cv.config).decode()}")
        pids = {f"worker{i}": p.pid for i, p in enumerate(procs)} | ours
        cpu0, t0 = cpu_seconds(pids), time.monotonic()
        sent = paced(s, s.topic("interactions"), args.rate, args.seconds, args.users, args.items, 10**7, 2)
        cpu1, t1 = cpu_seconds(pids), time.monotonic()
        time.sleep(3)
        f_ms, missing = latencies(sent, lists)
        print(f"freshness at {args.rate:.0f} events/s for {args.seconds:.0f} s, {args.items:,} items: {pct(f_ms)}; "
              f"{missing} events coalesced into a newer list (or late)")
        made = np.array([1000 * (lists.made[k] - t) for k, t in sent.items()
                         if lists.made.get(k) is not None])
        print(f"  of which produce -> list made by the worker: {pct(made)}")
        print_cpu(cpu0, cpu1, t1 - t0)  # a worker near 100 % of one core is saturated
        saturation(s, lists, args)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
        lists.stop.set()
    print(f"worker logs: {', '.join(map(str, logs))}")


def saturation(s: Settings, lists: Arrivals, args: argparse.Namespace) -> None:
    """A backlog of events for distinct users: lists/s from the first list to the last."""
    n = args.backlog
    p = make_producer(s, partitioner="murmur2_random", **{"linger.ms": 20})
    rnd = np.random.default_rng(3)
    for i in range(n):
        u = f"s{i}"
        e = {"event_id": f"s{i}", "type": "click", "user_id": u, "item_id": f"i{int(rnd.integers(args.items))}",
             "ts": time.time()}
        p.produce(s.topic("interactions"), key=u.encode(), value=orjson.dumps(e))
        p.poll(0)
    p.flush(60)
    keys = [f"s{i}" for i in range(n)]
    last, progress, deadline = 0, time.monotonic(), time.monotonic() + 300
    while time.monotonic() < deadline:  # until every list is in, or none came for 60 s
        have = sum(k in lists.at for k in keys)
        if have == n or (have and time.monotonic() - progress > 60):
            break
        if have != last:
            last, progress = have, time.monotonic()
        time.sleep(0.2)
    got = [lists.at[k] for k in keys if k in lists.at]
    span = max(got) - min(got) if len(got) > 1 else float("nan")
    print(f"saturation: {len(got):,} lists for {n:,} distinct users in {span:.2f} s = "
          f"{len(got) / span:,.0f} lists/s ({args.workers} worker{'s' if args.workers > 1 else ''})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--backlog", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=1, help="worker processes (same group)")
    ap.add_argument("--config", help="a control proposal applied first, e.g. '{\"candidates\": 20}'")
    ap.add_argument("--warm", type=float, default=30,
                    help="seconds of traffic at --rate before the baseline and again before the measured run "
                         "(0: none). A freshly started broker's JVM spends its first ~30 s compiling: at "
                         "1,000 msgs/s it took 135 %% of a core in the first 10 s, 35-47 %% after 30 s")
    ap.add_argument("--quick", action="store_true", help="10 s at the same rate (10 s warm), 5,000-list backlog")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.backlog, args.warm = 10, 5000, min(args.warm, 10)
    external = os.environ.get("GENRE_KAFKA_BOOTSTRAP")
    state = Path(os.environ.get("TMPDIR", "/tmp")) / f"genre-bench-{uuid.uuid4().hex[:6]}"
    prefix = f"b{uuid.uuid4().hex[:6]}."
    if external:
        run(Settings(kafka_bootstrap=external, state_dir=state, topic_prefix=prefix, app_id=prefix + "app"), args)
        return
    s = Settings(state_dir=state, kafka_port=free_port(), kafka_controller_port=free_port(),
                 topic_prefix=prefix, app_id=prefix + "app")
    localkafka.start(s)
    try:
        run(s.model_copy(update={"kafka_bootstrap": s.bootstrap}), args)
    finally:
        localkafka.stop(s)


if __name__ == "__main__":
    main()
