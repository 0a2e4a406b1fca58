"""Shared fixtures: one real Kafka broker per test session, fresh topics per test.

The broker is the project's own launcher (``streams.localkafka``) on free ports with a
throw-away data folder, unless GENRE_KAFKA_BOOTSTRAP points at a cluster already running.
Each test gets its own topic prefix, so tests never see each other's messages.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from streams import localkafka  # noqa: E402
from streams.localkafka import free_port  # noqa: E402
from streams.settings import Settings  # noqa: E402
from streams.topics import create_topics  # noqa: E402


@pytest.fixture(scope="session")
def kafka_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings pointing at a running broker (started here unless one is given)."""
    external = os.environ.get("GENRE_KAFKA_BOOTSTRAP")
    state = tmp_path_factory.mktemp("genre-state")
    if external:
        yield Settings(kafka_bootstrap=external, state_dir=state)
        return
    s = Settings(state_dir=state, kafka_port=free_port(), kafka_controller_port=free_port(),
                 partitions=4)
    localkafka.start(s)
    try:
        yield s
    finally:
        localkafka.stop(s)


@pytest.fixture
def settings(kafka_settings: Settings, tmp_path: Path) -> Settings:
    """Per-test settings: the session broker, a unique topic prefix (topics created), own state dir."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    s = kafka_settings.model_copy(update={"topic_prefix": prefix, "state_dir": tmp_path,
                                          "kafka_data_dir": kafka_settings.kafka_dir})
    create_topics(s)
    return s
