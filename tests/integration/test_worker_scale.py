"""Horizontal scale and crash recovery on the real broker.

Final states are compared with the pure rules applied to each user's events in order.
Everything must match exactly except the vectors, which the state codec stores as int8
with a scale at every batch boundary (so their last bits depend on where batches were cut):
those must agree to within storage rounding.
"""
from __future__ import annotations

import random
import time

import numpy as np
import pytest

from streams.agents import record
from streams.schemas import interaction_from_dict
from streams.settings import Settings
from streams.state.user import UserParams, UserState, apply_events
from streams.state.weights import EventWeights
from streams.wire import dumps
from tests.integration.test_worker_harness import (
    Worker, app_settings, lag, produce_events, produce_raw, read_changelog, wait_caught_up)

pytestmark = pytest.mark.integration
DIM, USERS, ITEMS = 16, 120, 300


def scenario(n: int, seed: int = 7) -> tuple[list[dict], dict[str, list[float]]]:
    """Events (with ~3 % producer duplicates) and vectors for all but the last 20 items."""
    rnd = random.Random(seed)
    vecs = {f"i{j}": [rnd.gauss(0, 1) for _ in range(DIM)] for j in range(ITEMS - 20)}
    types = ["click"] * 6 + ["favourite", "unfavourite", "rating"]
    events: list[dict] = []
    for k in range(n):
        if events and rnd.random() < 0.03:
            events.append(rnd.choice(events[-200:]))
            continue
        t = rnd.choice(types)
        e = {"event_id": f"e{k}", "type": t, "user_id": f"u{rnd.randrange(USERS)}",
             "item_id": f"i{rnd.randrange(ITEMS)}", "ts": 1_700_000_000 + k * 0.5}
        if t == "rating":
            e["value"] = rnd.choice([1.0, 2.5, 3.0, 4.0, 5.0])
        events.append(e)
    return events, vecs


def expected(s: Settings, events: list[dict], vecs: dict[str, list[float]]) -> dict[str, UserState]:
    params = UserParams(weights=EventWeights.from_specs(s.all_event_types))
    per_user: dict[str, list] = {}
    seen: set[str] = set()
    for e in events:
        if e["event_id"] not in seen:
            seen.add(e["event_id"])
            per_user.setdefault(e["user_id"], []).append(interaction_from_dict(e, s.all_event_types))
    out = {}
    for u, evs in per_user.items():
        vs = [np.asarray(vecs[e.item_id], np.float32) if e.item_id in vecs else None for e in evs]
        out[u] = apply_events(UserState(user_id=u), evs, vs, params)
    return out


def assert_same_states(table: dict[str, bytes], want: dict[str, UserState]) -> None:
    assert set(table) == set(want)
    for u, w in want.items():
        got = record.decode(table[u]).state
        assert _close_lists(got, w), (u, got, w)
        if w.content is None:
            assert got.content is None, u
        else:
            cos = float(got.content @ w.content / (np.linalg.norm(got.content) * np.linalg.norm(w.content)))
            assert cos > 0.999 and abs(np.linalg.norm(got.content) / np.linalg.norm(w.content) - 1) < 0.01, u


def _close_lists(got: UserState, w: UserState) -> bool:
    """Same events, order and sets (the seen generations exactly); timestamps to the codec's
    millisecond ages, weights exactly (they are stored as float64 palettes now)."""
    return (got.n_events == w.n_events and got.seen == w.seen
            and [p.item_id for p in got.pending] == [p.item_id for p in w.pending]
            and [r.item_id for r in got.recent] == [r.item_id for r in w.recent]
            and [r.type for r in got.recent] == [r.type for r in w.recent]
            and np.allclose([r.ts for r in got.recent], [r.ts for r in w.recent], atol=1e-2)
            and [i for i, _ in got.positives] == [i for i, _ in w.positives]
            and np.allclose([x for _, x in got.positives], [x for _, x in w.positives], atol=1e-3))


def setup(settings: Settings, n: int) -> tuple[Settings, list[dict], dict[str, list[float]]]:
    s = app_settings(settings)
    events, vecs = scenario(n)
    produce_raw(s, "item-vectors", [(k.encode(), dumps({"item_id": k, "vector": v})) for k, v in vecs.items()])
    return s, events, vecs


def test_two_workers_and_rebalances_give_the_single_worker_state(settings: Settings) -> None:
    s, events, vecs = setup(settings, 12_000)
    third = len(events) // 3
    w1 = Worker(s, "w1")
    w2 = w3 = None
    try:
        produce_events(s, events[:third])
        wait_caught_up(s, [w1])
        w2 = Worker(s, "w2")  # joins: partitions move while events keep coming
        produce_events(s, events[third:2 * third])
        wait_caught_up(s, [w1, w2])
        assert w1.stop() == 0  # leaves: its partitions move to w2
        produce_events(s, events[2 * third:])
        wait_caught_up(s, [w2])
        w3 = Worker(s, "w3")
        deadline = time.monotonic() + 60
        while not (w3.alive() and _up(w3) and _serving(w3) and _serving(w2)):
            assert time.monotonic() < deadline, w3.tail()
            time.sleep(0.5)
        # the web view routes a user to the worker that owns it, whichever one is asked
        for u in ("u1", "u2", "u3", "u4", "u5"):
            a, b = w2.get(f"/users/{u}"), w3.get(f"/users/{u}")
            assert a[0] == b[0] == 200 and a[1] == b[1], (u, a, b)
        assert_same_states(read_changelog(s), expected(s, events, vecs))
    finally:
        for w in (w1, w2, w3):
            if w is not None:
                w.stop()


def _serving(w: Worker) -> bool:
    """Owns partitions and is neither rebalancing nor recovering tables."""
    health = w.get("/health")[1]
    return bool(health["partitions"]) and not health["settling"]


def _up(w: Worker) -> bool:
    try:
        return w.get("/health", timeout_s=2)[0] == 200
    except OSError:
        return False


def test_sigkill_and_restart_recovers_from_the_changelog(settings: Settings) -> None:
    s, events, vecs = setup(settings, 30_000)
    produce_events(s, events)
    w = Worker(s, "victim", batch_max=200)
    try:
        deadline = time.monotonic() + 90
        while not (0 < lag(s) < len(events) * 0.7):
            assert w.alive() and time.monotonic() < deadline, w.tail()
            time.sleep(0.05)
        w.kill()  # SIGKILL mid-stream: no flush, no commit, no leave-group
        left = lag(s)
        assert left > 0, "the worker finished before the kill; the test proves nothing"
        w = Worker(s, "restarted")
        wait_caught_up(s, [w], timeout_s=120)
        want = expected(s, events, vecs)
        assert_same_states(read_changelog(s), want)
        status, body = w.get("/users/u7")
        assert status == 200 and body["n_events"] == want["u7"].n_events
    finally:
        w.stop()
