"""Every source against hand-computed scores, plus one contract suite all sources must pass."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from streams.recommenders import (Context, Recommender, RecommenderError, Scored,
                                  UnknownRecommender, create, names)
from streams.schemas import Interaction
from streams.state import (CFModel, ItemStats, ItemStatsParams, RunningMean, UserParams,
                           UserState, apply_event, fold_in, item_hash)

WORLD = {"u1": "ABC", "u2": "AB", "u3": "BD", "u4": "CDE", "me": "AB"}
VEC = {"A": [1, 0, 0], "B": [0.8, 0.6, 0], "C": [0, 1, 0], "D": [0, 0, 1], "E": [0.6, 0, 0.8]}
FAC = {"A": [1, 0], "B": [1, 1], "C": [0, 1], "D": [-1, 0], "E": [0.5, 0.5]}
CTX = Context(now=100.0)


class BruteIndex:
    """Test-only stand-in for index.VectorIndex: exact inner product over unit vectors."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.ids = list(vectors)
        m = np.array([vectors[i] for i in self.ids], dtype=np.float32)
        self.m = m / np.linalg.norm(m, axis=1, keepdims=True)

    def search(self, query: np.ndarray, k: int, allow: Sequence[str] | None = None,
               deny: Sequence[str] | None = None) -> list[list[tuple[str, float]]]:
        s = query @ self.m.T
        out = []
        for row in s:
            hits = [(i, float(v)) for i, v in zip(self.ids, row) if allow is None or i in allow]
            out.append(sorted(hits, key=lambda h: (-h[1], item_hash(h[0])))[:k])
        return out


def events(user: str, items: str, t0: float = 0.0) -> list[Interaction]:
    return [Interaction(f"{user}{i}", "rating", user, i, t0 + n, 5.0) for n, i in enumerate(items)]


@pytest.fixture
def stats() -> ItemStats:
    s = ItemStats(ItemStatsParams(transition_window=1, popularity_half_life=math.inf))
    for user, items in WORLD.items():
        for e in events(user, items):
            s.update(e)
    return s


@pytest.fixture
def me() -> UserState:
    u = UserState("me")
    for e in events("me", "AB"):
        u = apply_event(u, e, np.array(VEC[e.item_id]), UserParams())
    return u


def test_registry_names_and_errors(stats: ItemStats) -> None:
    assert names() == ["cf", "content", "popular", "session", "transitions"]
    with pytest.raises(UnknownRecommender, match="'nope'.*session"):
        create("nope")
    with pytest.raises(RecommenderError, match="'session'"):
        create("session", stats=stats, bogus=1)


def test_session_itemknn_recency_weighted(stats: ItemStats, me: UserState) -> None:
    got = create("session", stats=stats).score(me, CTX, 10)
    # newest B (0.85^0) and A (0.85^1); cosine = cooc / sqrt(n_h n_c), n = A3 B4 C2 D2 E1
    c = 1 / math.sqrt(4 * 2) + 0.85 / math.sqrt(3 * 2)
    d = 1 / math.sqrt(4 * 2)
    assert list(got.items) == ["C", "D"] and got.floor == 0.0
    assert got.items["C"] == pytest.approx(c) and got.items["D"] == pytest.approx(d)
    assert create("session", stats=stats, decay=0.5).score(me, CTX, 10).items["C"] == \
        pytest.approx(1 / math.sqrt(8) + 0.5 / math.sqrt(6))


def test_transitions_use_their_own_pairs(stats: ItemStats, me: UserState) -> None:
    got = create("transitions", stats=stats).score(me, CTX, 10)
    # window 1: pairs A-B, B-C, B-D, C-D, D-E; A-C never adjacent, so C and D tie at 1/sqrt(8)
    assert got.items == pytest.approx({"C": 1 / math.sqrt(8), "D": 1 / math.sqrt(8)})
    assert list(got.items) == sorted("CD", key=item_hash)


def test_popular_counts_and_cold_start(stats: ItemStats) -> None:
    got = create("popular", stats=stats).score(UserState("new"), CTX, 3)
    assert list(got.items)[:2] == ["B", "A"]
    assert got.items == {"B": 4.0, "A": 3.0, sorted("CD", key=item_hash)[0]: 2.0}


def test_content_query_is_centred_on_the_mean(me: UserState) -> None:
    index = BruteIndex(VEC)
    plain = create("content", index=index).score(me, CTX, 3)
    assert list(plain.items) == ["E", "C", "D"]  # q ∝ A+B = (1.8, .6, 0)
    assert plain.items["E"] == pytest.approx(0.6 * 1.8 / math.sqrt(1.8**2 + 0.6**2), abs=1e-6)
    mean = RunningMean()
    for i, v in VEC.items():
        mean.upsert(i, np.array(v))
    centred = create("content", index=index, mean=mean.mean).score(me, CTX, 3)
    q = np.array([1.8, 0.6, 0]) - 2 * np.array([0.48, 0.32, 0.36])
    q /= np.linalg.norm(q)
    assert list(centred.items) == ["C", "E", "D"]
    assert centred.items["E"] == pytest.approx(0.6 * q[0] + 0.8 * q[2], abs=1e-5)


def test_cf_dense_and_index_agree_and_follow_model(me: UserState) -> None:
    m = CFModel(list(FAC), np.array(list(FAC.values()), dtype=np.float32), 0.1, 1.0, "v1")
    u = fold_in(m, ["A", "B"], [1.0, 1.0])
    dense = create("cf", model=lambda: m).score(me, CTX, 3)
    assert dense.items == pytest.approx({i: float(np.dot(FAC[i], u)) for i in "CDE"}, abs=1e-6)
    assert dense.floor == pytest.approx(min(float(np.dot(FAC[i], u)) for i in "CDE"), abs=1e-6)
    idx = BruteIndex({i: v for i, v in FAC.items()})
    via_index = create("cf", model=m, index=idx).score(me, CTX, 3)
    assert list(via_index.items)[0] == list(dense.items)[0]
    assert create("cf", model=lambda: None).score(me, CTX, 3).items == {}


# --- the contract every source passes ------------------------------------------------------
def all_sources(stats: ItemStats) -> dict[str, Recommender]:
    m = CFModel(list(FAC), np.array(list(FAC.values()), dtype=np.float32), 0.1, 1.0, "v1")
    return {"session": create("session", stats=stats), "transitions": create("transitions", stats=stats),
            "popular": create("popular", stats=stats), "content": create("content", index=BruteIndex(VEC)),
            "cf": create("cf", model=m)}


@pytest.mark.parametrize("name", ["session", "transitions", "popular", "content", "cf"])
def test_contract(name: str, stats: ItemStats, me: UserState) -> None:
    src = all_sources(stats)[name]
    assert isinstance(src, Recommender) and src.name == name
    top = src.score(me, CTX, 10)
    assert isinstance(top, Scored) and top.items and not set(top.items) & {"A", "B"}
    assert src.score(me, CTX, 10).items == top.items  # deterministic
    assert len(src.score(me, CTX, 1).items) == 1
    first = next(iter(top.items))
    assert first not in src.score(me, Context(now=100.0, exclude={first}), 10).items
    asked = src.score(me, CTX, ["A", first, "unknown-item"])
    assert set(asked.items) <= {"A", first} and asked.items[first] == pytest.approx(top.items[first])
    cold = src.score(UserState("new"), CTX, 10)  # no history: empty (popular: still answers)
    assert (len(cold.items) > 0) == (name == "popular")
