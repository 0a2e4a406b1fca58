"""Runtime config on two real workers: PUT/GET /config, hot apply, invalid → deadletter once."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from streams import config_admin
from streams.settings import Settings
from streams.wire import dumps, loads
from tests.integration.test_worker_harness import Worker, app_settings, produce_raw, workers
from tests.kafkatools import read

pytestmark = pytest.mark.integration
ALL_CONTENT = {"weights": {"session": 0, "transitions": 0, "cf": 0, "popular": 0, "content": 1.0}}


def put(w: Worker, body: bytes, timeout_s: float = 20.0) -> tuple[int, Any]:
    req = urllib.request.Request(w.url + "/config", data=body, method="PUT",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def wait_up(s: Settings, ws: list[Worker], timeout_s: float = 90.0) -> None:
    """Until every worker serves /config and the group owns every partition (rebalance done)."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert all(w.alive() for w in ws), "\n".join(w.tail() for w in ws)
        try:
            owned = [p for w in ws for p in w.get("/health")[1]["partitions"]]
            if sorted(owned) == list(range(s.partitions)) and all(w.get("/config")[0] == 200 for w in ws):
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, "\n".join(w.tail() for w in ws)
        time.sleep(0.3)


def wait_version(w: Worker, scenario: str, version: int, timeout_s: float = 5.0) -> float:
    """Seconds until ``w`` serves ``version`` for ``scenario``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if w.get(f"/config?scenario={scenario}")[1]["version"] == version:
            return time.monotonic() - t0
        time.sleep(0.02)
    raise AssertionError(f"{w.url} still at {w.get(f'/config?scenario={scenario}')[1]}")


def control_letters(s: Settings, wait_s: float) -> list[dict]:
    msgs = read(s, "deadletter", lambda ms: False, timeout_s=wait_s)
    return [d for d in (loads(m.value()) for m in msgs) if d["source"]["topic"] == s.topic("control")]


def test_put_applies_on_every_worker_and_invalid_is_deadlettered_once(settings: Settings) -> None:
    s = app_settings(settings)
    with workers(s, 2) as ws:
        wait_up(s, ws)
        assert ws[1].get("/config")[1]["version"] == 0  # built-in defaults
        status, body = put(ws[0], dumps({"scenario": "home", **ALL_CONTENT, "k": 7}))
        assert status == 200, body
        v = body["version"]
        assert v >= 1 and body["applied_here"] is True
        assert wait_version(ws[1], "home", v) < 1.0  # the other worker, without restart
        cfg = ws[1].get("/config?scenario=home")[1]["config"]
        assert cfg["k"] == 7 and cfg["weights"]["content"] == 1.0 and cfg["weights"]["session"] == 0
        assert ws[1].get("/config")[1]["version"] == 0  # another scenario is untouched

        # through the API: refused at once, recorded in deadletter, nothing on control
        status, body = put(ws[1], dumps({"scenario": "home", "weights": {"nope": 1.0}}))
        assert status == 400 and "unknown source 'nope'" in body["error"], body
        assert put(ws[0], b"{oops")[0] == 400

        # straight to Kafka (past every check): each worker's fold refuses it, one dead letter
        produce_raw(s, "control", [(b"home", dumps({"scenario": "home", "weights": {"cf": -1}})),
                                   (b"home", b"not json at all")])
        letters = control_letters(s, wait_s=6.0)
        reasons = sorted(d["reason"] for d in letters)
        assert len(letters) == 3, reasons  # 1 from PUT + 2 raw, none twice
        assert any("unknown source 'nope'" in r for r in reasons)
        assert any("must be finite and >= 0" in r for r in reasons), reasons
        assert any(r.startswith("not JSON") for r in reasons), reasons
        raw = [d for d in letters if d["source"]["offset"] is not None]
        assert len(raw) == 2 and all(d["source"]["partition"] == 0 for d in raw)
        for w in ws:  # the last good version stays
            assert w.get("/config?scenario=home")[1]["version"] == v
        assert config_admin.current(s).get("home").version == v  # what 'genre config show' prints
