"""One typed, frozen settings object for every process (``GENRE_*`` env overrides).

Every default is listed, with a comment, in ``deploy/genre.example.env``. Runtime
knobs that change while the system runs (fusion weights, k, …) are *not* here: they
live in the compacted ``control`` topic (see ``streams.ranking``).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Logical topic names; the physical name is ``topic_prefix + name``.
TOPIC_NAMES = (
    "interactions", "items", "item-vectors", "recommendations",
    "control", "deadletter", "requests", "models",
)


class EventTypeSpec(BaseModel):
    """How one interaction type is validated and weighted.

    ``weight`` is the signal strength for the user's interest vector (negative
    subtracts). Types with ``requires_value`` (ratings) must carry a numeric
    ``value`` within ``[min_value, max_value]``; their weight comes from the rating map.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    weight: float = 1.0
    requires_value: bool = False
    min_value: float | None = None
    max_value: float | None = None

    @model_validator(mode="after")
    def _range_is_ordered(self) -> "EventTypeSpec":
        if self.min_value is not None and self.max_value is not None and self.min_value > self.max_value:
            raise ValueError(f"min_value {self.min_value} > max_value {self.max_value}")
        return self


DEFAULT_EVENT_TYPES: dict[str, EventTypeSpec] = {
    "click": EventTypeSpec(weight=1.0),
    "rating": EventTypeSpec(weight=1.0, requires_value=True, min_value=0.5, max_value=5.0),
    "favourite": EventTypeSpec(weight=2.0),
    "unfavourite": EventTypeSpec(weight=-2.0),
}


class Settings(BaseSettings):
    """Process settings. Construct directly in tests; ``get_settings()`` elsewhere."""

    model_config = SettingsConfigDict(env_prefix="GENRE_", frozen=True, extra="ignore")

    # --- Kafka connection -------------------------------------------------------------
    kafka_bootstrap: str | None = Field(
        default=None, description="External cluster 'host:port,…'; unset = the local broker.")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None

    # --- local broker (used when kafka_bootstrap is unset) -----------------------------
    kafka_host: str = "127.0.0.1"
    kafka_port: int = Field(default=19092, ge=1, le=65535)
    kafka_controller_port: int = Field(default=19093, ge=1, le=65535)
    kafka_version: str = "4.1.1"
    kafka_heap: str = "512m"
    kafka_start_timeout_s: float = 90.0

    # --- folders ------------------------------------------------------------------------
    cache_dir: Path = Path.home() / ".cache" / "genre-stream"
    state_dir: Path = Path(".state")
    kafka_data_dir: Path | None = None

    # --- topics -------------------------------------------------------------------------
    topic_prefix: str = "genre."
    partitions: int = Field(default=8, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    max_message_bytes: int = Field(default=1_000_000, ge=1024)

    # --- events -------------------------------------------------------------------------
    event_types: dict[str, EventTypeSpec] = Field(default_factory=lambda: dict(DEFAULT_EVENT_TYPES))
    extra_event_types: dict[str, EventTypeSpec] = Field(
        default_factory=dict, description="Added to event_types, e.g. {\"purchase\": {\"weight\": 3}}.")

    # --- workers ------------------------------------------------------------------------
    app_id: str = "genre-stream"
    worker_web_port: int = Field(default=6066, ge=1, le=65535)
    table_store: str = Field(default="memory://", description="Faust table store: memory:// or rocksdict:// (on-disk)")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_is_legal(cls, v: str) -> str:
        import re
        if v and not re.fullmatch(r"[A-Za-z0-9._-]+", v):
            raise ValueError(f"topic_prefix may hold only letters, digits, '.', '_' and '-'; got {v!r}")
        return v

    # ---------------------------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        """Bootstrap servers for every client."""
        return self.kafka_bootstrap or f"{self.kafka_host}:{self.kafka_port}"

    @property
    def uses_local_kafka(self) -> bool:
        return self.kafka_bootstrap is None

    @property
    def kafka_dir(self) -> Path:
        return self.kafka_data_dir or (self.state_dir / "kafka")

    @property
    def all_event_types(self) -> dict[str, EventTypeSpec]:
        return {**self.event_types, **self.extra_event_types}

    def topic(self, name: str) -> str:
        """Physical topic name for a logical one (``topic("items") -> "genre.items"``)."""
        if name not in TOPIC_NAMES:
            raise KeyError(f"unknown topic {name!r}; expected one of {', '.join(TOPIC_NAMES)}")
        return self.topic_prefix + name

    def kafka_config(self) -> dict[str, Any]:
        """librdkafka (confluent-kafka) client settings, security included."""
        conf: dict[str, Any] = {"bootstrap.servers": self.bootstrap,
                                "security.protocol": self.kafka_security_protocol}
        if self.kafka_sasl_mechanism:
            conf["sasl.mechanism"] = self.kafka_sasl_mechanism
        if self.kafka_sasl_username:
            conf["sasl.username"] = self.kafka_sasl_username
        if self.kafka_sasl_password:
            conf["sasl.password"] = self.kafka_sasl_password.get_secret_value()
        for key, path in (("ssl.ca.location", self.kafka_ssl_cafile),
                          ("ssl.certificate.location", self.kafka_ssl_certfile),
                          ("ssl.key.location", self.kafka_ssl_keyfile)):
            if path:
                conf[key] = str(path)
        return conf


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
