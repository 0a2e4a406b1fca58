"""Ranking on the real broker: MovieLens items encoded by the real text encoder, one worker.

The tests share one worker and catalogue (module fixture) and run in file order; each uses
its own users and scenarios so a config change made by one does not touch another.
"""
from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TopicPartition

from encoders.config import EncoderSettings
from encoders.pipeline import build_pipeline
from streams.data.events import item_events
from streams.data.movielens import load_movielens
from streams.kafka_io import make_consumer
from streams.schemas import item_from_dict
from streams.settings import Settings
from streams.topics import create_topics
from streams.wire import dumps, loads
from tests.integration.test_config_runtime import wait_up
from tests.integration.test_worker_harness import (ROOT, Worker, app_settings, produce_events,
                                                   produce_raw, worker_env)
from tests.kafkatools import read

pytestmark = pytest.mark.integration
N_ITEMS = 400
ALICE_LIKES = ["50", "172", "181", "82", "96"]  # Star Wars trilogy, Jurassic Park, Terminator 2
SOURCES = {"cf", "content", "session", "transitions", "popular"}


class Lists:
    """Every message of ``recommendations`` since the start, read by one consumer."""

    def __init__(self, s: Settings) -> None:
        self.c = make_consumer(s, f"lists-{uuid.uuid4().hex[:8]}")
        name = s.topic("recommendations")
        parts = self.c.list_topics(name, timeout=10).topics[name].partitions
        self.c.assign([TopicPartition(name, p, 0) for p in parts])
        self.seen: list[dict[str, Any]] = []

    def wait(self, pred: Callable[[dict[str, Any]], bool], timeout_s: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            hit = next((r for r in self.seen if pred(r)), None)
            if hit is not None:
                return hit
            for m in self.c.consume(500, timeout=0.2):
                if m.error() is None:
                    rec = loads(m.value())
                    assert m.key().decode() == rec["user_id"]
                    self.seen.append(rec)
        raise AssertionError(f"no matching list in {timeout_s}s; last: {self.seen[-3:]}")

    def of(self, user: str) -> list[dict[str, Any]]:
        return [r for r in self.seen if r["user_id"] == user]


def ev(eid: str, user: str, item: str, etype: str = "click", **kw: Any) -> dict[str, Any]:
    return {"event_id": eid, "type": etype, "user_id": user, "item_id": item, "ts": time.time(), **kw}


@pytest.fixture(scope="module")
def pipeline() -> Any:
    return build_pipeline(EncoderSettings(image=None, audio=None, device="cpu"))


def publish_items(s: Settings, pipeline: Any, items: list[dict[str, Any]]) -> None:
    encoded = pipeline.encode_items([item_from_dict(i) for i in items])
    produce_raw(s, "item-vectors", [(e.item_id.encode(), dumps(e.to_wire())) for e in encoded])


@pytest.fixture(scope="module")
def stack(kafka_settings: Settings, tmp_path_factory: pytest.TempPathFactory,
          pipeline: Any) -> Iterator[dict[str, Any]]:
    """One worker over N_ITEMS MovieLens items (real MiniLM vectors) and their ratings."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    s = app_settings(kafka_settings.model_copy(update={
        "topic_prefix": prefix, "state_dir": tmp_path_factory.mktemp("ranking"),
        "kafka_data_dir": kafka_settings.kafka_dir}))
    create_topics(s)
    ml = load_movielens()
    items = [i for i in item_events(ml) if int(i["item_id"]) <= N_ITEMS and (i["title"] or i["text"])]
    publish_items(s, pipeline, items)
    r = ml.ratings
    background = [{"event_id": f"ml-{u}-{i}", "type": "rating", "user_id": f"ml{u}", "item_id": str(i),
                   "ts": float(t), "value": float(v)}
                  for u, i, v, t in zip(r.user_ids.tolist(), r.item_ids.tolist(), r.values.tolist(),
                                        r.timestamps.tolist()) if i <= N_ITEMS][:3000]
    produce_events(s, background)
    w = Worker(s, "worker0")
    try:
        wait_up(s, [w])
        deadline = time.monotonic() + 60
        while w.get("/health")[1]["item_vectors"] < len(items):
            assert time.monotonic() < deadline and w.alive(), w.tail()
            time.sleep(0.2)
        yield {"s": s, "w": w, "lists": Lists(s), "items": {i["item_id"]: i for i in items}}
    finally:
        w.stop()


def check_list(rec: dict[str, Any], k: int, seen: set[str]) -> None:
    assert len(rec["items"]) == k, rec
    assert len(rec["rec_id"]) == 32 and rec["ts"] > 0
    ids = [it["item_id"] for it in rec["items"]]
    assert len(set(ids)) == k and not set(ids) & seen, (ids, seen)
    for it in rec["items"]:
        assert it["sources"] and set(it["sources"]) <= SOURCES
        assert it["score"] == pytest.approx(sum(it["sources"].values()), abs=1e-9)
    scores = [it["score"] for it in rec["items"]]
    assert scores == sorted(scores, reverse=True)


def test_interactions_in_explained_list_out(stack: dict[str, Any]) -> None:
    s, lists = stack["s"], stack["lists"]
    produce_events(s, [ev(f"a{n}", "alice", i, "favourite") for n, i in enumerate(ALICE_LIKES)])
    rec = lists.wait(lambda r: r["user_id"] == "alice" and r["trigger_event_id"] == "a4")
    check_list(rec, 10, set(ALICE_LIKES))
    assert rec["config_version"] == 0 and rec["variant"] == "base" and rec["scenario"] == "default"
    used = {src for it in rec["items"] for src in it["sources"]}
    assert {"session", "content"} <= used, used  # she has co-raters and a content vector
    # a burst for one user yields one fresh list, not a backlog of stale ones
    burst = [ev(f"b{n}", "burst", str(1 + n), "click") for n in range(60)]
    produce_events(s, burst)
    last = lists.wait(lambda r: r["user_id"] == "burst" and r["trigger_event_id"] == "b59")
    assert len(lists.of("burst")) <= 3, [r["trigger_event_id"] for r in lists.of("burst")]
    check_list(last, 10, {e["item_id"] for e in burst})
    # the worker's own view of freshness: every list above was timed from its trigger
    metrics = metric_values(stack["w"])
    assert metrics["genre_ranking_list_age_seconds_count"] >= 2, metrics
    assert 0 < metrics["genre_ranking_list_age_seconds_sum"] < 60 * metrics["genre_ranking_list_age_seconds_count"]
    assert metrics["genre_ranking_batch_users_count"] >= 1


def metric_values(w: Worker) -> dict[str, float]:
    """``GET /metrics`` as name → value (unlabelled samples only)."""
    with urllib.request.urlopen(w.url + "/metrics", timeout=5) as r:
        text = r.read().decode()
    return {name: float(value) for name, _, value in
            (line.partition(" ") for line in text.splitlines() if line and not line.startswith("#"))
            if "{" not in name}


def set_config(s: Settings, scenario: str, weights: str) -> int:
    """What an operator types: ``genre config set`` (a subprocess, real CLI)."""
    env = worker_env(s, 6066)
    out = subprocess.run([sys.executable, "-m", "streams.cli", "config", "set", "--scenario", scenario,
                          "--weights", weights], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    return int(loads(out.stdout)["version"])


def test_config_set_switches_sources_and_invalid_changes_nothing(stack: dict[str, Any]) -> None:
    s, w, lists = stack["s"], stack["w"], stack["lists"]
    v = set_config(s, "contentonly", "content=1")  # sources not named get 0
    t0 = time.monotonic()
    while w.get("/config?scenario=contentonly")[1]["version"] != v:
        assert time.monotonic() - t0 < 1.0, "config not applied within a second"
        time.sleep(0.02)
    produce_events(s, [ev("c1", "alice", "1", "click", scenario="contentonly")])
    rec = lists.wait(lambda r: r["trigger_event_id"] == "c1")
    assert rec["config_version"] == v and rec["scenario"] == "contentonly"
    check_list(rec, 10, set(ALICE_LIKES) | {"1"})
    assert all(set(it["sources"]) == {"content"} for it in rec["items"]), rec["items"]

    produce_raw(s, "control", [(b"contentonly", dumps({"scenario": "contentonly", "weights": {"bogus": 1}}))])
    def control_letters(ms: list[Any]) -> list[dict[str, Any]]:
        return [d for d in map(loads, (m.value() for m in ms)) if d["source"]["topic"] == s.topic("control")]
    read(s, "deadletter", lambda ms: bool(control_letters(ms)), timeout_s=30.0)
    time.sleep(2.0)  # room for a second (wrong) copy to show up
    bad = control_letters(read(s, "deadletter", lambda ms: False, timeout_s=2.0))
    assert len(bad) == 1 and "unknown source 'bogus'" in bad[0]["reason"], bad
    produce_events(s, [ev("c2", "alice", "2", "click", scenario="contentonly")])
    rec = lists.wait(lambda r: r["trigger_event_id"] == "c2")
    assert rec["config_version"] == v  # the last good version stays
    assert all(set(it["sources"]) == {"content"} for it in rec["items"])


def test_new_user_gets_popular_and_requests_are_answered(stack: dict[str, Any]) -> None:
    s, w, lists = stack["s"], stack["w"], stack["lists"]
    produce_raw(s, "requests", [
        (b"newbie", dumps({"request_id": "q1", "user_id": "newbie", "k": 5})),
        (b"newbie", dumps({"request_id": "q2", "user_id": "newbie", "k": 0})),
        (b"other", dumps({"request_id": "q3", "user_id": "newbie"})),
        (b"newbie", b"[1, 2]")])
    rec = lists.wait(lambda r: r.get("request_id") == "q1")
    check_list(rec, 5, set())
    assert rec["user_id"] == "newbie" and rec["trigger_event_id"] is None
    assert all(set(it["sources"]) == {"popular"} for it in rec["items"]), rec["items"]
    letters = [loads(m.value()) for m in read(s, "deadletter", lambda ms: len(ms) >= 4, timeout_s=15)]
    reasons = [d["reason"] for d in letters if d["source"]["topic"] == s.topic("requests")]
    assert len(reasons) == 3, reasons
    assert any("'k' must be an integer" in r for r in reasons)
    assert any("must equal user_id" in r for r in reasons)
    assert any("expected a JSON object" in r for r in reasons)
    status, body = w.get("/recommendations/nobody-yet?k=3")
    assert status == 200, body
    check_list(body, 3, set())
    assert [it["item_id"] for it in body["items"]] == [it["item_id"] for it in rec["items"]][:3]
    assert w.get("/recommendations/nobody-yet?k=abc")[0] == 400


def test_new_item_recommended_by_content_then_deleted(stack: dict[str, Any], pipeline: Any) -> None:
    s, w, lists = stack["s"], stack["w"], stack["lists"]
    n0 = w.get("/health")[1]["item_vectors"]
    twin = dict(stack["items"]["172"], item_id="new-172")  # a re-release nobody has touched
    publish_items(s, pipeline, [twin])
    deadline = time.monotonic() + 20
    while w.get("/health")[1]["item_vectors"] != n0 + 1:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    status, body = w.get("/recommendations/alice?k=20&scenario=contentonly")
    assert status == 200, body
    top = {it["item_id"]: it for it in body["items"]}
    assert "new-172" in top, list(top)
    assert set(top["new-172"]["sources"]) == {"content"}

    produce_raw(s, "item-vectors", [(b"new-172", None)])  # deleted: a tombstone
    while w.get("/health")[1]["item_vectors"] != n0:
        assert time.monotonic() < deadline + 20
        time.sleep(0.1)
    produce_raw(s, "requests", [(b"alice", dumps({"request_id": "after-delete", "user_id": "alice",
                                                  "k": 50, "scenario": "contentonly"}))])
    rec = lists.wait(lambda r: r.get("request_id") == "after-delete")
    assert "new-172" not in {it["item_id"] for it in rec["items"]}


def test_kcat_publishes_events_and_reads_lists(stack: dict[str, Any]) -> None:
    s = stack["s"]
    lines = "".join(f"kc:{dumps(ev(f'k{n}', 'kc', i, 'favourite')).decode()}\n"
                    for n, i in enumerate(["50", "181"]))
    subprocess.run(["kcat", "-b", s.bootstrap, "-P", "-t", s.topic("interactions"), "-K:", "-X", "topic.partitioner=murmur2_random"],
                   input=lines, text=True, check=True, timeout=30)
    deadline = time.monotonic() + 30
    found: list[dict[str, Any]] = []
    while not found and time.monotonic() < deadline:
        out = subprocess.run(["kcat", "-b", s.bootstrap, "-C", "-t", s.topic("recommendations"),
                              "-o", "beginning", "-e", "-q", "-f", "%k\t%s\n"],
                             capture_output=True, text=True, check=True, timeout=30).stdout
        found = [loads(v) for k, _, v in (ln.partition("\t") for ln in out.splitlines()) if k == "kc"]
        found = [r for r in found if r["trigger_event_id"] == "k1"]
        time.sleep(0.3)
    assert found, "kcat read no list for user kc"
    check_list(found[0], 10, {"50", "181"})
