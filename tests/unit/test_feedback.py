"""Attribution of answers to lists and sources; the weight bandit's rules."""
from __future__ import annotations

import math

import pytest

from streams.feedback.attribution import Attributor, ShownList, split_credit
from streams.feedback.bandit import BanditParams, WeightBandit, normalise, step
from streams.schemas import Interaction


def lst(rec_id: str, user: str, items: dict[str, dict[str, float]], version: int = 1) -> ShownList:
    return ShownList(rec_id, user, version, "default", items)


def ev(user: str, item: str, rec_id: str | None = None) -> Interaction:
    return Interaction("e", "click", user, item, 0.0, rec_id=rec_id)


def test_split_credit_by_positive_contribution() -> None:
    assert split_credit({"a": 0.3, "b": 0.1, "c": -0.2}, 2.0) == pytest.approx({"a": 1.5, "b": 0.5, "c": 0.0})
    assert split_credit({"a": 0.0, "b": 0.0}, 1.0) == {"a": 0.5, "b": 0.5}


def test_answers_by_rec_id_or_latest_list() -> None:
    at = Attributor()
    at.shown(lst("r1", "u", {"i1": {"cf": 1.0}}))
    at.shown(lst("r2", "u", {"i2": {"session": 0.5, "cf": 0.5}}, version=2))
    a = at.answer(ev("u", "i1", rec_id="r1"), 1.0)
    assert a and (a.rec_id, a.config_version, a.credit) == ("r1", 1, {"cf": 1.0})
    b = at.answer(ev("u", "i2"), 1.0)  # no rec_id: the user's newest list
    assert b and b.rec_id == "r2" and b.credit == {"session": 0.5, "cf": 0.5}
    assert b.advantage == {"session": 0.0, "cf": 0.0}  # the only item: nothing to tell apart
    assert at.answer(ev("u", "i9"), 1.0) is None and at.answer(ev("v", "i2"), 1.0) is None
    rep = at.report()
    assert rep["versions"]["1"]["answered"] == 1 and rep["versions"]["2"]["ctr"] == 1.0
    assert rep["sources"]["cf"]["shown"] == 1.5 and rep["sources"]["cf"]["reward"] == 1.5


def test_normalise_keeps_floor_and_sum() -> None:
    w = normalise({"a": 10.0, "b": 0.0, "c": 0.0}, floor=0.05)
    assert sum(w.values()) == pytest.approx(1.0) and w["b"] == w["c"] == pytest.approx(0.05)


def test_step_is_exponentiated_gradient_with_capped_steps() -> None:
    free = BanditParams(learning_rate=0.5, floor=0.01, max_step=1.0)
    w = step({"a": 0.5, "b": 0.5}, {"a": 0.2, "b": -0.1}, free)
    a, b = 0.5 * math.exp(0.5 * 0.2 / 0.2), 0.5 * math.exp(0.5 * -0.1 / 0.2)
    assert w == pytest.approx({"a": a / (a + b), "b": b / (a + b)})
    capped = step({"a": 0.5, "b": 0.5}, {"a": 0.2, "b": -0.1}, BanditParams(learning_rate=1.0, max_step=0.1))
    assert capped == pytest.approx({"a": 0.6, "b": 0.4})
    assert step({"a": 0.5, "b": 0.5}, {}, free) == {"a": 0.5, "b": 0.5}


def test_bandit_needs_evidence_then_logs_it() -> None:
    bandit = WeightBandit({"cf": 1.0, "session": 1.0}, BanditParams(min_answers=4, min_shown=8))
    assert bandit.propose() is None
    at = Attributor()
    for i in range(4):
        rec = lst(f"r{i}", "u", {f"s{i}": {"session": 1.0}, f"c{i}": {"cf": 1.0}})
        at.shown(rec)
        bandit.observe_list(rec)
        att = at.answer(ev("u", f"s{i}"), 1.0)
        assert att is not None
        bandit.observe_answer(att)
    prop = bandit.propose()
    assert prop is not None and prop.weights["session"] > prop.weights["cf"]
    assert prop.evidence["rates"]["cf"] == 0.0 and prop.evidence["answers"] == 4
    # the taken item had session 1 vs a list mean of 0.5 (advantage +0.5 / weight 0.5)
    assert prop.evidence["advantage"] == {"session": 1.0, "cf": -1.0}


def test_variants_split_by_share_and_are_stable() -> None:
    from streams.feedback.variants import assign_variant, variant_config
    users = [f"u{i}" for i in range(4000)]
    got = [assign_variant(u, {"A": 0.25, "B": 0.75}) for u in users]
    assert 0.22 < got.count("A") / len(users) < 0.28 and None not in got
    assert got == [assign_variant(u, {"B": 0.75, "A": 0.25}) for u in users]  # order-free
    partial = [assign_variant(u, {"A": 0.1}) for u in users]
    assert 0.08 < partial.count("A") / len(users) < 0.12 and partial.count(None) + partial.count("A") == len(users)
    cfg = {"k": 10, "weights": {"cf": 1.0}, "variants": {"A": {"share": 1.0, "weights": {"cf": 0.5}}}}
    assert variant_config(cfg, "u1") == ("A", {"k": 10, "weights": {"cf": 0.5}})
    assert variant_config({"k": 10}, "u1") == ("base", {"k": 10})


def test_time_merge_releases_in_timestamp_order_with_a_watermark() -> None:
    from streams.feedback.join import TimeMerge
    m = TimeMerge(("lists", "events"), max_delay_s=1.0)
    m.push("events", 10.0, "e10", now=0.0)
    assert list(m.pop_ready(now=0.1)) == []  # lists may still bring something older
    m.push("lists", 9.0, "l9", now=0.2)
    m.push("lists", 11.0, "l11", now=0.2)
    assert list(m.pop_ready(now=0.3)) == [("lists", "l9"), ("events", "e10")]
    assert list(m.pop_ready(now=0.4)) == []  # l11 waits for events to pass 11 …
    assert list(m.pop_ready(now=1.3)) == [("lists", "l11")]  # … or for max_delay


def test_feedback_loop_attributes_and_proposes_weights() -> None:
    from streams.feedback.worker import FeedbackLoop
    from streams.state.weights import EventWeights
    loop = FeedbackLoop(EventWeights(), WeightBandit({"cf": 0.5, "session": 0.5},
                                                     BanditParams(min_answers=3, min_shown=6)))
    proposals = []
    for i in range(3):
        loop.on_list({"rec_id": f"r{i}", "user_id": "u", "config_version": 3, "scenario": "default",
                      "items": [{"item_id": f"s{i}", "sources": {"session": 0.4}},
                                {"item_id": f"c{i}", "sources": {"cf": 0.4}}]})
        proposals.append(loop.on_event(Interaction(f"e{i}", "rating", "u", f"s{i}", 1.0, value=5.0)))
    assert proposals[:2] == [None, None] and proposals[2] is not None
    prop = proposals[2]
    assert prop["source"] == "bandit" and prop["weights"]["session"] > 0.5 > prop["weights"]["cf"]
    assert prop["evidence"]["answers"] == 3
    rep = loop.attributor.report()
    assert rep["versions"]["3"] == {"shown": 6, "answered": 3, "reward": 3.0, "ctr": 0.5}
    # a low rating answers the list (counted) but is no reward
    loop.on_list({"rec_id": "r9", "user_id": "u", "items": [{"item_id": "x", "sources": {"cf": 1.0}}]})
    assert loop.on_event(Interaction("e9", "rating", "u", "x", 2.0, value=1.0)) is None
