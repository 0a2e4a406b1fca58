"""Every topic of the wire contract, declared once, and idempotent creation."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from streams.errors import KafkaSetupError
from streams.settings import TOPIC_NAMES, Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    compacted: bool = False
    #: None = ``settings.partitions``. Control and models are single-partition so that
    #: every worker sees one total order of config versions and model versions.
    partitions: int | None = None
    retention_ms: int | None = None


TOPIC_SPECS: dict[str, TopicSpec] = {
    "interactions": TopicSpec("interactions"),
    "items": TopicSpec("items"),
    "item-vectors": TopicSpec("item-vectors", compacted=True),
    "recommendations": TopicSpec("recommendations", retention_ms=7 * 24 * 3600 * 1000),
    # Control keeps every version forever (history is part of the contract; messages are
    # tiny), so it is not compacted: workers read it from the start and keep the newest
    # valid version per scenario.
    "control": TopicSpec("control", partitions=1, retention_ms=-1),
    "deadletter": TopicSpec("deadletter", partitions=1, retention_ms=30 * 24 * 3600 * 1000),
    "requests": TopicSpec("requests"),
    "models": TopicSpec("models", compacted=True, partitions=1),
}
assert set(TOPIC_SPECS) == set(TOPIC_NAMES)


def topic_config(spec: TopicSpec, settings: Settings) -> dict[str, str]:
    conf = {"cleanup.policy": "compact" if spec.compacted else "delete",
            "max.message.bytes": str(max(settings.max_message_bytes * 2, 1_048_588))}
    if spec.retention_ms is not None:
        conf["retention.ms"] = str(spec.retention_ms)
    return conf


def new_topics(settings: Settings) -> list[NewTopic]:
    return [NewTopic(settings.topic(s.name), num_partitions=s.partitions or settings.partitions,
                     replication_factor=settings.replication_factor, config=topic_config(s, settings))
            for s in TOPIC_SPECS.values()]


def create_topics(settings: Settings, admin: AdminClient | None = None, timeout_s: float = 30) -> list[str]:
    """Create the missing topics; return the names created (empty when all existed).

    Idempotent: existing topics are left as they are (their partition count is never
    changed behind the operator's back, since that would move keys between partitions).
    """
    admin = admin or AdminClient(settings.kafka_config())
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    todo = [t for t in new_topics(settings) if t.topic not in existing]
    if not todo:
        return []
    created: list[str] = []
    for name, fut in admin.create_topics(todo, request_timeout=timeout_s).items():
        try:
            fut.result()
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":  # a concurrent creator won the race
                raise KafkaSetupError(f"could not create topic {name}: {exc}") from exc
    wait_for_leaders(admin, created, timeout_s)
    log.info("created topics: %s", ", ".join(created))
    return created


def wait_for_leaders(admin: AdminClient, topics: list[str], timeout_s: float = 30) -> None:
    """Block until every partition of ``topics`` has a leader: right after creation,
    offset requests fail with NOT_LEADER_FOR_PARTITION for a moment."""
    import time
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        md = admin.list_topics(timeout=timeout_s).topics
        if all(t in md and md[t].partitions and all(p.leader >= 0 for p in md[t].partitions.values())
               for t in topics):
            return
        time.sleep(0.1)
    raise KafkaSetupError(f"topics {topics} have partitions without a leader after {timeout_s:.0f}s")
