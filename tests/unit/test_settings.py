from __future__ import annotations

import pydantic
import pytest

from streams.deadletter import envelope
from streams.settings import Settings


def test_env_overrides_and_topic_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENRE_TOPIC_PREFIX", "acme.")
    monkeypatch.setenv("GENRE_KAFKA_BOOTSTRAP", "k1:9092,k2:9092")
    monkeypatch.setenv("GENRE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("GENRE_KAFKA_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("GENRE_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("GENRE_KAFKA_SASL_PASSWORD", "s3cret")
    s = Settings()
    assert s.topic("item-vectors") == "acme.item-vectors"
    assert not s.uses_local_kafka
    conf = s.kafka_config()
    assert conf["bootstrap.servers"] == "k1:9092,k2:9092"
    assert (conf["security.protocol"], conf["sasl.username"], conf["sasl.password"]) == ("SASL_SSL", "svc", "s3cret")
    assert "s3cret" not in repr(s)


def test_invalid_settings_fail_loudly() -> None:
    with pytest.raises(pydantic.ValidationError, match="topic_prefix"):
        Settings(topic_prefix="bad prefix")
    with pytest.raises(pydantic.ValidationError):
        Settings(partitions=0)
    with pytest.raises(KeyError, match="unknown topic"):
        Settings().topic("nope")


def test_deadletter_envelope_keeps_original_bytes() -> None:
    env = envelope(b"\xff\x00bad", b"u1", "genre.interactions", 3, 42, "not JSON")
    assert env["source"] == {"topic": "genre.interactions", "partition": 3, "offset": 42}
    assert env["value"] is None and env["value_b64"] == "/wBiYWQ=" and env["key"] == "u1"


def test_deadletter_envelope_truncates_oversized_originals() -> None:
    env = envelope(b"x" * 5000, None, "genre.items", 0, 7, "oversized", keep_bytes=1024)
    assert env["value_truncated"] and env["value_bytes"] == 5000 and len(env["value"]) == 1024
    whole = envelope(b"abc", None, "genre.items", 0, 8, "bad", keep_bytes=1024)
    assert not whole["value_truncated"] and whole["value_bytes"] == 3
