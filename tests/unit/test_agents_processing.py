"""The user-state agent's pure parts: record bytes, batch apply, de-duplication, rejects."""
from __future__ import annotations

import numpy as np
import pytest

from streams.agents import record
from streams.agents.processing import Incoming, UserStateUpdater
from streams.settings import Settings
from streams.state.errors import StateError
from streams.state.user import UserParams
from streams.state.weights import EventWeights
from streams.wire import dumps

S = Settings()
VECS = {"i1": np.array([1, 0, 0], np.float32), "i2": np.array([0, 1, 0], np.float32)}


def updater(window: int = 32) -> UserStateUpdater:
    return UserStateUpdater(S.all_event_types, S.max_message_bytes,
                            UserParams(weights=EventWeights.from_specs(S.all_event_types)),
                            VECS.get, lambda: None, window)


def msg(offset: int, user: str = "u1", item: str = "i1", eid: str | None = None,
        etype: str = "click", key: str | None = None, raw: bytes | None = None) -> Incoming:
    body = raw if raw is not None else dumps({"event_id": eid or f"e{offset}", "type": etype,
                                              "user_id": user, "item_id": item, "ts": 100.0 + offset})
    return Incoming((key or user).encode(), body, "t.interactions", 3, offset, 50.0)


def run(up: UserStateUpdater, table: dict[str, bytes], batch: list[Incoming]):
    res = up.apply(batch, table.get)
    table.update({u: raw for u, (raw, _) in res.writes.items()})
    return res


def test_record_round_trip_keeps_state_and_event_window() -> None:
    table: dict[str, bytes] = {}
    run(updater(window=2), table, [msg(0), msg(1, item="i2"), msg(2)])
    rec = record.decode(table["u1"])
    assert rec.state.n_events == 3 and [r.item_id for r in rec.state.recent] == ["i1", "i2", "i1"]
    assert rec.event_keys == (record.event_key("e1"), record.event_key("e2"))  # bounded, newest kept
    assert record.decode(record.encode(rec)).event_keys == rec.event_keys


def test_duplicates_within_and_across_batches_are_skipped() -> None:
    up, table = updater(), {}
    first = run(up, table, [msg(0), msg(1, eid="e0"), msg(2, user="u2")])
    assert (len(first.applied), first.duplicates) == (2, 1)
    again = run(up, table, [msg(0), msg(2, user="u2")])  # a replay after a crash
    assert (again.applied, again.duplicates, again.writes) == ([], 2, {})
    assert record.decode(table["u1"]).state.n_events == 1


def test_rejects_carry_reasons_and_do_not_stop_the_batch() -> None:
    res = run(updater(), {}, [msg(0, raw=b"{nope"), msg(1, etype="teleport"), msg(2, key="other"),
                              msg(3, user="u9")])
    reasons = [r.reason for r in res.rejected]
    assert reasons[0].startswith("not JSON") and "teleport" in reasons[1] and "must equal user_id" in reasons[2]
    assert [r.msg.offset for r in res.rejected] == [0, 1, 2]
    assert list(res.writes) == ["u9"] and res.writes["u9"][1] == 3  # index of the user's last message


def test_unreadable_stored_record_restarts_the_user_and_is_counted() -> None:
    table = {"u1": b"garbage"}
    res = run(updater(), table, [msg(0)])
    assert res.corrupt == 1 and record.decode(table["u1"]).state.n_events == 1
    with pytest.raises(StateError):
        record.decode(b"GR1\x05\x00")  # says 5 ids, holds none
    with pytest.raises(StateError):
        record.decode(b"GR2\x05\x00")


def test_first_record_format_keys_still_match_new_events() -> None:
    """GR1 kept 64-bit blake2b keys; GR2 keeps their low 48 bits, which ``event_key`` gives."""
    from hashlib import blake2b
    rec = record.decode(record.encode(record.new_record("u1")))
    full = int.from_bytes(blake2b(b"e1", digest_size=8).digest(), "little")
    gr1 = b"GR1\x01\x00" + full.to_bytes(8, "little") + record.encode(rec)[5:]
    assert record.decode(gr1).event_keys == (record.event_key("e1"),) == (full & (2 ** 48 - 1),)
    up, table = updater(), {"u1": gr1}
    assert run(up, table, [msg(1)]).duplicates == 1  # msg(1) is e1: recognised as applied
    assert table["u1"] == gr1


def test_cache_serves_only_the_bytes_the_table_holds() -> None:
    up, table = UserStateUpdater(S.all_event_types, S.max_message_bytes,
                                 UserParams(weights=EventWeights.from_specs(S.all_event_types)),
                                 VECS.get, lambda: None, 32, cache_users=10), {}
    run(up, table, [msg(0), msg(1, user="u2")])
    run(up, table, [msg(2), msg(3, item="i2")])
    assert up.cache.hits == 1 and up.cache.misses == 0  # u1 decoded once, never again
    cached = record.decode(table["u1"])
    # another writer (a rebalance, a changelog recovery) replaced u1's bytes: the cache must not serve it
    table["u1"] = record.encode(record.UserRecord(cached.state, cached.event_keys[:1]))
    res = run(up, table, [msg(3, item="i2")])  # e3 is no longer in the stored window: applied again
    assert up.cache.misses == 1 and len(res.applied) == 1
    assert record.decode(table["u1"]).state.n_events == 4
    # same results with and without the cache
    plain, t2 = updater(), {}
    for b in ([msg(0), msg(1, user="u2")], [msg(2), msg(3, item="i2")]):
        run(plain, t2, b)
    cached_up, t3 = UserStateUpdater(S.all_event_types, S.max_message_bytes,
                                     UserParams(weights=EventWeights.from_specs(S.all_event_types)),
                                     VECS.get, lambda: None, 32, cache_users=1), {}
    for b in ([msg(0), msg(1, user="u2")], [msg(2), msg(3, item="i2")]):
        run(cached_up, t3, b)
    assert t2 == t3 and len(cached_up.cache) == 1


def test_flush_in_parts_gives_the_same_bytes_and_every_user_stays_readable() -> None:
    batch = [msg(i, user=f"u{i % 7}", item="i1" if i % 2 else "i2") for i in range(30)]
    whole, parted = updater(), updater()
    table: dict[str, bytes] = {}
    whole.apply_pending(batch, table.get)
    parted.apply_pending(batch, table.get)
    expected = whole.flush()
    got: dict[str, bytes] = {}
    for part in parted.flush_parts(3):
        assert len(part) <= 3
        table.update(part)  # as the agent stores each part before it lets other work run
        got.update(part)
        for user in expected:  # between parts: still pending, or stored (and cached when it fits)
            now = parted.current(user, table.get(user)) or record.decode(table[user])
            assert record.encode(now) == expected[user]
    assert got == expected and not parted.pending
