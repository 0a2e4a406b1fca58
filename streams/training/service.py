"""`genre train`: read the interaction log from Kafka, fit CF factors, publish to ``models``.

One-shot by default; with ``every`` it keeps following ``interactions`` and retrains
each time that many new valid events have arrived (the stack's scheduled retraining).
Workers hot-swap the newest artefact from the compacted ``models`` topic (key ``cf``).
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from confluent_kafka import TopicPartition

from streams.errors import InvalidMessage
from streams.kafka_io import make_consumer, make_producer, watermarks
from streams.schemas import interaction_to_dict, parse_interaction
from streams.settings import Settings
from streams.training.model import CFModel
from streams.training.trainer import TrainConfig, train_cf

log = logging.getLogger(__name__)
MODEL_KEY = b"cf"


class LogReader:
    """Reads every valid interaction from the beginning of the topic, then keeps following."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = settings.topic("interactions")
        self.consumer = make_consumer(settings, f"{settings.app_id}-trainer-{uuid.uuid4().hex[:8]}")
        parts = self.consumer.list_topics(self.topic, timeout=10).topics[self.topic].partitions
        self.consumer.assign([TopicPartition(self.topic, p, 0) for p in parts])
        self.events: list[dict[str, Any]] = []
        self.invalid = 0

    def end_offsets(self) -> dict[int, int]:
        out = {}
        for tp in self.consumer.assignment():
            out[tp.partition] = watermarks(self.consumer, tp)[1]
        return out

    def poll(self, timeout: float = 0.5) -> int:
        """Append what arrived; returns how many valid events were added."""
        added = 0
        for msg in self.consumer.consume(5000, timeout=timeout):
            if msg.error():
                continue
            try:
                ev = parse_interaction(msg.value(), self.settings.all_event_types,
                                       self.settings.max_message_bytes, msg.timestamp()[1] / 1000.0)
            except InvalidMessage:
                self.invalid += 1  # the streams workers dead-letter these; the trainer just skips
                continue
            self.events.append(interaction_to_dict(ev))
            added += 1
        return added

    def read_to_end(self, timeout_s: float = 120.0) -> int:
        """Read until every partition reaches the end offset seen at the start."""
        ends = self.end_offsets()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pos = {tp.partition: tp.offset for tp in self.consumer.position(self.consumer.assignment())}
            if all(pos.get(p, 0) >= e for p, e in ends.items() if e > 0):
                break
            self.poll()
        return len(self.events)

    def close(self) -> None:
        self.consumer.close()


def ordered(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Time order (ties by user, item): the held-out tail is then the newest events."""
    return sorted(events, key=lambda e: (e["ts"], e["user_id"], e["item_id"]))


def publish_model(settings: Settings, model: CFModel) -> None:
    producer = make_producer(settings, **{"message.max.bytes": max(settings.max_message_bytes * 2, 64 << 20)})
    producer.produce(settings.topic("models"), value=model.to_bytes(), key=MODEL_KEY)
    if producer.flush(60):
        raise RuntimeError(f"model {model.version} was not delivered to {settings.topic('models')}")
    log.info("published %s (%d items, metrics %s)", model.version, len(model.item_ids), model.metrics)


def train_once(settings: Settings, config: TrainConfig = TrainConfig(), reader: LogReader | None = None) -> CFModel:
    own = reader is None
    reader = reader or LogReader(settings)
    try:
        reader.read_to_end()
        if not reader.events:
            raise InvalidMessage(f"no valid interactions on {reader.topic}: nothing to train on")
        model = train_cf(ordered(reader.events), config)
        publish_model(settings, model)
        return model
    finally:
        if own:
            reader.close()


def train_every(settings: Settings, every: int, stop: threading.Event,
                config: TrainConfig = TrainConfig()) -> Iterator[CFModel]:
    """Retrain whenever ``every`` new valid events have arrived, until ``stop`` is set."""
    reader = LogReader(settings)
    trained_at_n = 0
    try:
        while not stop.is_set():
            reader.poll()
            if len(reader.events) - trained_at_n >= every:
                trained_at_n = len(reader.events)
                model = train_cf(ordered(reader.events), config)
                publish_model(settings, model)
                yield model
    finally:
        reader.close()


def main() -> None:
    """``python -m streams.training.service``: the stack's scheduled trainer."""
    import os
    import signal

    from streams.settings import get_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    every = int(os.environ.get("GENRE_TRAIN_EVERY", "5000"))
    for model in train_every(get_settings(), every, stop):
        log.info("trained %s on %s", model.version, model.metrics)


if __name__ == "__main__":
    main()
