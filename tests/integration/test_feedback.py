"""The feedback worker on the real broker: lists + answers in, CTR out, bandit → control."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import orjson
import pytest

from streams import config_admin
from streams.feedback.worker import run
from streams.settings import Settings
from tests.kafkatools import produce

pytestmark = pytest.mark.integration


def a_list(n: int) -> dict:
    return {"rec_id": f"r{n}", "user_id": f"u{n % 7}", "scenario": "default", "config_version": 0,
            "items": [{"item_id": f"s{n}", "score": 0.5, "sources": {"session": 0.4, "popular": 0.1}},
                      {"item_id": f"c{n}", "score": 0.3, "sources": {"cf": 0.3}}]}


def test_feedback_attributes_answers_and_bandit_moves_weights(settings: Settings, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENRE_BANDIT_MIN_ANSWERS", "20")
    monkeypatch.setenv("GENRE_BANDIT_MIN_SHOWN", "40")
    before = config_admin.current(settings).get("default")
    lists = [a_list(n) for n in range(40)]
    produce(settings, "recommendations", [(r["user_id"], r) for r in lists])
    time.sleep(0.05)  # the answers come after the lists, as in life
    answers = [{"event_id": f"e{n}", "type": "click", "user_id": f"u{n % 7}", "item_id": f"s{n}",
                "ts": 100.0 + n, "rec_id": f"r{n}"} for n in range(40)]
    produce(settings, "interactions", [(a["user_id"], a) for a in answers])

    stop = threading.Event()
    report = tmp_path / "feedback.json"
    thread = threading.Thread(target=run, args=(settings, stop),
                              kwargs={"bandit": True, "report_path": report, "report_every_s": 0.5})
    thread.start()
    try:
        deadline = time.monotonic() + 60
        cv = before
        while time.monotonic() < deadline and cv.version == before.version:
            time.sleep(0.5)
            cv = config_admin.current(settings).get("default")
    finally:
        stop.set()
        thread.join(30)
    assert cv.version > before.version and cv.source == "bandit", cv
    assert cv.evidence["answers"] >= 20 and cv.evidence["rates"]["session"] > cv.evidence["rates"]["cf"]
    assert cv.config["weights"]["session"] > before.config["weights"]["session"]
    assert cv.config["weights"]["cf"] < before.config["weights"]["cf"]
    rep = orjson.loads(report.read_bytes())
    assert rep["versions"]["0"]["answered"] == 40 and rep["versions"]["0"]["shown"] == 80
    assert rep["sources"]["session"]["reward"] == pytest.approx(32.0)  # 0.4 / 0.5 of each of 40 answers
