"""Encoder worker: ``items`` → models → ``item-vectors`` (compacted), at least once.

A confluent-kafka consumer group (run more processes to scale). The poll loop stays
on the main thread and never runs a model: batches (flushed by size or age) go to one
compute thread, and while a batch is in flight the loop keeps polling with its
partitions paused, so group membership and rebalances are served on time. When a
batch is done its results are produced *in message order* (vectors, tombstones for
deletes, dead letters for bad items), the producer is flushed, and only then are the
offsets committed — a crash re-encodes, it never loses an item.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from confluent_kafka import Consumer, Message, Producer, TopicPartition
from prometheus_client import Counter, Histogram

from encoders.config import EncoderSettings
from encoders.pipeline import EncodedItem, ItemPipeline, Rejected, build_pipeline
from streams.deadletter import DeadLetters
from streams.errors import InvalidMessage
from streams.kafka_io import make_consumer, make_producer
from streams.schemas import ItemEvent, parse_item
from streams.settings import Settings, get_settings
from streams.wire import dumps

log = logging.getLogger(__name__)

ITEMS = Counter("genre_encoder_items_total", "Items handled by the encoder worker", ["result"])
BATCH_SECONDS = Histogram("genre_encoder_batch_seconds", "Model time per batch",
                          buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30))


@dataclass
class _Batch:
    messages: list[Message] = field(default_factory=list)
    parsed: list[ItemEvent | str] = field(default_factory=list)  # event or rejection reason
    started: float = 0.0


class EncoderWorker:
    """One member of the encoder consumer group; :meth:`run` until ``stop_event`` is set."""

    def __init__(self, settings: Settings, cfg: EncoderSettings | None = None,
                 pipeline: ItemPipeline | None = None) -> None:
        self.settings, self.cfg = settings, cfg or EncoderSettings()
        self.pipeline = pipeline or build_pipeline(self.cfg)
        self.items_topic = settings.topic("items")
        self.vectors_topic = settings.topic("item-vectors")
        self.consumer: Consumer = make_consumer(settings, self.cfg.group_id)
        self.producer: Producer = make_producer(settings)
        self.dead = DeadLetters(self.producer, settings)
        self._compute = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encoder-compute")
        self._pending = _Batch()
        self._inflight: tuple[_Batch, Future[list[EncodedItem | Rejected]]] | None = None
        self._paused = False

    # --- loop --------------------------------------------------------------------------
    def run(self, stop_event: threading.Event) -> None:
        self.consumer.subscribe([self.items_topic], on_revoke=self._on_revoke)
        log.info("encoder worker consuming %s as group %s", self.items_topic, self.cfg.group_id)
        try:
            while not stop_event.is_set():
                for msg in self.consumer.consume(self.cfg.batch_size, timeout=0.05):
                    self._accept(msg)
                self._finish_inflight(block=False)
                self._maybe_dispatch()
                self._set_paused(self._inflight is not None and
                                 len(self._pending.messages) >= self.cfg.batch_size)
            self._drain()
        finally:
            self.consumer.close()  # may call _on_revoke, which still needs the compute thread
            self._compute.shutdown(wait=True)
            self.producer.flush(30)

    def _accept(self, msg: Message) -> None:
        if msg.error() is not None:
            log.warning("consumer error: %s", msg.error())
            return
        if not self._pending.messages:
            self._pending.started = time.monotonic()
        self._pending.messages.append(msg)
        try:
            self._pending.parsed.append(parse_item(msg.value(), self.cfg.max_item_bytes, default_ts=time.time()))
        except InvalidMessage as exc:
            self._pending.parsed.append(exc.reason)

    def _maybe_dispatch(self, force: bool = False) -> None:
        batch = self._pending
        if self._inflight is not None or not batch.messages:
            return
        age_ms = (time.monotonic() - batch.started) * 1000
        if force or len(batch.messages) >= self.cfg.batch_size or age_ms >= self.cfg.batch_ms:
            upserts = [p for p in batch.parsed if isinstance(p, ItemEvent) and p.op == "upsert"]
            self._inflight = (batch, self._compute.submit(self._encode, upserts))
            self._pending = _Batch()

    def _encode(self, upserts: list[ItemEvent]) -> list[EncodedItem | Rejected]:
        t0 = time.perf_counter()
        try:
            return self.pipeline.encode_items(upserts) if upserts else []
        finally:
            BATCH_SECONDS.observe(time.perf_counter() - t0)

    def _finish_inflight(self, block: bool) -> None:
        if self._inflight is None or not (block or self._inflight[1].done()):
            return
        batch, fut = self._inflight
        self._inflight = None
        try:
            results = iter(fut.result())
            outcome = [next(results) if isinstance(p, ItemEvent) and p.op == "upsert" else p
                       for p in batch.parsed]
        except Exception as exc:  # a model crash must not kill the worker: dead-letter the batch
            log.exception("encoding a batch of %d failed", len(batch.messages))
            outcome = [f"encoder failure: {type(exc).__name__}: {exc}"] * len(batch.messages)
        self._publish(batch.messages, outcome)

    def _publish(self, messages: list[Message], outcome: list[object]) -> None:
        for msg, out in zip(messages, outcome):
            if isinstance(out, EncodedItem):
                self.producer.produce(self.vectors_topic, key=out.item_id.encode(), value=dumps(out.to_wire()))
                ITEMS.labels(result="encoded").inc()
            elif isinstance(out, ItemEvent):  # a delete
                self.producer.produce(self.vectors_topic, key=out.item_id.encode(), value=None)
                ITEMS.labels(result="deleted").inc()
            else:
                self._dead_letter(msg, out.reason if isinstance(out, Rejected) else str(out))
                ITEMS.labels(result="rejected").inc()
            self.producer.poll(0)
        undelivered = self.producer.flush(30)
        if undelivered:  # do not commit: the batch will be consumed again
            log.error("%d outputs undelivered; offsets not committed", undelivered)
            return
        self.consumer.commit(offsets=_next_offsets(messages), asynchronous=False)

    def _dead_letter(self, msg: Message, reason: str) -> None:
        """Dead-letter ``msg`` (DeadLetters truncates originals too big for its topic)."""
        self.dead.send_message(msg, reason)

    def _set_paused(self, pause: bool) -> None:
        if pause == self._paused:
            return
        parts = self.consumer.assignment()
        (self.consumer.pause if pause else self.consumer.resume)(parts)
        self._paused = pause

    def _drain(self) -> None:
        """Finish everything already read (on stop or before partitions are revoked)."""
        self._finish_inflight(block=True)
        self._maybe_dispatch(force=True)
        self._finish_inflight(block=True)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("partitions revoked (%d): finishing in-flight work first", len(partitions))
        self._drain()
        self._paused = False


def _next_offsets(messages: list[Message]) -> list[TopicPartition]:
    last: dict[tuple[str, int], int] = {}
    for m in messages:
        key = (m.topic(), m.partition())
        last[key] = max(last.get(key, -1), m.offset())
    return [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]


def run_encoder_worker(settings: Settings, stop_event: threading.Event, cfg: EncoderSettings | None = None,
                       pipeline: ItemPipeline | None = None) -> None:
    """Entry point for supervisors and tests: blocks until ``stop_event`` is set."""
    EncoderWorker(settings, cfg, pipeline).run(stop_event)


def main() -> None:
    """``python -m encoders.worker``: settings from ``GENRE_*`` / ``GENRE_ENCODER_*`` env."""
    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    run_encoder_worker(settings, stop)


if __name__ == "__main__":
    main()
