"""Runtime configuration through the single-partition ``control`` topic.

Writers (``genre config set``, ``PUT /config``, the bandit, or any Kafka client) publish
*proposals*: partial updates for one scenario. Every process folds the topic in order
with :class:`ControlLog`; the fold is pure and deterministic, so all workers agree on the
active config without talking to each other. The version of an accepted proposal is its
control-topic offset + 1: unique, increasing, never reused (version 0 = built-in
defaults). An invalid proposal is refused and the last good version stays.
"""
from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from streams.errors import InvalidMessage
from streams.kafka_io import watermarks
from streams.schemas import decode_object
from streams.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_SCENARIO = "default"
#: Proposal fields that describe the change, not the config.
META_FIELDS = ("scenario", "source", "note", "evidence")

Validator = Callable[[Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class ConfigVersion:
    scenario: str
    version: int
    config: dict[str, Any]
    ts: float = 0.0
    source: str | None = None
    note: str | None = None
    evidence: Any = None


def merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge a partial update (nested dicts merge, everything else replaces)."""
    out = copy.deepcopy(dict(base))
    for k, v in patch.items():
        out[k] = merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else copy.deepcopy(v)
    return out


class ControlLog:
    """The ordered fold of control proposals: current config per scenario + history."""

    def __init__(self, validate: Validator, defaults: Mapping[str, Any]) -> None:
        self._validate = validate
        self._defaults = validate(defaults)
        self.current: dict[str, ConfigVersion] = {}
        self.history: list[ConfigVersion] = []
        self.next_offset = 0  # the control-topic offset to read next

    def get(self, scenario: str | None = None) -> ConfigVersion:
        """Active config of a scenario; falls back to the default scenario, then to v0."""
        sc = scenario or DEFAULT_SCENARIO
        if sc in self.current:
            return self.current[sc]
        base = self.current.get(DEFAULT_SCENARIO)
        return ConfigVersion(sc, base.version if base else 0, base.config if base else dict(self._defaults))

    def check(self, proposal: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """Validate a decoded proposal against the current config; return (scenario, full config)."""
        sc = proposal.get("scenario", DEFAULT_SCENARIO)
        if not isinstance(sc, str) or not sc:
            raise InvalidMessage(f"'scenario' must be a non-empty string, got {sc!r:.40}")
        patch = {k: v for k, v in proposal.items() if k not in META_FIELDS}
        if not patch:
            raise InvalidMessage("proposal changes nothing: no config fields besides scenario/source/note")
        try:
            return sc, self._validate(merge(self.get(sc).config, patch))
        except InvalidMessage:
            raise
        except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
            raise InvalidMessage(f"invalid config for scenario {sc!r}: {exc}") from None

    def apply(self, raw: bytes | None, offset: int, max_bytes: int = 1_000_000, ts: float = 0.0) -> ConfigVersion:
        """Fold one control message; raises InvalidMessage (the fold is unchanged)."""
        self.next_offset = offset + 1
        proposal = decode_object(raw, max_bytes)
        sc, config = self.check(proposal)
        cv = ConfigVersion(sc, offset + 1, config, ts or time.time(), proposal.get("source"),
                           proposal.get("note"), proposal.get("evidence"))
        self.current[sc] = cv
        self.history.append(cv)
        return cv


class ControlFollower:
    """Keeps a ControlLog up to date from the topic in a background thread.

    Reads the whole topic from the beginning (no consumer group: every process needs
    every version). ``on_change`` runs on the follower thread after each accepted version.
    """

    def __init__(self, settings: Settings, log_: ControlLog,
                 on_change: Callable[[ConfigVersion], None] | None = None,
                 on_invalid: Callable[[Any, str], None] | None = None) -> None:
        from streams.kafka_io import make_consumer
        self.settings, self.log, self._on_change, self._on_invalid = settings, log_, on_change, on_invalid
        self._consumer = make_consumer(settings, f"{settings.app_id}-control-follower")
        self._topic = settings.topic("control")
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def catch_up(self, timeout_s: float = 10.0) -> None:
        """Read until the end offset seen now (used before serving, and by the CLI)."""
        tp = TopicPartition(self._topic, 0)
        _, high = watermarks(self._consumer, tp, timeout_s)
        if self._thread is None:
            self._consumer.assign([TopicPartition(self._topic, 0, self.log.next_offset or OFFSET_BEGINNING)])
        deadline = time.monotonic() + timeout_s
        while self.log.next_offset < high and time.monotonic() < deadline:
            self._poll_once(0.2)

    def _poll_once(self, timeout: float) -> None:
        for msg in self._consumer.consume(100, timeout=timeout):
            if msg.error():
                continue
            with self._lock:
                try:
                    cv = self.log.apply(msg.value(), msg.offset(), self.settings.max_message_bytes,
                                        msg.timestamp()[1] / 1000.0)
                except InvalidMessage as exc:
                    log.warning("control offset %d refused: %s", msg.offset(), exc.reason)
                    if self._on_invalid:
                        self._on_invalid(msg, exc.reason)
                    continue
            log.info("config %s v%d applied", cv.scenario, cv.version)
            if self._on_change:
                self._on_change(cv)

    def start(self) -> "ControlFollower":
        self.catch_up()
        self._thread = threading.Thread(target=self._run, name="control-follower", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self._poll_once(0.2)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        self._consumer.close()
