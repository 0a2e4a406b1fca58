"""Helpers to run real streams workers (``python -m streams.worker``) against the test broker.

Not tests: imported by test_user_state*.py and test_worker*.py. Workers run as subprocesses
with their settings in the environment, exactly as ``genre up`` starts them.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException, TopicPartition

from streams.kafka_io import make_consumer, make_producer
from streams.settings import Settings
from streams.wire import dumps
from streams.localkafka import free_port

ROOT = Path(__file__).resolve().parents[2]
#: Fast commits and short timeouts: a killed worker's partitions move within seconds.
TEST_TUNING = {"commit_interval_s": "0.2", "session_timeout_s": "6", "heartbeat_interval_s": "1",
               "rebalance_timeout_s": "10", "batch_within_s": "0.02", "web_host": "127.0.0.1",
               "catalog_ready_timeout_s": "20"}


def app_settings(settings: Settings, **update: Any) -> Settings:
    """The per-test settings with an app id (consumer group, changelog names) of its own."""
    return settings.model_copy(update={"app_id": f"{settings.topic_prefix}app", **update})


def worker_env(s: Settings, web_port: int, **tuning: Any) -> dict[str, str]:
    env = {**os.environ, "GENRE_KAFKA_BOOTSTRAP": s.bootstrap, "GENRE_TOPIC_PREFIX": s.topic_prefix,
           "GENRE_APP_ID": s.app_id, "GENRE_PARTITIONS": str(s.partitions),
           "GENRE_STATE_DIR": str(s.state_dir), "GENRE_TABLE_STORE": s.table_store,
           "GENRE_WORKER_WEB_PORT": str(web_port), "GENRE_LOG_LEVEL": "INFO",
           "PYTHONPATH": str(ROOT)}
    for k, v in {**TEST_TUNING, **{k: str(v) for k, v in tuning.items()}}.items():
        env[f"GENRE_WORKER_{k.upper()}"] = v
    return env


class Worker:
    """One worker subprocess; its log is kept in the test's state dir."""

    def __init__(self, s: Settings, name: str, **tuning: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = s.state_dir / f"{name}.log"
        state = s.state_dir / name  # own datadir, as on separate machines
        env = worker_env(s.model_copy(update={"state_dir": state}), self.port, **tuning)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "streams.worker"], cwd=ROOT, env=env,
                                         stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM and wait; SIGKILL if it hangs (the test then fails on the return code)."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                return -9
        return self.proc.returncode

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""

    def get(self, path: str, timeout_s: float = 5.0) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout_s) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")


@contextmanager
def workers(s: Settings, n: int = 1, **tuning: Any) -> Iterator[list[Worker]]:
    ws = [Worker(s, f"worker{i}", **tuning) for i in range(n)]
    try:
        yield ws
    finally:
        for w in ws:
            w.stop()


def produce_events(s: Settings, events: Iterable[dict[str, Any] | tuple[str, bytes]]) -> int:
    """Interactions keyed by user id, with the Java/Faust partitioner (murmur2)."""
    p = make_producer(s, partitioner="murmur2_random")
    n = 0
    for ev in events:
        key, raw = ev if isinstance(ev, tuple) else (ev["user_id"], dumps(ev))
        p.produce(s.topic("interactions"), value=raw, key=key.encode())
        n += 1
        if n % 10_000 == 0:
            p.poll(0)
    assert p.flush(30) == 0
    return n


def produce_raw(s: Settings, topic: str, records: Iterable[tuple[bytes, bytes | None]]) -> None:
    p = make_producer(s, partitioner="murmur2_random")
    for key, value in records:
        p.produce(s.topic(topic), value=value, key=key)
    assert p.flush(30) == 0


def lag(s: Settings) -> int:
    """Interactions not yet committed by the app's consumer group (-1: not known yet)."""
    c = make_consumer(s, s.app_id)
    try:
        name = s.topic("interactions")
        tps = [TopicPartition(name, p) for p in range(s.partitions)]
        committed = {tp.partition: tp.offset for tp in c.committed(tps, timeout=10)}
        total = 0
        for p in range(s.partitions):
            _, high = c.get_watermark_offsets(TopicPartition(name, p), timeout=10)
            total += high - max(committed[p], 0)
        return total
    except KafkaException:  # the group coordinator is still loading right after start
        return -1
    finally:
        c.close()


def wait_caught_up(s: Settings, ws: list[Worker], timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for w in ws:
            assert w.alive(), f"worker died:\n{w.tail()}"
        if lag(s) == 0:
            return
        time.sleep(0.3)
    raise AssertionError(f"lag {lag(s)} after {timeout_s}s:\n" + "\n".join(w.tail() for w in ws))


def read_changelog(s: Settings, timeout_s: float = 30.0) -> dict[str, bytes]:
    """The users table as Kafka holds it: last value per key of the changelog topic."""
    name = f"{s.app_id}-users-changelog"
    c = make_consumer(s, f"reader-{uuid.uuid4().hex[:8]}")
    try:
        md = c.list_topics(name, timeout=10).topics[name]
        tps = [TopicPartition(name, p, 0) for p in md.partitions]
        ends = {tp.partition: c.get_watermark_offsets(tp, timeout=10)[1] for tp in tps}
        c.assign(tps)
        out: dict[str, bytes] = {}
        pos = {p: 0 for p in ends}
        deadline = time.monotonic() + timeout_s
        while any(pos[p] < ends[p] for p in ends):
            assert time.monotonic() < deadline, "changelog not read in time"
            for m in c.consume(1000, timeout=0.5):
                if m.error() is None:
                    pos[m.partition()] = m.offset() + 1
                    if m.value() is None:
                        out.pop(m.key().decode(), None)
                    else:
                        out[m.key().decode()] = m.value()
        return out
    finally:
        c.close()
