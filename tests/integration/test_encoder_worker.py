"""Encoder worker + index replica on the real broker with the real models.

MovieLens-100K's 1,682 items (title + genres) go through ``items`` → encoder worker →
``item-vectors`` → a FAISS replica; bad items land in ``deadletter``; updates and
deletes reach the replica; a restarted replica resumes from its snapshot offsets.
"""
from __future__ import annotations

import base64
import logging
import threading
import time
import uuid
from collections.abc import Iterator

import numpy as np
import pytest

from encoders import registry, samples
from encoders.config import EncoderSettings
from encoders.fusion import Fusion
from encoders.pipeline import ItemPipeline
from encoders.worker import run_encoder_worker
from index.config import IndexSettings
from index.replica import IndexReplica
from streams.data.events import item_events
from streams.data.movielens import load_movielens
from streams.kafka_io import make_consumer
from streams.settings import Settings
from streams.wire import loads
from tests.kafkatools import produce, read, read_n

pytestmark = [pytest.mark.integration, pytest.mark.slow]
log = logging.getLogger(__name__)


@pytest.fixture(scope="module")
def pipeline() -> ItemPipeline:
    encs = {"text": registry.shared("minilm-l6-v2"), "image": registry.shared("efficientnet-lite0"),
            "audio": registry.shared("aisfx")}
    return ItemPipeline(encs, Fusion({m: e.dim for m, e in encs.items()}, {"text": 1, "image": .5, "audio": .5}),
                        max_media_bytes=1_000_000)


@pytest.fixture
def worker(settings: Settings, pipeline: ItemPipeline) -> Iterator[EncoderSettings]:
    cfg = EncoderSettings(batch_size=128, batch_ms=50, max_item_bytes=1_500_000,
                          group_id=f"enc-{uuid.uuid4().hex[:6]}")
    stop = threading.Event()
    t = threading.Thread(target=run_encoder_worker, args=(settings, stop, cfg, pipeline), daemon=True)
    t.start()
    yield cfg
    stop.set()
    t.join(60)
    assert not t.is_alive(), "worker did not stop"


def _wait(pred, timeout_s: float = 90.0) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if pred():
            return time.monotonic() - t0
        time.sleep(0.01)
    raise AssertionError(f"condition not met within {timeout_s}s")


def _b64(data: bytes) -> dict[str, str]:
    return {"b64": base64.b64encode(data).decode()}


def test_movielens_end_to_end(settings: Settings, worker: EncoderSettings) -> None:
    events = list(item_events(load_movielens(with_media=False)))
    assert len(events) == 1682
    empty = {e["item_id"] for e in events if not (e["title"] or e["text"] or e["tags"])}
    assert empty == {"267"}  # MovieLens' "unknown" movie: dead-lettered like any empty item
    n = len(events) - len(empty) + 1  # + the media item
    icfg = IndexSettings(dim=384, device="cpu", snapshot_every_s=3600)
    replica = IndexReplica(settings, icfg).start()

    bad = [("b1", b"{not json"), ("b2", {"item_id": "b2", "op": "upsert", "tags": []}),
           ("b3", {"item_id": "b3", "title": "Broken poster", "image": _b64(b"\x89PNG garbage")}),
           ("b4", {"item_id": "b4", "title": "Remote", "image": {"url": "http://example.com/p.jpg"}}),
           ("b5", {"item_id": "b5", "title": "Huge", "text": "x" * 1_600_000})]
    media = ("m1", {"item_id": "m1", "title": "Sound and vision", "image": _b64(samples.image_bytes(3)),
                    "audio": _b64(samples.audio_bytes("tone", 2))})
    t0 = time.monotonic()
    produce(settings, "items", [(e["item_id"], e) for e in events[:800]] + bad + [media]
            + [(e["item_id"], e) for e in events[800:]])
    took = _wait(lambda: len(replica.index) == n, 120)
    print(f"\n[measure] {n} items publish->all searchable: {took:.1f}s")

    # bad items: dead-lettered with reasons, the worker kept going
    dead = {(loads(m.value())["source"]["partition"], loads(m.value())["source"]["offset"]): loads(m.value())["reason"]
            for m in read_n(settings, "deadletter", 6, timeout_s=30)}
    reasons = " | ".join(sorted(dead.values()))
    assert len(dead) == 6
    for needle in ("not JSON", "no title, text, tags or media", "image: cannot decode", "URLs are not fetched",
                   "oversized"):
        assert needle in reasons, reasons

    # the vectors are real: Star Wars' neighbours are its sequels
    hits = replica.index.search(replica.index.get("50"), 5, deny={"50"})
    assert {"172", "181"} <= {h.item_id for h in hits}, hits

    # the wire value carries modalities and model versions
    msgs = read(settings, "item-vectors", lambda ms: any(m.key() == b"m1" for m in ms), timeout_s=30)
    [rec] = [loads(m.value()) for m in msgs if m.key() == b"m1"]
    assert set(rec["modalities"]) == {"text", "image", "audio"} and rec["dim"] == 384 and len(rec["vector"]) == 384
    assert len(rec["modalities"]["image"]) == 1280 and "efficientnet-lite0" in rec["model"]

    # update and delete reach the replica; time publish -> searchable for one update
    before = replica.index.get("1").copy()
    t_pub = time.monotonic()
    produce(settings, "items", [("1", {"item_id": "1", "title": "Deep sea documentary", "tags": ["Documentary"]}),
                                ("2", {"item_id": "2", "op": "delete"})])
    latency = _wait(lambda: "2" not in replica.index and not np.allclose(replica.index.get("1"), before))
    print(f"[measure] update+delete publish->searchable: {latency * 1000:.0f} ms (time-based batch_ms=50)")
    assert latency < 10
    assert len(replica.index) == n - 1

    # offsets were committed only after the outputs were produced: the group is at the end
    c = make_consumer(settings, worker.group_id)
    try:
        from confluent_kafka import TopicPartition
        topic = settings.topic("items")
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        tps = [TopicPartition(topic, p) for p in parts]
        committed = {tp.partition: tp.offset for tp in c.committed(tps, timeout=10)}
        high = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    finally:
        c.close()
    assert committed == high

    # restart: the new replica resumes from the snapshot, not offset zero
    replica.stop()
    again = IndexReplica(settings, icfg)
    assert again.restore() == n - 1 and again.offsets == replica.offsets
    again.offsets.clear()  # restore() again inside start(); prove start() uses the file
    again = IndexReplica(settings, icfg).start()
    produce(settings, "items", [("new", {"item_id": "new", "title": "A brand new film", "tags": ["Drama"]})])
    _wait(lambda: "new" in again.index, 60)
    assert again.wait_caught_up(30)
    assert again.applied == 1, f"re-read {again.applied} records instead of resuming from the snapshot"
    assert len(again.index) == n and "2" not in again.index
    np.testing.assert_allclose(again.index.get("1"), replica.index.get("1"), atol=1e-6)
    again.stop()
