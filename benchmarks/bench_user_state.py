"""User-state throughput of one streams worker vs a bare confluent-kafka consumer (not a test).

    python benchmarks/bench_user_state.py [--events 500000 --users 1000 --items 10000 --dim 384]

Starts its own broker via streams.localkafka (or uses GENRE_KAFKA_BOOTSTRAP), fills a fresh
set of topics, then times, on the same topic in the same run:
  1. a bare confluent-kafka consumer reading and orjson-decoding every event;
  2. one ``python -m streams.worker`` (web off) applying them to the users table, from its
     first committed offset to zero lag (startup and table recovery excluded).
Prints events/s of each, their ratio, and the table's bytes per user (from the changelog).
"""
from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import orjson
from confluent_kafka import TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams import localkafka  # noqa: E402
from streams.agents import record  # noqa: E402
from streams.state import codec  # noqa: E402
from streams.kafka_io import make_consumer, make_producer  # noqa: E402
from streams.settings import Settings  # noqa: E402
from streams.topics import create_topics  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill(s: Settings, n: int, users: int, items: int, dim: int, seed: int = 1) -> float:
    rnd = random.Random(seed)
    rng = np.random.default_rng(seed)
    p = make_producer(s, partitioner="murmur2_random", **{"linger.ms": 20, "batch.num.messages": 10000})
    for j in range(items):
        v = rng.standard_normal(dim).astype(np.float32)
        p.produce(s.topic("item-vectors"), key=f"i{j}".encode(),
                  value=orjson.dumps({"item_id": f"i{j}", "vector": v}, option=orjson.OPT_SERIALIZE_NUMPY))
        p.poll(0)
    types = ["click"] * 7 + ["favourite", "rating", "unfavourite"]
    t0 = time.perf_counter()
    for k in range(n):
        u, t = f"u{rnd.randrange(users)}", types[rnd.randrange(10)]
        e = {"event_id": f"e{k}", "type": t, "user_id": u, "item_id": f"i{rnd.randrange(items)}",
             "ts": 1.7e9 + k * 0.01}
        if t == "rating":
            e["value"] = float(rnd.randrange(1, 6))
        while True:
            try:
                p.produce(s.topic("interactions"), key=u.encode(), value=orjson.dumps(e))
                break
            except BufferError:
                p.poll(0.05)
        if k % 5000 == 0:
            p.poll(0)
    assert p.flush(60) == 0
    return n / (time.perf_counter() - t0)


def bare_rate(s: Settings, n: int) -> float:
    """A plain consumer: read + orjson-decode every event (the ceiling for any Python worker)."""
    c = make_consumer(s, f"bare-{uuid.uuid4().hex[:6]}")
    name = s.topic("interactions")
    c.assign([TopicPartition(name, p, 0) for p in range(s.partitions)])
    got, t0 = 0, None
    while got < n:
        for m in c.consume(10000, timeout=1.0):
            if m.error() is None:
                t0 = t0 or time.perf_counter()
                orjson.loads(m.value())
                got += 1
    c.close()
    return n / (time.perf_counter() - t0)


def committed(s: Settings) -> int:
    c = make_consumer(s, s.app_id)
    try:
        tps = [TopicPartition(s.topic("interactions"), p) for p in range(s.partitions)]
        return sum(max(tp.offset, 0) for tp in c.committed(tps, timeout=10))
    except Exception:
        return 0
    finally:
        c.close()


NOOP_AGENT = """\
from streams.agents import processing
processing.UserStateUpdater.apply = lambda self, batch, read: processing.BatchResult()
"""


