"""The seen set: Elias-Fano coding, generations, canonical bytes, false-positive rate."""
from __future__ import annotations

import numpy as np
import pytest

from streams.recommenders.base import is_seen
from streams.state import eliasfano, packing
from streams.state.errors import StateError
from streams.state.ordering import item_hash
from streams.state.packing import Reader, Writer
from streams.state.seen import FP_BITS, SeenSet, fingerprint, fingerprints, item_fingerprint


@pytest.mark.parametrize("n,bits", [(0, 20), (1, 20), (2, 20), (490, 20), (1000, 20), (7, 3),
                                    (8, 3), (1 << 12, 12), (300, 32)])
def test_elias_fano_round_trip(n: int, bits: int) -> None:
    rng = np.random.default_rng(n)
    v = np.unique(rng.integers(0, 1 << bits, size=n, dtype=np.uint64))
    while v.size < n:
        v = np.unique(np.concatenate([v, rng.integers(0, 1 << bits, size=n - v.size, dtype=np.uint64)]))
    v = v.astype(np.uint32)
    b = eliasfano.encode(v, bits)
    assert len(b) == eliasfano.size(n, bits)
    assert np.array_equal(eliasfano.decode(b, n, bits), v)
    if n == 490 and bits == 20:
        assert len(b) * 8 / n < 13.1  # ~2 bits over log2(2**20 / 490) = 11.1


def test_elias_fano_rejects_malformed_blocks() -> None:
    b = eliasfano.encode(np.array([3, 9, 200], np.uint32), 20)
    with pytest.raises(StateError):
        eliasfano.decode(b[:-1], 3, 20)
    with pytest.raises(StateError):
        eliasfano.decode(b, 2, 20)


def _fps(items: str) -> set[int]:
    return {item_fingerprint(i) for i in items}


def _add(s: SeenSet, items: str, keep: int, pinned: str = "") -> SeenSet:
    for i in items:
        s = s.added(item_fingerprint(i), keep, lambda: _fps(pinned))
    return s


def test_generations_keep_the_last_items_and_the_pinned_ones() -> None:
    s = _add(SeenSet(), "abc", keep=3, pinned="a")
    assert s.old == _fps("abc") and not s.new  # third new item: rotated
    s = _add(s, "dbe", keep=3, pinned="a")  # b again: refreshed into new
    assert s.old == _fps("dbea") and not s.new  # c forgotten, a pinned (a positive)
    assert not s.has("c") and all(s.has(i) for i in "abde") and len(s) == 4
    s2 = _add(s, "f", keep=3)
    assert s2.new == _fps("f") and s.new == frozenset()  # ``added`` never mutates its input
    assert _add(s2, "f", keep=3) is s2  # already in new: the same object


def test_seen_items_are_never_missed_and_false_positives_are_rare() -> None:
    items = [f"item-{k}" for k in range(600)]
    s = SeenSet()
    for i in items[:500]:
        s = s.added(item_fingerprint(i), 1000, list)
    assert all(s.has(i) for i in items[:500])
    hashes = np.array([item_hash(i) for i in items], np.uint32)
    assert is_seen(hashes, s.sorted())[:500].all()
    others = np.array([item_hash(f"other-{k}") for k in range(200_000)], np.uint32)
    fpr = float(is_seen(others, s.sorted()).mean())
    assert fpr == pytest.approx(500 / 2 ** FP_BITS, rel=0.25)  # 0.048 %
    assert len(s) == 499 and s.overfetch == 499 + 16 and SeenSet().overfetch == 0  # 2 collide


def test_bytes_are_canonical() -> None:
    """Decoded, a set is equal and evolves identically (what recovery relies on)."""
    rng = np.random.default_rng(3)
    s = SeenSet()
    for k in range(1500):
        s = s.added(int(rng.integers(1 << FP_BITS)), 400, lambda: [7, 11])
        if k % 250 == 0:
            w = Writer()
            s.write(w)
            r = SeenSet.read(Reader(bytes(w.buf)))
            assert r == s and r.old is not s.old
            w2 = Writer()
            r.write(w2)
            assert w2.buf == w.buf
            for j in range(50):
                fp = int(rng.integers(1 << FP_BITS))
                s, r = s.added(fp, 400, lambda: [7, 11]), r.added(fp, 400, lambda: [7, 11])
            assert r == s


def test_fingerprint_is_one_mapping() -> None:
    h = item_hash("x")
    assert fingerprint(h) == item_fingerprint("x") == int(fingerprints(np.array([h]))[0])
    assert fingerprint(0xFFFFFFFF) == (1 << FP_BITS) - 1


def test_pack_bits_short_columns_match_the_numpy_packing() -> None:
    """Columns up to SMALL_PACK values are packed in a Python int; the bytes must be those the
    numpy path gives (records written before stay readable, and both paths read back)."""
    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 8, 9, packing.SMALL_PACK, packing.SMALL_PACK + 1):
        for width in (1, 3, 8, 13, 20, 32):
            vals = rng.integers(0, 2**32, size=n, dtype=np.uint64).astype(np.uint32)
            every = np.unpackbits(vals.view(np.uint8).reshape(n, 4), axis=1, bitorder="little")
            want = np.packbits(every[:, :width].ravel(), bitorder="little").tobytes()
            for given in (vals, vals.tolist()):
                assert packing.pack_bits(given, width) == want, (n, width)
            mask = (1 << width) - 1 if width < 32 else 0xFFFFFFFF
            assert packing.unpack_bits(want, n, width).tolist() == [v & mask for v in vals.tolist()]
