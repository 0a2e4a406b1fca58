"""Normalisation, weighted fusion, filtering, fallback, MMR and config validation."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from streams.ranking import (FusionConfig, InvalidConfig, default_config, fuse, minmax, mmr,
                             validate_config)
from streams.recommenders import Context, Scored
from streams.schemas import Interaction
from streams.state import UserParams, UserState, apply_event, item_hash

CTX = Context(now=0.0)


class Table:
    """A fake source: a fixed score table; top-k in table order, or the asked items."""

    def __init__(self, name: str, table: dict[str, float], floor: float | None = None,
                 top: int | None = None) -> None:
        self.name, self.table, self.floor, self.top = name, table, floor, top
        self.asked: list[list[str]] = []

    def score(self, user: UserState, ctx: Context, want: int | Sequence[str]) -> Scored:
        if isinstance(want, int):
            items = list(self.table)[: min(want, self.top or want)]
            return Scored({i: self.table[i] for i in items if not user.has_seen(i)}, self.floor)
        self.asked.append(list(want))
        return Scored({i: self.table[i] for i in want if i in self.table}, self.floor)


def cfg(**kw: object) -> FusionConfig:
    base = {"weights": {"session": 0.6, "content": 0.25}, "rescore": False}
    return FusionConfig.parse({**base, **kw})


def sources() -> dict[str, Table]:
    return {"session": Table("session", {"a": 4.0, "b": 2.0}, floor=0.0),
            "content": Table("content", {"b": 0.9, "c": 0.5, "d": 0.1})}


def seen(*items: str) -> UserState:
    u = UserState("u")
    for n, i in enumerate(items):
        u = apply_event(u, Interaction(str(n), "click", "u", i, float(n)), None, UserParams())
    return u


def test_minmax_uses_the_known_floor() -> None:
    assert minmax(Scored({"a": 4.0, "b": 2.0}, 0.0)) == {"a": 1.0, "b": 0.5}
    assert minmax(Scored({"b": 0.9, "c": 0.5, "d": 0.1})) == pytest.approx({"b": 1, "c": 0.5, "d": 0})
    assert minmax(Scored({"x": 3.0})) == {"x": 1.0}
    assert minmax(Scored({"x": 0.0, "y": 0.0}, 0.0)) == {"x": 0.0, "y": 0.0}
    assert minmax(Scored({})) == {}


def test_weighted_sum_with_explanations() -> None:
    out = fuse(UserState("u"), CTX, sources(), cfg())
    assert [o["item_id"] for o in out] == ["a", "b", "c", "d"]
    assert out[0] == {"item_id": "a", "score": pytest.approx(0.6), "sources": {"session": 0.6}}
    assert out[1]["sources"] == pytest.approx({"session": 0.3, "content": 0.25})
    assert out[1]["score"] == pytest.approx(0.55)
    assert out[2]["sources"] == pytest.approx({"content": 0.125})
    assert all(o["score"] == pytest.approx(sum(o["sources"].values())) for o in out)


def test_rescore_asks_each_source_about_the_others_candidates() -> None:
    src = sources()
    src["session"] = Table("session", {"a": 4.0, "b": 2.0, "c": 1.0}, floor=0.0, top=2)
    out = fuse(UserState("u"), CTX, src, cfg(rescore=True))
    assert src["session"].asked == [["c", "d"]] and src["content"].asked == [["a"]]
    by = {o["item_id"]: o for o in out}
    assert by["c"]["sources"] == pytest.approx({"session": 0.15, "content": 0.125})


def test_seen_and_excluded_items_are_filtered() -> None:
    out = fuse(seen("b"), Context(now=0.0, exclude={"c"}), sources(), cfg())
    assert [o["item_id"] for o in out] == ["a", "d"]


def test_zero_weight_and_missing_sources_are_skipped_and_k_cuts() -> None:
    src = sources()
    out = fuse(UserState("u"), CTX, src, cfg(weights={"session": 1.0, "content": 0.0, "cf": 1.0}, k=1))
    assert out == [{"item_id": "a", "score": 1.0, "sources": {"session": 1.0}}]


def test_a_long_list_asks_each_source_for_at_least_k() -> None:
    table = {f"i{n}": float(100 - n) for n in range(40)}
    src = {"session": Table("session", table, floor=0.0)}
    assert len(fuse(UserState("u"), CTX, src, cfg(weights={"session": 1.0}, candidates=5, k=3))) == 3
    out = fuse(UserState("u"), CTX, src, cfg(weights={"session": 1.0}, candidates=5, k=30))
    assert [o["item_id"] for o in out] == list(table)[:30]  # not 5 and the fallback
    assert FusionConfig(candidates=5, k=30).per_source == 30 and FusionConfig(candidates=50, k=10).per_source == 50


def test_empty_sources_fall_back_to_popular() -> None:
    src = {"session": Table("session", {}), "popular": Table("popular", {"p": 8.0, "q": 2.0, "r": 4.0}, 0.0)}
    out = fuse(seen("q"), CTX, src, cfg(k=5, fallback_weight=0.01))
    assert [o["item_id"] for o in out] == ["p", "r"]
    assert out[1]["sources"] == pytest.approx({"popular": 0.005})
    assert fuse(UserState("u"), CTX, {"session": Table("session", {})}, cfg()) == []


def test_mmr_hand_computed() -> None:
    vec = {"a": np.array([1.0, 0]), "b": np.array([2.0, 0]), "c": np.array([0, 1.0])}
    rel = {"a": 1.0, "b": 0.9, "c": 0.5}
    # λ=.5: a (0.5); then b: .45-.5·1 = -.05 vs c: .25-0 → c; then b
    assert mmr(["a", "b", "c"], rel, vec, 3, 0.5) == ["a", "c", "b"]
    assert mmr(["a", "b", "c"], rel, vec, 3, 1.0) == ["a", "b", "c"]
    assert mmr(["a", "b", "c"], {"a": 1.0, "b": 1.0, "c": 1.0}, {}, 3, 0.5) == sorted("abc", key=item_hash)


def test_fusion_applies_mmr_when_asked() -> None:
    vec = {"a": np.array([1.0, 0]), "b": np.array([1.0, 0.01]), "c": np.array([0, 1.0]),
           "d": np.array([0, 1.0])}
    lookup = lambda items: {i: vec[i] for i in items}  # noqa: E731
    plain = fuse(UserState("u"), CTX, sources(), cfg(k=2), lookup)
    diverse = fuse(UserState("u"), CTX, sources(), cfg(k=2, mmr_lambda=0.5), lookup)
    assert [o["item_id"] for o in plain] == ["a", "b"]
    assert [o["item_id"] for o in diverse] == ["a", "c"]


# --- config ------------------------------------------------------------------------------
def test_defaults_are_the_validation_tuned_weights() -> None:
    d = default_config()
    assert d["weights"] == {"session": 0.43, "content": 0.05, "transitions": 0.26, "cf": 0.26,
                            "popular": 0.0}
    assert (d["k"], d["normalise"], d["mmr_lambda"]) == (10, "minmax", 1.0)
    assert validate_config(d) == d


@pytest.mark.parametrize("bad, why", [
    ({"weights": {"bogus": 1.0}}, "unknown source 'bogus'"),
    ({"weights": {"cf": -0.5}}, "'cf' must be finite and >= 0"),
    ({"weights": {"cf": 0.0, "content": 0.0}}, "at least one weight must be > 0"),
    ({"weights": {"cf": "lots"}}, "weights.cf"),
    ({"k": 0}, "k: Input should be greater than or equal to 1"),
    ({"k": "ten"}, "k: Input should be a valid integer"),
    ({"mmr_lambda": 1.5}, "mmr_lambda"),
    ({"fallback": "nope"}, "unknown fallback source 'nope'"),
    ({"surprise": 1}, "surprise: Extra inputs are not permitted"),
])
def test_invalid_configs_say_why(bad: dict, why: str) -> None:
    with pytest.raises(InvalidConfig, match=why.replace("(", r"\(").replace(")", r"\)")):
        FusionConfig.parse(bad)


def test_every_problem_is_listed_and_it_is_a_value_error() -> None:
    with pytest.raises(ValueError) as info:
        validate_config({"weights": {"cf": -1.0, "x": 1.0}, "k": 0})
    assert isinstance(info.value, InvalidConfig) and len(info.value.problems) == 2
    assert "unknown source 'x'" in str(info.value) and "'cf' must be" in str(info.value)


def test_variants_are_validated_as_overlays() -> None:
    ok = validate_config({"variants": {"A": {"share": 0.5, "weights": {"cf": 1.0}}}})
    assert ok["variants"]["A"]["weights"] == {"cf": 1.0}
    with pytest.raises(InvalidConfig) as exc:
        validate_config({"variants": {"A": {"share": 0.7, "weights": {"nope": 1.0}}, "B": {"share": 0.6}}})
    text = "; ".join(exc.value.problems)
    assert "variant 'A'" in text and "unknown source 'nope'" in text and "more than 1" in text