def worker_rate(s: Settings, n: int, item_stats: bool, log: Path, profile: str | None = None,
                noop: bool = False) -> tuple[float, float, float]:
    env = {**os.environ, "GENRE_KAFKA_BOOTSTRAP": s.bootstrap, "GENRE_TOPIC_PREFIX": s.topic_prefix,
           "GENRE_APP_ID": s.app_id, "GENRE_PARTITIONS": str(s.partitions), "GENRE_STATE_DIR": str(s.state_dir),
           "GENRE_WORKER_WEB_ENABLED": "false", "GENRE_WORKER_ITEM_STATS": str(item_stats).lower(),
           "GENRE_WORKER_RANKING": os.environ.get("BENCH_RANKING", "false"),
           "GENRE_WORKER_WEB_PORT": str(free_port()), "GENRE_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING")}
    if noop:  # the agent receives, batches and acks every event but applies none (Faust's share)
        (log.parent / "noop").mkdir(exist_ok=True)
        (log.parent / "noop" / "sitecustomize.py").write_text(NOOP_AGENT)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(log.parent / "noop"), env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "streams.worker"]
    if profile:  # cProfile of the worker's main thread, written when it stops
        cmd[1:1] = ["-m", "cProfile", "-o", profile]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        first = None
        while (done := committed(s)) < n:
            if proc.poll() is not None:
                raise SystemExit(f"worker died, see {log}")
            if done > 0 and first is None:
                first = (time.perf_counter(), done, _cpu_s(proc.pid))
            time.sleep(0.25)
        t1, cpu = time.perf_counter(), _cpu_s(proc.pid)
        rss = _rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(60)
    # Events per second of the worker's own CPU time (all threads): what one worker would
    # do with a core to itself, much less sensitive than wall time to a loaded box.
    return (n - first[1]) / (t1 - first[0]), rss, (n - first[1]) / max(cpu - first[2], 1e-9)


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def breakdown(values: list[bytes]) -> dict[str, float]:
    """Mean bytes per part of a users-table value (the state re-encoded: the codec is
    canonical, so its sections add up to the stored bytes)."""
    tot: dict[str, float] = {}
    for v in values:
        rec = record.decode(v)
        parts = {"event ids": len(v) - len(codec.to_bytes(rec.state))}
        codec.to_bytes(rec.state, parts)
        for k, n in parts.items():
            tot[k] = tot.get(k, 0) + n
    return {k: n / max(len(values), 1) for k, n in tot.items()}


def table_bytes(s: Settings) -> list[int]:
    name = f"{s.app_id}-users-changelog"
    c = make_consumer(s, f"size-{uuid.uuid4().hex[:6]}")
    md = c.list_topics(name, timeout=10).topics[name]
    tps = [TopicPartition(name, p, 0) for p in md.partitions]
    ends = {tp.partition: c.get_watermark_offsets(tp, timeout=10)[1] for tp in tps}
    c.assign(tps)
    last: dict[bytes, bytes] = {}
    pos = dict.fromkeys(ends, 0)
    while any(pos[p] < ends[p] for p in ends):
        for m in c.consume(10000, timeout=1.0):
            if m.error() is None:
                pos[m.partition()] = m.offset() + 1
                last[m.key()] = m.value()
    c.close()
    sample = record.decode(next(iter(last.values())))
    print(f"  sample user: {sample.state.n_events} events, seen {len(sample.state.seen)}, "
          f"content dim {sample.state.content.size if sample.state.content is not None else 0}, "
          f"event ids kept {len(sample.event_keys)}")
    parts = breakdown(list(last.values()))
    print("  mean bytes by part: " + ", ".join(f"{k} {n:,.0f}" for k, n in parts.items()))
    return [len(v) for v in last.values()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=500_000)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--item-stats", action="store_true", help="also run the item-statistics follower")
    ap.add_argument("--profile", metavar="FILE", help="run the worker under cProfile, stats to FILE")
    ap.add_argument("--noop-agent", action="store_true",
                    help="the agent applies nothing: the ceiling Faust + batching leave on this box")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-user-state-"))
    external = os.environ.get("GENRE_KAFKA_BOOTSTRAP")
    base = Settings(kafka_bootstrap=external, state_dir=tmp, partitions=a.partitions) if external else \
        Settings(state_dir=tmp, kafka_port=free_port(), kafka_controller_port=free_port(), partitions=a.partitions)
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    s = base.model_copy(update={"topic_prefix": prefix, "app_id": prefix + "app"})
    if not external:
        localkafka.start(base)
    try:
        create_topics(s)
        print(f"{a.events} events, {a.users} users, {a.items} items x {a.dim}-d, {a.partitions} partitions")
        print(f"  produced at {fill(s, a.events, a.users, a.items, a.dim):,.0f} events/s")
        bare = bare_rate(s, a.events)
        print(f"  bare consumer (read + orjson decode): {bare:,.0f} events/s")
        rate, rss, per_cpu = worker_rate(s, a.events, a.item_stats, tmp / "worker.log", a.profile,
                                        a.noop_agent)
        print(f"  streams worker (item stats {'on' if a.item_stats else 'off'}): {rate:,.0f} events/s "
              f"= {rate / bare:.2f} x bare; {per_cpu:,.0f} events per worker CPU-second; "
              f"RSS at end {rss:.0f} MiB; load average {os.getloadavg()[0]:.1f}")
        if a.noop_agent:
            return
        sizes = table_bytes(s)
        print(f"  users table: {len(sizes)} users, bytes/user mean {np.mean(sizes):,.0f}, "
              f"p50 {np.median(sizes):,.0f}, p99 {np.percentile(sizes, 99):,.0f}, max {max(sizes):,}")
    finally:
        if not external:
            localkafka.stop(base)


if __name__ == "__main__":
    main()
