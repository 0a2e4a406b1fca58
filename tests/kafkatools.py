"""Small real-broker helpers shared by integration tests (produce, read back)."""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import Message, TopicPartition

from streams.kafka_io import make_consumer, make_producer
from streams.settings import Settings
from streams.wire import dumps, loads


def produce(settings: Settings, topic: str, records: Iterable[tuple[str | None, Any]]) -> int:
    """Produce (key, value) pairs to a logical topic; values that are not bytes become JSON."""
    p = make_producer(settings)
    n = 0
    for key, value in records:
        raw = value if value is None or isinstance(value, bytes) else dumps(value)
        p.produce(settings.topic(topic), value=raw, key=key.encode() if key else None)
        n += 1
        if n % 10_000 == 0:
            p.poll(0)
    assert p.flush(30) == 0, "undelivered messages"
    return n


def read(settings: Settings, topic: str, until: Callable[[list[Message]], bool],
         timeout_s: float = 30.0) -> list[Message]:
    """Read a topic from the beginning (all partitions) until ``until(messages)`` or timeout."""
    c = make_consumer(settings, f"test-{uuid.uuid4().hex[:8]}")
    name = settings.topic(topic)
    md = c.list_topics(name, timeout=10).topics[name]
    c.assign([TopicPartition(name, p, 0) for p in md.partitions])
    out: list[Message] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not until(out):
            for m in c.consume(1000, timeout=0.2):
                if m.error() is None:
                    out.append(m)
    finally:
        c.close()
    return out


def read_n(settings: Settings, topic: str, n: int, timeout_s: float = 30.0) -> list[Message]:
    return read(settings, topic, lambda ms: len(ms) >= n, timeout_s)


def values(msgs: list[Message]) -> list[Any]:
    return [loads(m.value()) if m.value() is not None else None for m in msgs]
