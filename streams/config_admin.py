"""`genre config show|set|history` and the HTTP handlers' logic: read and propose configs.

A proposal is validated against the current fold *before* it is published, so a person
gets the error at once; an invalid one is still recorded in ``deadletter`` (with the
reason) for the audit trail, and nothing is written to ``control``.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from streams.control import ConfigVersion, ControlFollower, ControlLog
from streams.deadletter import DeadLetters
from streams.errors import InvalidMessage
from streams.kafka_io import make_producer
from streams.settings import Settings
from streams.wire import dumps


def new_control_log() -> ControlLog:
    """A ControlLog validating with the fusion config model (the product's runtime config)."""
    from streams.ranking.config import default_config, validate_config
    return ControlLog(validate_config, default_config())


def current(settings: Settings, timeout_s: float = 10.0) -> ControlLog:
    """The fold of the whole control topic as of now."""
    follower = ControlFollower(settings, new_control_log())
    try:
        follower.catch_up(timeout_s)
    finally:
        follower.stop()
    return follower.log


def current_weights(settings: Settings, scenario: str) -> dict[str, float]:
    """The fusion weights a scenario runs with now."""
    return dict(current(settings).get(scenario).config["weights"])


def propose(settings: Settings, proposal: Mapping[str, Any], timeout_s: float = 10.0) -> ConfigVersion:
    """Validate and publish a proposal; return the version it will have everywhere."""
    fold = current(settings, timeout_s)
    producer = make_producer(settings)
    raw = dumps(dict(proposal))
    try:
        scenario, config = fold.check(proposal)
    except InvalidMessage as exc:
        DeadLetters(producer, settings).send(raw, settings.topic("control"), None, None, exc.reason,
                                             key=str(proposal.get("scenario", "")))
        producer.flush(timeout_s)
        raise
    delivered: list[Any] = []
    producer.produce(settings.topic("control"), value=raw, key=scenario.encode(),
                     on_delivery=lambda err, msg: delivered.append(err or msg))
    producer.flush(timeout_s)
    if not delivered or not hasattr(delivered[0], "offset"):
        raise InvalidMessage(f"control proposal not delivered: {delivered[0] if delivered else 'timeout'}")
    msg = delivered[0]
    return ConfigVersion(scenario, msg.offset() + 1, config, time.time(),
                         proposal.get("source"), proposal.get("note"))


def parse_weights(text: str) -> dict[str, float]:
    """'cf=0.5,content=0.25' → {'cf': 0.5, 'content': 0.25} (CLI convenience)."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep:
            raise InvalidMessage(f"weights must look like 'cf=0.5,content=0.25'; got {part!r}")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise InvalidMessage(f"weight {name.strip()!r} is not a number: {value!r}") from None
    return out


def full_weights(named: Mapping[str, float]) -> dict[str, float]:
    """Weights as a whole: every known source not named gets 0.

    A partial proposal would deep-merge into the current weights; setting weights is
    meant to replace them ("all weight on cf" = ``cf=1``).
    """
    from streams.ranking.config import known_sources
    return {**{s: 0.0 for s in known_sources()}, **named}


def as_dict(cv: ConfigVersion) -> dict[str, Any]:
    return {"scenario": cv.scenario, "version": cv.version, "config": cv.config, "ts": cv.ts,
            "source": cv.source, "note": cv.note}
