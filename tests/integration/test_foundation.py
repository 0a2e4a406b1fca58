"""The foundation on the real broker: topics, round trips, dead letters, the CLI."""
from __future__ import annotations

import pytest
from confluent_kafka.admin import ConfigResource, ResourceType

from streams.deadletter import DeadLetters
from streams.errors import InvalidMessage
from streams.kafka_io import make_admin, make_producer
from streams.schemas import parse_interaction
from streams.settings import TOPIC_NAMES, Settings
from streams.topics import create_topics
from tests.kafkatools import produce, read_n, values

pytestmark = pytest.mark.integration


def test_round_trip_through_every_topic(settings: Settings) -> None:
    for name in TOPIC_NAMES:
        payload = {"topic": name, "n": 1, "vector": [0.5, -0.25]}
        produce(settings, name, [("k-" + name, payload)])
        [msg] = read_n(settings, name, 1)
        assert (msg.key(), values([msg])[0]) == (b"k-" + name.encode(), payload)


def test_topic_creation_is_idempotent_with_contract_configs(settings: Settings) -> None:
    assert create_topics(settings) == []  # the fixture created them already
    admin = make_admin(settings)
    md = admin.list_topics(timeout=10).topics
    assert len(md[settings.topic("interactions")].partitions) == settings.partitions
    assert len(md[settings.topic("control")].partitions) == 1
    res = [ConfigResource(ResourceType.TOPIC, settings.topic(t)) for t in ("item-vectors", "interactions", "control")]
    got = {r.name: f.result() for r, f in admin.describe_configs(res).items()}
    assert got[settings.topic("item-vectors")]["cleanup.policy"].value == "compact"
    assert got[settings.topic("interactions")]["cleanup.policy"].value == "delete"
    assert got[settings.topic("control")]["retention.ms"].value == "-1"


def test_dead_letters_keep_bytes_source_and_reason(settings: Settings) -> None:
    bad = [b"{oops", b'{"event_id":"e","type":"rating","user_id":"u","item_id":"i","ts":1,"value":9}']
    produce(settings, "interactions", [("u", b) for b in bad])
    msgs = read_n(settings, "interactions", 2)
    dl = DeadLetters(make_producer(settings), settings, worker="test")
    for m in msgs:
        with pytest.raises(InvalidMessage) as exc:
            parse_interaction(m.value(), settings.all_event_types, settings.max_message_bytes)
        dl.send_message(m, exc.value.reason)
    dl._producer.flush(10)
    letters = values(read_n(settings, "deadletter", 2))
    by_value = {l["value"]: l for l in letters}
    assert by_value["{oops"]["reason"].startswith("not JSON")
    assert "rating value 9 outside [0.5, 5]" in by_value[bad[1].decode()]["reason"]
    assert {l["source"]["topic"] for l in letters} == {settings.topic("interactions")}
    offsets = sorted((m.partition(), m.offset()) for m in msgs)
    assert sorted((l["source"]["partition"], l["source"]["offset"]) for l in letters) == offsets
