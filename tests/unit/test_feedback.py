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
    assert at.answer(ev("u", "i9"), 1.0) is None and at.answer(ev("v", "i2"), 1.0) is None
    rep = at.report()
    assert rep["versions"]["1"]["answered"] == 1 and rep["versions"]["2"]["ctr"] == 1.0
    assert rep["sources"]["cf"]["shown"] == 1.5 and rep["sources"]["cf"]["reward"] == 1.5


def test_normalise_keeps_floor_and_sum() -> None:
    w = normalise({"a": 10.0, "b": 0.0, "c": 0.0}, floor=0.05)
    assert sum(w.values()) == pytest.approx(1.0) and w["b"] == w["c"] == pytest.approx(0.05)


def test_step_moves_towards_better_sources_with_capped_steps() -> None:
    p = BanditParams(learning_rate=1.0, floor=0.05, max_step=0.1)
    w = step({"a": 0.5, "b": 0.5}, {"a": 0.2, "b": 0.1}, p)
    # mean rate 0.15 → a·e^{1/3}, b·e^{-1/3}, each capped at ±0.1, renormalised
    a, b = 0.5 * math.exp(1 / 3), 0.5 * math.exp(-1 / 3)
    a, b = min(a, 0.6), max(b, 0.4)
    assert w == pytest.approx({"a": a / (a + b), "b": b / (a + b)})


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
    assert prop.evidence["rates"]["cf"] == 0.0 and prop.evidence["answers"] >= 2


def test_variants_split_by_share_and_are_stable() -> None:
    from streams.feedback.variants import assign_variant, variant_config
    users = [f"u{i}" for i in range(4000)]
    got = [assign_variant(u, {"A": 0.25, "B": 0.75}) for u in users]
    assert 0.22 < got.count("A") / len(users) < 0.28
    assert got == [assign_variant(u, {"B": 0.75, "A": 0.25}) for u in users]  # order-free
    cfg = {"k": 10, "weights": {"cf": 1.0}, "variants": {"A": {"share": 1.0, "weights": {"cf": 0.5}}}}
    assert variant_config(cfg, "u1") == ("A", {"k": 10, "weights": {"cf": 0.5}})
    assert variant_config({"k": 10}, "u1") == ("base", {"k": 10})
