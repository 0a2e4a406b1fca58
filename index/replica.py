"""A local FAISS replica of the compacted ``item-vectors`` topic.

Start: load the snapshot (vectors + ids + per-partition offsets), then read every
partition by *manual assignment* from those offsets (no consumer group: each replica
must see all partitions, and nothing is committed to Kafka — the snapshot file is the
replica's only bookmark). A background thread applies records in order (tombstones
delete) and snapshots every ``snapshot_every_s`` / ``snapshot_every_updates``; the
apply lock makes each snapshot's vectors and offsets describe the same instant.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from pathlib import Path

import numpy as np
from confluent_kafka import OFFSET_BEGINNING, Message, TopicPartition
from prometheus_client import Counter, Gauge

from index import snapshot as snap_io
from index.base import VectorIndex
from index.config import IndexSettings
from index.errors import VectorIndexError
from index.faiss_index import FaissIndex
from streams.kafka_io import make_consumer
from streams.settings import Settings
from streams.wire import loads

log = logging.getLogger(__name__)

UPDATES = Counter("genre_index_updates_total", "item-vectors records applied", ["op"])
VECTORS = Gauge("genre_index_vectors", "Live vectors in this process's replica")


def parse_record(msg: Message, dim: int) -> tuple[str, np.ndarray | None]:
    """An ``item-vectors`` record → (item id, vector) or (item id, None) for a tombstone."""
    key = msg.key().decode() if msg.key() is not None else None
    if msg.value() is None:
        if key is None:
            raise VectorIndexError("tombstone without a key")
        return key, None
    try:
        obj = loads(msg.value())
        item_id = obj.get("item_id") or key
        vec = np.asarray(obj["vector"], dtype=np.float32)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise VectorIndexError(f"expected a JSON object with 'item_id' and 'vector', got {exc!r:.80}") from None
    if not isinstance(item_id, str) or vec.shape != (dim,) or not np.isfinite(vec).all():
        raise VectorIndexError(f"expected a finite {dim}-d vector for a string id, got shape {vec.shape} "
                               f"for {item_id!r:.40}")
    return item_id, vec


class IndexReplica:
    """Follows ``item-vectors`` into ``self.index``; ``start()`` / ``stop()``."""

    def __init__(self, settings: Settings, cfg: IndexSettings | None = None, index: VectorIndex | None = None,
                 snapshot_path: Path | None = None) -> None:
        self.settings, self.cfg = settings, cfg or IndexSettings()
        self.index: VectorIndex = index or FaissIndex(self.cfg)
        self.topic = settings.topic("item-vectors")
        self.path = snapshot_path or settings.state_dir / "index" / f"{self.topic}.npz"
        self.offsets: dict[int, int] = {}
        self.ignored = 0
        self.applied = 0  #: records applied since start (restored ones not counted)
        self._apply_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._since_snapshot, self._last_snapshot = 0, time.monotonic()

    # --- lifecycle ---------------------------------------------------------------------
    def restore(self) -> int:
        """Load the snapshot into the index; returns how many vectors it held."""
        snap = snap_io.load(self.path)
        if snap is None:
            return 0
        if snap.ids:
            self.index.upsert(snap.ids, snap.vectors)
        self.offsets = dict(snap.offsets)
        log.info("replica restored %d vectors from %s at offsets %s", len(snap.ids), self.path, snap.offsets)
        return len(snap.ids)

    def start(self) -> "IndexReplica":
        self.restore()
        consumer = make_consumer(self.settings, f"genre-replica-{uuid.uuid4().hex[:12]}")
        parts = consumer.list_topics(self.topic, timeout=10).topics[self.topic].partitions
        consumer.assign([TopicPartition(self.topic, p, self.offsets.get(p, OFFSET_BEGINNING)) for p in parts])
        self._thread = threading.Thread(target=self._loop, args=(consumer,), name="index-replica", daemon=True)
        self._thread.start()
        return self

    def stop(self, save: bool = True) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if save:
            self.snapshot()

    def _loop(self, consumer: object) -> None:
        try:
            while not self._stop.is_set():
                msgs = consumer.consume(1000, timeout=0.1)  # type: ignore[attr-defined]
                if msgs:
                    self.apply(msgs)
                if self._snapshot_due():
                    self.snapshot()
        except Exception:  # keep the error visible; the process decides whether to restart
            log.exception("replica thread died")
            raise
        finally:
            consumer.close()  # type: ignore[attr-defined]

    # --- applying ----------------------------------------------------------------------
    def apply(self, msgs: list[Message]) -> None:
        """Apply records in order: runs of upserts batched, each tombstone in its place."""
        with self._apply_lock:
            ids: list[str] = []
            vecs: list[np.ndarray] = []
            for m in msgs:
                if m.error() is not None:
                    continue
                try:
                    item_id, vec = parse_record(m, self.index.dim)
                except VectorIndexError as exc:
                    self.ignored += 1
                    log.warning("item-vectors[%d]@%d ignored: %s", m.partition(), m.offset(), exc)
                else:
                    if vec is None:
                        self._flush(ids, vecs)
                        self.index.delete([item_id])
                        UPDATES.labels(op="delete").inc()
                    else:
                        ids.append(item_id)
                        vecs.append(vec)
                self.offsets[m.partition()] = m.offset() + 1
                self.applied += 1
                self._since_snapshot += 1
            self._flush(ids, vecs)
            VECTORS.set(len(self.index))

    def _flush(self, ids: list[str], vecs: list[np.ndarray]) -> None:
        if ids:
            self.index.upsert(ids, np.vstack(vecs))
            UPDATES.labels(op="upsert").inc(len(ids))
            ids.clear()
            vecs.clear()

    # --- snapshots and progress ----------------------------------------------------------
    def _snapshot_due(self) -> bool:
        return self._since_snapshot > 0 and (
            self._since_snapshot >= self.cfg.snapshot_every_updates
            or time.monotonic() - self._last_snapshot >= self.cfg.snapshot_every_s)

    def snapshot(self) -> None:
        """Save vectors + offsets atomically (consistent: taken under the apply lock)."""
        with self._apply_lock:
            ids, vecs = self.index.export()
            snap_io.save(self.path, snap_io.Snapshot(ids, vecs, dict(self.offsets),
                                                     {"topic": self.topic, "dim": self.index.dim}))
            self._since_snapshot, self._last_snapshot = 0, time.monotonic()

    def end_offsets(self) -> dict[int, int]:
        """The topic's current high watermarks (what "caught up" means right now)."""
        c = make_consumer(self.settings, f"genre-replica-probe-{uuid.uuid4().hex[:8]}")
        try:
            parts = c.list_topics(self.topic, timeout=10).topics[self.topic].partitions
            return {p: c.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)[1] for p in parts}
        finally:
            c.close()

    def wait_caught_up(self, timeout_s: float = 30.0) -> bool:
        """Block until everything published before this call is applied (True) or timeout."""
        target = self.end_offsets()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(self.offsets.get(p, 0) >= hi for p, hi in target.items()):
                return True
            time.sleep(0.02)
        return False
