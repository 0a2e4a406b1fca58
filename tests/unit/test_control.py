"""The control fold: versions, partial updates, refusal of invalid proposals, history."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from streams.control import ControlLog, merge
from streams.errors import InvalidMessage
from streams.replay import paced, parse_speed
from streams.wire import dumps


def validate(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """A small stand-in for the fusion config model (the real one is tested with ranking)."""
    w = cfg.get("weights")
    if not isinstance(w, dict) or any(v < 0 for v in w.values()) or sum(w.values()) == 0:
        raise ValueError("weights must be non-negative and not all zero")
    return dict(cfg)


DEFAULTS = {"weights": {"a": 1.0, "b": 1.0}, "k": 10}


def test_versions_are_offsets_and_partial_updates_merge() -> None:
    log = ControlLog(validate, DEFAULTS)
    assert log.get("home").version == 0 and log.get("home").config == DEFAULTS
    cv = log.apply(dumps({"scenario": "home", "weights": {"b": 0.0}, "source": "cli"}), offset=4)
    assert (cv.version, cv.config, cv.source) == (5, {"weights": {"a": 1.0, "b": 0.0}, "k": 10}, "cli")
    assert log.get("home") is cv and log.get("other").version == 0


def test_default_scenario_is_the_fallback() -> None:
    log = ControlLog(validate, DEFAULTS)
    log.apply(dumps({"k": 20}), offset=0)
    assert log.get("anything").config["k"] == 20 and log.get("anything").version == 1


@pytest.mark.parametrize("raw, reason", [
    (b"nope", "not JSON"),
    (dumps({"scenario": "home", "weights": {"a": -1.0}}), "invalid config for scenario 'home'"),
    (dumps({"scenario": "home", "weights": {"a": 0.0, "b": 0.0}}), "not all zero"),
    (dumps({"scenario": "home"}), "changes nothing"),
    (dumps({"scenario": 3, "k": 5}), "'scenario' must be a non-empty string"),
])
def test_invalid_proposals_leave_the_last_good_version(raw: bytes, reason: str) -> None:
    log = ControlLog(validate, DEFAULTS)
    good = log.apply(dumps({"scenario": "home", "k": 5}), offset=0)
    with pytest.raises(InvalidMessage, match=reason):
        log.apply(raw, offset=1)
    assert log.get("home") is good and log.history == [good] and log.next_offset == 2


def test_merge_is_deep_and_does_not_alias() -> None:
    base = {"w": {"a": 1}, "k": 1}
    out = merge(base, {"w": {"b": 2}})
    out["w"]["a"] = 9
    assert base == {"w": {"a": 1}, "k": 1} and merge(base, {"w": 3}) == {"w": 3, "k": 1}


def test_replay_speed_and_pacing() -> None:
    assert parse_speed("max") is None and parse_speed("1000x") == 1000.0
    with pytest.raises(ValueError):
        parse_speed("0")
    events = [{"ts": 0.0}, {"ts": 1.0}, {"ts": 1.0}]
    assert list(paced(events, speed=1000.0, rate=None)) == events


def test_causal_order_holds_a_user_until_their_list_arrives() -> None:
    from streams.replay import causal_order
    evs = [{"event_id": f"e{i}", "user_id": u} for i, u in enumerate("aabcab")]
    answered: set[str] = set()
    sent: list[str] = []

    def wait() -> None:  # the stack answers everything sent so far
        answered.update(sent)

    for ev in causal_order(evs, answered.__contains__, wait, timeout_s=60, max_held=10):
        sent.append(ev["event_id"])
    # e1 (a's 2nd) waits for e0's list while b and c flow; per-user order is kept
    assert sent[:3] == ["e0", "e2", "e3"] and sorted(sent) == sorted(e["event_id"] for e in evs)
    for user in "abc":
        mine = [e["event_id"] for e in evs if e["user_id"] == user]
        assert [x for x in sent if x in mine] == mine
