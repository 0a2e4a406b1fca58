"""User-state rules against hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pytest

from streams.schemas import Interaction
from streams.state import (CFModel, EventWeights, MissingValue, StateError, UnknownEventType,
                           Pending, UserParams, UserState, apply_event, apply_events, decay_factor,
                           fold_in, fold_pending, from_bytes, item_hash, refresh_cf, to_bytes)
from streams.state.decay import DecayedCounts
from streams.state.seen import SeenSet, fingerprint

H = 3600.0
E = np.eye(4, dtype=np.float32)


def ev(item: str, etype: str = "click", ts: float = 0.0, value: float | None = None,
       user: str = "u1") -> Interaction:
    return Interaction(event_id=f"{user}-{item}-{ts}", type=etype, user_id=user, item_id=item,
                       ts=ts, value=value)


# --- weights -----------------------------------------------------------------------------
def test_rating_map_is_positive_only_by_default() -> None:
    w = EventWeights()
    assert w.signal("rating", 5) == (1.0, 1.0)
    assert w.signal("rating", 4) == (1.0, 1.0)
    assert w.signal("rating", 3.5) == (0.5, 0.5)
    assert w.signal("rating", 2) == (0.0, 0.0)
    assert w.signal("unfavourite", None) == (0.0, -2.0)
    assert w.signal("favourite", None) == (2.0, 2.0)


def test_signed_content_weights_around_neutral() -> None:
    w = EventWeights(content_neutral=3.0, content_scale=2.0)
    assert w.signal("rating", 1) == (0.0, -1.0)
    assert w.signal("rating", 4) == (1.0, 0.5)


def test_new_type_is_one_config_line_and_errors_are_clear() -> None:
    w = EventWeights(types={"purchase": 3.0, "skip": -0.5, "rating": "rating"})
    assert w.signal("purchase", None) == (3.0, 3.0)
    assert w.is_negative("skip") and not w.is_negative("purchase")
    with pytest.raises(UnknownEventType, match="'click'.*purchase"):
        w.signal("click", None)
    with pytest.raises(MissingValue):
        w.signal("rating", None)
    with pytest.raises(StateError, match="cheap='x'"):
        EventWeights(types={"cheap": "x"})


def test_from_settings_specs() -> None:
    from streams.settings import DEFAULT_EVENT_TYPES
    w = EventWeights.from_specs(DEFAULT_EVENT_TYPES)
    assert w.signal("rating", 3) == (0.5, 0.5) and w.signal("favourite", None) == (2.0, 2.0)


# --- decay -------------------------------------------------------------------------------
def test_decay_factor_half_life() -> None:
    assert decay_factor(H, H) == pytest.approx(0.5)
    assert decay_factor(2 * H, H) == pytest.approx(0.25)
    assert decay_factor(-H, H) == 1.0 and decay_factor(5 * H, math.inf) == 1.0


def test_decayed_counts_and_rebase() -> None:
    c = DecayedCounts(H)
    c.add(0, 1.0, 0.0)
    c.add(1, 1.0, H)
    c.add(1, 1.0, H)
    assert c.at(2 * H, 2) == pytest.approx([0.25, 1.0])
    assert c.total_at(2 * H) == pytest.approx(1.25)
    c.add(0, 1.0, 1000 * H)  # forces a rebase; old mass is ~2^-1000 by now
    assert c.at(1000 * H, 2) == pytest.approx([1.0, 0.0]) and np.isfinite(c.values).all()


# --- content vector ----------------------------------------------------------------------
P = UserParams(content_half_life=H)


def test_content_vector_is_decayed_weighted_sum() -> None:
    s = apply_event(UserState("u1"), ev("a", "click", 0.0), E[0] * 3, P)  # normalised to e0
    s = apply_event(s, ev("b", "favourite", H), E[1], P)
    assert s.content == pytest.approx([0.5, 2.0, 0, 0])
    assert s.content_mass == pytest.approx(2.5)
    s = apply_event(s, ev("c", "click", 0.0), E[2], P)  # late event: decayed on arrival
    assert s.content == pytest.approx([0.5, 2.0, 0.5, 0])
    s = apply_event(s, ev("b", "unfavourite", 2 * H), E[1], P)
    assert s.content == pytest.approx([0.25, 1.0 - 2.0, 0.25, 0])


def test_pending_items_fold_in_when_vector_arrives() -> None:
    s = apply_event(UserState("u1"), ev("a", "click", 0.0), None, P)
    s = apply_event(s, ev("b", "click", H), E[1], P)
    assert s.content == pytest.approx([0, 1, 0, 0]) and [p.item_id for p in s.pending] == ["a"]
    s = fold_pending(s, {"a": E[0]}.get, P)
    assert s.content == pytest.approx([0.5, 1, 0, 0]) and s.pending == ()
    full = UserParams(pending_max=2)
    for i in range(4):
        s = apply_event(s, ev(f"x{i}", "click", H), None, full)
    assert [p.item_id for p in s.pending] == ["x2", "x3"]


def test_input_state_is_not_mutated() -> None:
    s0 = apply_event(UserState("u1"), ev("a"), E[0], P)
    before = (s0.content.copy(), SeenSet(s0.seen.old, s0.seen.new), s0.positives)
    apply_event(s0, ev("b", ts=H), E[1], P)
    assert (s0.content == before[0]).all() and s0.seen == before[1] and s0.positives == before[2]


# --- positives, recent, seen ---------------------------------------------------------------
def test_positives_recent_and_seen_rules() -> None:
    p = UserParams(recent_max=3, positives_max=3, seen_max=4)
    s = UserState("u1")
    for i, (item, t, v) in enumerate([("a", "rating", 5), ("b", "rating", 2), ("c", "rating", 3),
                                      ("d", "click", None), ("a", "click", None)]):
        s = apply_event(s, ev(item, t, float(i), v), None, p)
    assert s.positives == (("c", 0.5), ("d", 1.0), ("a", 1.0))  # b (rating 2) is no positive
    assert [r.item_id for r in s.recent] == ["c", "d", "a"]
    assert s.recent_positives(2) == [("a", 1.0), ("d", 1.0)]
    s = apply_event(s, ev("d", "unfavourite", 9.0), None, p)
    assert [i for i, _ in s.positives] == ["c", "a"]
    # seen: the 4th new item (d) rotated {a, b, c, d} into the old generation; a, d, e went
    # to the new one, and f, its 4th, rotates again: b is dropped, c kept as a positive
    s = apply_event(s, ev("e", "click", 10.0), None, p)
    assert all(s.has_seen(i) for i in "abcde") and len(s.seen) == 5
    assert s.seen.new == {fingerprint(item_hash(i)) for i in "ade"}
    for k, item in enumerate("fg"):
        s = apply_event(s, ev(item, "rating", 11.0 + k, 1.0), None, p)  # rating 1: no positive
    assert [i for i, _ in s.positives] == ["c", "a", "e"]
    assert s.seen.old == {fingerprint(item_hash(i)) for i in "acdef"}
    assert s.seen.new == {fingerprint(item_hash("g"))}
    assert not s.has_seen("b") and all(s.has_seen(i) for i in "acdefg")
    with pytest.raises(StateError, match="seen_max"):
        UserParams(seen_max=10, positives_max=20)


# --- collaborative fold-in ---------------------------------------------------------------
def _lstsq_user(y: np.ndarray, pos: dict[int, float], alpha: float, lam: float) -> np.ndarray:
    """The same objective solved as a generic weighted least-squares problem."""
    c = np.ones(len(y))
    p = np.zeros(len(y))
    for i, w in pos.items():
        c[i], p[i] = alpha * w, 1.0
    a = np.vstack([np.sqrt(c)[:, None] * y, math.sqrt(lam) * np.eye(y.shape[1])])
    b = np.concatenate([np.sqrt(c) * p, np.zeros(y.shape[1])])
    return np.linalg.lstsq(a, b, rcond=None)[0]


def test_fold_in_matches_weighted_least_squares() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=(20, 4)).astype(np.float32)
    m = CFModel([f"i{i}" for i in range(20)], y, regularization=0.1, alpha=3.0, version="v1")
    u = fold_in(m, ["i2", "i5", "i7", "unknown"], [1.0, 0.5, 2.0, 1.0])
    expected = _lstsq_user(y.astype(np.float64), {2: 1.0, 5: 0.5, 7: 2.0}, 3.0, 0.1)
    assert u == pytest.approx(expected, rel=1e-4, abs=1e-5)
    assert fold_in(m, ["nope"], [1.0]) is None


def test_cf_vector_follows_events_and_model_version() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=(6, 3)).astype(np.float32)
    m = CFModel([str(i) for i in range(6)], y, regularization=0.1, alpha=1.0, version="v1")
    s = apply_event(UserState("u1"), ev("1"), None, P, cf=m)
    s = apply_event(s, ev("4", "rating", 1.0, 4.0), None, P, cf=m)
    assert s.cf_version == "v1"
    assert s.cf == pytest.approx(_lstsq_user(y.astype(float), {1: 1.0, 4: 1.0}, 1.0, 0.1), abs=1e-5)
    lazy = apply_events(UserState("u1"), [ev("1"), ev("4", "rating", 1.0, 4.0)], [None, None], P)
    assert lazy.cf_version is None and refresh_cf(lazy, m).cf == pytest.approx(s.cf)
    m2 = CFModel(m.item_ids, y * 2, regularization=0.1, version="v2")
    assert refresh_cf(s, m2).cf_version == "v2"


# --- serialisation -----------------------------------------------------------------------
def _busy_user(n: int, dim: int = 384) -> UserState:
    rng = np.random.default_rng(2)
    m = CFModel([str(i) for i in range(2000)], rng.normal(size=(2000, 64)).astype(np.float32))
    s = UserState("user-42")
    for i in range(n):
        t, v = ("rating", float(1 + i % 5)) if i % 3 else ("click", None)
        s = apply_event(s, ev(str(rng.integers(2000)), t, 8.8e8 + 60 * i, v), rng.normal(size=dim), P)
    s = apply_event(s, ev("pending-item", "click", 8.8e8 + 60 * n), None, P)
    return refresh_cf(s, m)


def test_bytes_round_trip() -> None:
    s = _busy_user(60)
    r = from_bytes(to_bytes(s))
    assert r.user_id == s.user_id and r.n_events == s.n_events and r.last_ts == s.last_ts
    for got, want in ((r.content, s.content), (r.cf, s.cf)):  # int8 x scale: error / norm
        assert np.linalg.norm(got - want) <= 0.01 * np.linalg.norm(want)
        assert float(got @ want) / (np.linalg.norm(got) * np.linalg.norm(want)) >= 0.9999
    assert r.cf_version == s.cf_version
    assert [i for i, _ in r.positives] == [i for i, _ in s.positives]
    assert [w for _, w in r.positives] == [w for _, w in s.positives]
    assert [(x.item_id, x.type, x.weight) for x in r.recent] == [(x.item_id, x.type, x.weight) for x in s.recent]
    assert [x.ts for x in r.recent] == pytest.approx([x.ts for x in s.recent], abs=0.01)
    assert r.seen == s.seen and r.pending == s.pending
    assert to_bytes(r) == to_bytes(s)  # canonical: re-encoding a decoded state changes nothing
    with pytest.raises(StateError):
        from_bytes(b"nope")
    for cut in (5, len(to_bytes(s)) - 1):
        with pytest.raises(StateError):
            from_bytes(to_bytes(s)[:cut])
    with pytest.raises(StateError):
        from_bytes(to_bytes(s) + b"x")


def test_round_trip_after_rotations_is_exact_and_evolves_alike() -> None:
    """Positives pinned in ``old``, some in ``new``: the elided fingerprints come back."""
    p = UserParams(seen_max=8, positives_max=4, recent_max=5)
    rng = np.random.default_rng(4)
    s = UserState("u1")
    for k in range(200):
        t, v = [("click", None), ("rating", 1.0), ("unfavourite", None)][int(rng.integers(3))]
        s = apply_event(s, ev(f"i{int(rng.integers(40))}", t, float(k), v), None, p)
        r = from_bytes(to_bytes(s))
        assert r.seen == s.seen and r.positives == s.positives and to_bytes(r) == to_bytes(s)
        nxt = ev(f"i{int(rng.integers(40))}", "click", k + 0.5)
        assert apply_event(r, nxt, None, p).seen == apply_event(s, nxt, None, p).seen


def test_odd_ids_and_empty_state_round_trip() -> None:
    s = UserState("u\x00ü")
    assert from_bytes(to_bytes(s)).user_id == s.user_id and not from_bytes(to_bytes(s)).seen
    for item in ("a\x00b", "é" * 256, "c"):  # a NUL in an id: length-prefixed strings
        s = apply_event(s, ev(item, "click", 1.0), None, P)
    r = from_bytes(to_bytes(s))
    assert [x.item_id for x in r.recent] == ["a\x00b", "é" * 256, "c"] and r.seen == s.seen
    assert [p.item_id for p in r.pending] == [p.item_id for p in s.pending]


# The GU1 bytes (record GR1) a worker before the GU2 format wrote for: seen_max 4,
# positives_max 2, recent_max 3; events a click, b rating 2, c favourite, d click, e rating 5
# (vectors arange(4) + k), then x click with no vector yet (pending).
GU1_RECORD = bytes.fromhex(
    "4752310300010000000000000002000000000000000300000000000000475531bb0000007b2275223a227537"
    "222c226e223a362c2274223a313030392e302c22636d223a342e3939393939373539333233393835312c2263"
    "74223a313030342e302c226364223a342c226664223a302c226676223a6e756c6c2c227269223a5b2264222c"
    "2265222c2278225d2c227279223a5b22636c69636b222c22726174696e67225d2c227263223a5b302c312c30"
    "5d2c227069223a5b2265222c2278225d2c2271223a5b5b2278222c312e302c313030392e305d5d2c226e7322"
    "3a347de63cd83f6541de42a5047ec9df1feb3b9d28609bb1ba07e50000c0400000a04000000000003c003c00"
    "3c003c003c")


def test_first_format_is_still_read() -> None:
    from streams.agents import record
    rec = record.decode(GU1_RECORD)
    s = rec.state
    assert rec.event_keys == (1, 2, 3) and s.user_id == "u7" and s.n_events == 6
    assert s.content == pytest.approx([1.2241774, 1.9605236, 2.6968699, 3.4332159], rel=1e-3)
    assert [(r.item_id, r.type, r.ts) for r in s.recent] == [
        ("d", "click", 1003.0), ("e", "rating", 1004.0), ("x", "click", 1009.0)]
    assert s.positives == (("e", 1.0), ("x", 1.0)) and s.pending == (Pending("x", 1.0, 1009.0),)
    assert all(s.has_seen(i) for i in "cdex") and len(s.seen) == 4  # the LRU 4 of a..e, x
    again = record.decode(record.encode(rec))  # rewritten in the current format
    assert again.state.seen == s.seen and again.state.positives == s.positives
    p = UserParams(seen_max=4, positives_max=2, recent_max=3)
    assert apply_event(s, ev("y"), None, p).has_seen("y")


def test_serialised_size_report() -> None:
    sizes = {n: len(to_bytes(_busy_user(n))) for n in (20, 100, 500)}
    print(f"\nuser state bytes at 384-d + 64-d CF: {sizes}")
    assert sizes[20] < 2048


def test_apply_events_equals_folding_apply_event() -> None:
    rng = np.random.default_rng(5)
    p = UserParams(recent_max=5, positives_max=4, seen_max=6, pending_max=3, content_half_life=H)
    vecs = {f"i{j}": rng.normal(size=8) for j in range(8)}
    kinds = [("click", None), ("favourite", None), ("unfavourite", None), ("rating", 5.0),
             ("rating", 2.0), ("rating", 3.0)]
    evs = []
    for k in range(300):
        t, v = kinds[int(rng.integers(len(kinds)))]
        evs.append(ev(f"i{int(rng.integers(12))}", t, float(rng.integers(0, 40)) * 60, v))
    vs = [vecs.get(e.item_id) for e in evs]
    one = UserState("u1")
    for e, v in zip(evs, vs):
        one = apply_event(one, e, v, p)
    for cut in (1, 7, 300):  # batch boundaries anywhere give the same state
        many = UserState("u1")
        for i in range(0, len(evs), cut):
            many = apply_events(many, evs[i:i + cut], vs[i:i + cut], p)
        # one product per batch instead of one fold per event: equal up to float32 rounding
        assert np.allclose(many.content, one.content, rtol=1e-5, atol=1e-6)
        assert many.content_mass == pytest.approx(one.content_mass, rel=1e-9)
        assert (many.recent, many.positives, many.seen, many.pending, many.n_events,
                many.last_ts, many.cf_version) == (one.recent, one.positives, one.seen,
                                                   one.pending, one.n_events, one.last_ts, one.cf_version)


def test_fold_content_is_the_closed_form_in_any_order() -> None:
    """One product per batch: Σ w·2^(-(T-t)/h)·x̂ with T the newest time, whatever the order."""
    from streams.state.user import fold_content
    rng = np.random.default_rng(9)
    xs = [rng.normal(size=6) for _ in range(5)]
    ws, ts = [1.0, -2.0, 0.5, 3.0, 1.0], [10 * H, 2 * H, 7 * H, 0.0, 10 * H]
    want = sum(w * 2 ** (-(10 * H - t) / H) * x / np.linalg.norm(x) for x, w, t in zip(xs, ws, ts))
    mass = sum(w * 2 ** (-(10 * H - t) / H) for w, t in zip(ws, ts))
    for order in ([0, 1, 2, 3, 4], [3, 1, 4, 0, 2]):
        v, m, t = fold_content((None, 0.0, 0.0), [xs[i] for i in order], [ws[i] for i in order],
                               [ts[i] for i in order], True, H)
        assert np.allclose(v, want, rtol=1e-5) and m == pytest.approx(mass) and t == 10 * H
    # an older sum decays to the new time; zero vectors and other dimensions are ignored
    v2, m2, t2 = fold_content((np.ones(6, np.float32), 2.0, 9 * H),
                              [xs[0], np.zeros(6), np.ones(3)], [1.0, 5.0, 5.0], [11 * H] * 3, True, H)
    assert np.allclose(v2, 0.25 * np.ones(6) + xs[0] / np.linalg.norm(xs[0]), rtol=1e-5)
    assert m2 == pytest.approx(2.0 * 0.25 + 1.0) and t2 == 11 * H
