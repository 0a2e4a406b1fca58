"""User state on the real broker: events in → exact state out, duplicates, dead letters, web."""
from __future__ import annotations

import numpy as np
import pytest

from streams.agents import record
from streams.schemas import interaction_from_dict
from streams.settings import Settings
from streams.state.user import UserParams, UserState, apply_events
from streams.state.weights import EventWeights
from streams.web.client import WorkerUnavailable, show_user
from streams.wire import dumps, loads
from tests.integration.test_worker_harness import (
    app_settings, produce_events, produce_raw, read_changelog, wait_caught_up, workers)
from tests.kafkatools import read_n

pytestmark = pytest.mark.integration

VECTORS = {"i1": [1.0, 0.0, 0.0, 0.0], "i2": [0.0, 2.0, 0.0, 0.0], "i3": [0.0, 0.0, 0.0, 3.0]}


def ev(eid: str, user: str, item: str, etype: str = "click", ts: float = 1000.0, **kw: object) -> dict:
    return {"event_id": eid, "type": etype, "user_id": user, "item_id": item, "ts": ts, **kw}


def expected_state(s: Settings, events: list[dict]) -> UserState:
    """The pure rules applied to the same events (the worker must agree byte for byte)."""
    params = UserParams(weights=EventWeights.from_specs(s.all_event_types))
    parsed = [interaction_from_dict(e, s.all_event_types) for e in events]
    vecs = [np.asarray(VECTORS[e.item_id], np.float32) if e.item_id in VECTORS else None for e in parsed]
    return apply_events(UserState(user_id=parsed[0].user_id), parsed, vecs, params)


def publish_vectors(s: Settings) -> None:
    produce_raw(s, "item-vectors", [(k.encode(), dumps({"item_id": k, "vector": v}))
                                    for k, v in VECTORS.items()])


def test_events_in_exact_state_out_and_duplicates_ignored(settings: Settings) -> None:
    s = app_settings(settings)
    publish_vectors(s)
    u1 = [ev("a1", "u1", "i1", ts=1000), ev("a2", "u1", "i2", "favourite", ts=1010),
          ev("a3", "u1", "i4", ts=1020),  # no vector yet: pending
          ev("a4", "u1", "i3", "rating", ts=1030, value=4.5)]
    u2 = [ev("b1", "u2", "i2", ts=2000), ev("b2", "u2", "i2", "unfavourite", ts=2001)]
    dups = [u1[0], u1[3], u2[1]]  # the producer retried: same event ids again
    produce_events(s, u1[:2] + u2 + dups[:1] + u1[2:] + dups[1:])
    with workers(s, 1) as [w]:
        wait_caught_up(s, [w])
        table = read_changelog(s)
        assert set(table) == {"u1", "u2"}
        for user, evs in (("u1", u1), ("u2", u2)):
            got = record.decode(table[user])
            want = expected_state(s, evs)
            assert got.state.n_events == len(evs)  # duplicates not applied
            # int8 x scale on the wire: at most half a step (max|v| / 254) per element
            err = np.linalg.norm(got.state.content - want.content) / np.linalg.norm(want.content)
            assert err <= 0.01, err
            assert [r.item_id for r in got.state.recent] == [e["item_id"] for e in evs]
            assert got.event_keys == tuple(record.event_key(e["event_id"]) for e in evs)
        s1 = record.decode(table["u1"]).state
        assert [p.item_id for p in s1.pending] == ["i4"]
        assert s1.has_seen("i3") and not s1.has_seen("i9")
        # i1 (w=1) + i2 (w=2) + i3 (rating 4.5 → 1), unit vectors; no decay across 30 s worth noting
        assert np.allclose(s1.content / np.linalg.norm(s1.content),  # 2/254/√6 = 3.2e-3 per element
                           np.array([1, 2, 0, 1]) / np.sqrt(6), atol=4e-3)
        status, body = w.get("/users/u1")
        assert status == 200, body
        assert body["n_events"] == 4 and body["pending"] == ["i4"]
        assert body["recent"][0]["item_id"] == "i3" and body["content"]["dim"] == 4
        assert w.get("/users/nobody")[0] == 404
        assert show_user(s, "u1", web_url=w.url) == body  # what 'genre user show u1' prints
        assert "error" in show_user(s, "nobody", web_url=w.url)
        health = w.get("/health")[1]
        assert health["duplicates"] == 3 and health["applied"] == 6 and health["item_vectors"] == 3


def test_bad_events_go_to_deadletter_and_worker_keeps_running(settings: Settings) -> None:
    s = app_settings(settings)
    bad = [("u1", b"{not json"),
           ("u1", dumps(ev("x1", "u1", "i1", "teleport"))),
           ("u1", dumps(ev("x2", "u1", "i1", "rating", value=9))),
           ("someone-else", dumps(ev("x3", "u1", "i1")))]
    produce_events(s, bad + [ev("ok1", "u1", "i1", ts=5.0)])
    with workers(s, 1) as [w]:
        wait_caught_up(s, [w])
        letters = [loads(m.value()) for m in read_n(s, "deadletter", 4)]
        assert len(letters) == 4
        reasons = sorted(d["reason"] for d in letters)
        assert any(r.startswith("not JSON") for r in reasons), reasons
        assert any("unknown event type 'teleport'" in r for r in reasons), reasons
        assert any("outside" in r for r in reasons), reasons
        assert any("must equal user_id" in r for r in reasons), reasons
        for d in letters:
            assert d["source"]["topic"] == s.topic("interactions")
            assert d["source"]["offset"] is not None and d["source"]["partition"] is not None
        # still alive and still applying events
        produce_events(s, [ev("ok2", "u1", "i2", ts=6.0)])
        wait_caught_up(s, [w])
        assert w.alive()
        assert record.decode(read_changelog(s)["u1"]).state.n_events == 2


def test_show_user_says_when_no_worker_answers(settings: Settings) -> None:
    from streams.localkafka import free_port
    with pytest.raises(WorkerUnavailable, match="no streams worker"):
        show_user(settings, "u1", web_url=f"http://127.0.0.1:{free_port()}", timeout_s=2)
