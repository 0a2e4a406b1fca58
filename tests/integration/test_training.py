"""Trainer on the real broker: interactions topic → ALS → models topic → worker hot-swap."""
from __future__ import annotations

import time

import numpy as np
import pytest

from streams.settings import Settings
from streams.training.model import CFModel
from streams.training.service import train_once
from tests.integration.test_worker_harness import app_settings, produce_events, wait_caught_up, workers
from tests.kafkatools import read_n

pytestmark = pytest.mark.integration


def two_cluster_log(n_users: int = 40) -> list[dict]:
    """Users 0..19 love items a*, users 20..39 love items b*: ALS must separate them."""
    events, t = [], 1000.0
    for u in range(n_users):
        group = "a" if u < n_users // 2 else "b"
        for i in range(6):
            t += 1
            events.append({"event_id": f"e{u}-{i}", "type": "rating", "user_id": f"u{u}",
                           "item_id": f"{group}{(u + i) % 8}", "ts": t, "value": 5.0})
    return events


def test_train_publish_and_worker_hot_swap(settings: Settings) -> None:
    s = app_settings(settings)
    produce_events(s, two_cluster_log())
    model = train_once(s)
    [msg] = read_n(s, "models", 1)
    got = CFModel.from_bytes(msg.value())
    assert msg.key() == b"cf" and got.version == model.version and len(got.item_ids) == 16
    f = got.factor_of()
    unit = {k: v / np.linalg.norm(v) for k, v in f.items()}
    same = float(unit["a0"] @ unit["a1"])
    other = float(unit["a0"] @ unit["b0"])
    assert same > other + 0.3, (same, other)

    with workers(s, 1) as [w]:
        wait_caught_up(s, [w])
        produce_events(s, [{"event_id": "new-1", "type": "click", "user_id": "fresh", "item_id": "a3", "ts": 5000.0}])
        deadline = time.monotonic() + 60
        body: dict = {}
        while time.monotonic() < deadline:
            status, body = w.get("/users/fresh")
            if status == 200 and body.get("cf_version"):
                break
            time.sleep(0.5)
        assert body.get("cf_version") == model.version, body  # folded against the published factors
        assert body["cf"]["dim"] == got.factors.shape[1]
