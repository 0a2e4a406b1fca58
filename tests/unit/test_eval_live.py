"""Live scoring: which emitted list answers which event, on a hand-made replay."""
from __future__ import annotations

import pytest

from streams.eval.live import gap, score_live


def ev(i: int, user: str, item: str, value: float, ts: float) -> dict:
    return {"event_id": f"e{i}", "user_id": user, "item_id": item, "value": value, "ts": ts}


def rec(trigger: str, user: str, items: list[str], version: int = 1, **kw: object) -> dict:
    return {"trigger_event_id": trigger, "user_id": user, "config_version": version,
            "items": [{"item_id": i, "sources": {"session": 1.0}} for i in items], **kw}


def test_each_scored_event_uses_the_last_earlier_list() -> None:
    events = [ev(0, "1", "10", 5, 1), ev(1, "2", "11", 5, 2), ev(2, "1", "12", 5, 3),
              ev(3, "2", "13", 2, 4), ev(4, "1", "14", 4, 5), ev(5, "2", "15", 5, 6)]
    lists = [rec("e0", "1", ["14", "12"]),          # user 1 after e0: answers nothing scored (e2 is warm-up)
             rec("e2", "1", ["13", "14"], version=2),  # user 1 after e2: answers e4 (rank 1)
             rec("e1", "2", ["15"]),                # user 2 after e1: e5 is scored; e3 came later → stale
             rec("e3", "2", ["99"], request_id="r"),  # a request's answer: ignored
             rec("e5", "2", ["10"])]                # triggered by the event itself: not before it
    s = score_live(events, lists)
    summary = s.totals.summary()
    # scored: e4 (rank 1 → hit, ndcg 1/log2(3)), e5 (rank 0 in the stale list → hit); e3 is rating 2
    assert summary["scored"] == 2 and summary["hr@10"] == 1.0
    assert summary["ndcg@10"] == pytest.approx((1 / 1.584962500721156 + 1.0) / 2)
    assert (s.no_list, s.stale, dict(s.versions)) == (0, 1, {2: 1, 1: 1})
    assert s.totals.source_share() == {"session": 1.0}


def test_no_list_is_a_miss_and_gap_is_relative() -> None:
    events = [ev(0, "1", "10", 5, 1), ev(1, "1", "11", 5, 2)]
    s = score_live(events, [])
    assert s.no_list == 1 and s.totals.summary()["hr@10"] == 0.0
    assert gap({"hr@10": 0.19}, {"hr@10": 0.20}) == pytest.approx(-0.05)
