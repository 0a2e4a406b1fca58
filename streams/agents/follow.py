"""Follow a whole topic on every worker (no consumer group), e.g. ``item-vectors`` and ``models``.

Agents in the worker's consumer group see only their share of partitions; item vectors and
model artefacts are needed by *every* worker, so each one reads all partitions from the
start with its own group-less aiokafka consumer and keeps the newest value per key. A
plain consumer rather than a Faust GlobalTable: the values are decoded once on arrival
(into numpy) instead of on every lookup, and nothing is written back to Kafka.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.helpers import create_ssl_context

from streams.settings import Settings

log = logging.getLogger(__name__)

OnRecord = Callable[[bytes | None, bytes | None, int, int, float], None]  # key, value, partition, offset, ts (s)


def aiokafka_config(settings: Settings) -> dict[str, Any]:
    """aiokafka client settings (security included) from the same Settings as every client."""
    conf: dict[str, Any] = {"bootstrap_servers": settings.bootstrap.split(","),
                            "security_protocol": settings.kafka_security_protocol}
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        conf["ssl_context"] = create_ssl_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None,
            certfile=str(settings.kafka_ssl_certfile) if settings.kafka_ssl_certfile else None,
            keyfile=str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None)
    if settings.kafka_sasl_mechanism:
        conf["sasl_mechanism"] = settings.kafka_sasl_mechanism
        conf["sasl_plain_username"] = settings.kafka_sasl_username
        if settings.kafka_sasl_password:
            conf["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return conf


class TopicFollower:
    """Reads every partition of ``topic`` from the beginning and keeps following it.

    ``ready`` is set once the end offsets seen at start have been reached, so the worker can
    hold back interactions until the vectors that existed before it started are loaded.
    """

    def __init__(self, settings: Settings, topic: str, on_record: OnRecord) -> None:
        self.settings, self.topic, self.on_record = settings, topic, on_record
        self.ready = asyncio.Event()
        self.records = 0
        self.errors = 0

    async def run(self) -> None:
        """Follow until cancelled (the worker's stop cancels it)."""
        consumer = AIOKafkaConsumer(**aiokafka_config(self.settings), group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    max_partition_fetch_bytes=8 * 1024 * 1024)
        await consumer.start()
        try:
            tps = await self._assign(consumer)
            ends = await consumer.end_offsets(tps)
            pending = {tp for tp, end in ends.items() if end > 0}
            if not pending:
                self.ready.set()
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
                for tp, msgs in batches.items():
                    for m in msgs:
                        self._deliver(m.key, m.value, tp.partition, m.offset, m.timestamp / 1000.0)
                if pending:
                    pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
                if not pending and not self.ready.is_set():
                    log.info("%s: caught up (%d records)", self.topic, self.records)
                    self.ready.set()
        finally:
            await consumer.stop()

    async def _assign(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        for _ in range(60):
            parts = consumer.partitions_for_topic(self.topic)
            if parts:
                break
            await consumer._client.force_metadata_update()  # topic may be created moments later
            await asyncio.sleep(0.5)
        else:
            raise RuntimeError(f"topic {self.topic} does not exist; run 'genre up' or create topics")
        tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        return tps

    def _deliver(self, key: bytes | None, value: bytes | None, partition: int, offset: int,
                 ts: float) -> None:
        self.records += 1
        try:
            self.on_record(key, value, partition, offset, ts)
        except Exception:  # one bad record must not stop the follower
            self.errors += 1
            log.exception("%s[%d]@%d: could not apply record", self.topic, partition, offset)
