"""The dead-letter topic: every rejected message, with its original bytes and the reason.

The value is a JSON envelope so any client (kcat included) can read why a message was
rejected; the original bytes travel base64-encoded (exact) and, when they are UTF-8,
also as text for people. Headers repeat the reason and source for tools that filter on
them. Counting happens here, so every producer of dead letters is measured the same way.
"""
from __future__ import annotations

import base64
import logging
import socket
import time
from typing import Any, Protocol

from prometheus_client import Counter

from streams.settings import Settings
from streams.wire import dumps

log = logging.getLogger(__name__)

DEAD_LETTERS = Counter("genre_deadletter_messages_total", "Messages sent to the dead-letter topic",
                       ["source_topic"])


class _Producer(Protocol):
    def produce(self, topic: str, value: bytes | None = ..., key: bytes | None = ..., **kw: Any) -> None: ...
    def poll(self, timeout: float = ...) -> int: ...


def _as_bytes(v: bytes | str | None) -> bytes | None:
    return v.encode() if isinstance(v, str) else v


def envelope(raw: bytes | None, key: bytes | None, topic: str, partition: int | None,
             offset: int | None, reason: str, worker: str | None = None,
             keep_bytes: int | None = None) -> dict[str, Any]:
    """The dead-letter record for one rejected message (pure, for tests and tools).

    ``keep_bytes`` bounds the copy of the original: an oversized message cannot fit the
    dead-letter topic whole, so its first ``keep_bytes`` travel, marked truncated, and the
    source topic/partition/offset point at the full original.
    """
    size = len(raw) if raw is not None else 0
    truncated = keep_bytes is not None and raw is not None and size > keep_bytes
    if truncated:
        raw = raw[:keep_bytes]  # type: ignore[index]
    text: str | None = None
    if raw is not None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    return {
        "reason": reason,
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "key": key.decode("utf-8", "replace") if key is not None else None,
        "value": text if text is None or len(text) <= 4096 else text[:4096] + "…",
        "value_b64": base64.b64encode(raw).decode() if raw is not None else None,
        "value_bytes": size,
        "value_truncated": truncated,
        "worker": worker or socket.gethostname(),
        "ts": time.time(),
    }


class DeadLetters:
    """Sends rejected messages to ``<prefix>deadletter``; never raises on bad input."""

    def __init__(self, producer: _Producer, settings: Settings, worker: str | None = None) -> None:
        self._producer = producer
        self._topic = settings.topic("deadletter")
        self._worker = worker
        # The dead-letter topic takes 2 × max_message_bytes; base64 inflates by 4/3 and the
        # envelope adds a few KB, so originals up to max_message_bytes travel whole.
        self._keep = settings.max_message_bytes

    def send(self, raw: bytes | str | None, topic: str, partition: int | None, offset: int | None,
             reason: str, key: bytes | str | None = None) -> None:
        rec = envelope(_as_bytes(raw), _as_bytes(key), topic, partition, offset, reason, self._worker,
                       keep_bytes=self._keep)
        log.warning("dead letter from %s[%s]@%s: %s", topic, partition, offset, reason)
        self._producer.produce(
            self._topic, value=dumps(rec), key=_as_bytes(key),
            headers=[("genre.reason", reason.encode()), ("genre.source.topic", topic.encode())])
        self._producer.poll(0)
        DEAD_LETTERS.labels(source_topic=topic).inc()

    def send_message(self, msg: Any, reason: str) -> None:
        """Shortcut for a confluent-kafka ``Message``."""
        self.send(msg.value(), msg.topic(), msg.partition(), msg.offset(), reason, key=msg.key())
