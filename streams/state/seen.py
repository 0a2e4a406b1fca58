"""The seen set: items a user interacted with, so that lists do not show them again.

It holds ``FP_BITS``-bit fingerprints (the top bits of the 32-bit :func:`item_hash`), not
ids. A seen item is always found (its fingerprint is its own: no false negatives); an
unseen item whose fingerprint equals a seen one's is hidden too (a false positive, rate
≈ n / 2**FP_BITS per item checked: 0.05 % at 500 seen items, 0.1 % at 1,000). Filters
over-fetch by :attr:`SeenSet.overfetch`, which adds ``FP_SPARE`` for those.

Eviction is by two generations, not least-recently-used order: fingerprints go to ``new``;
when ``new`` holds ``keep`` of them, ``old`` becomes ``new`` plus every positive's (the
positives must stay seen: ``user._positives`` skips its scan for unseen items) and ``new``
starts empty. So the set always holds the last ``keep`` distinct items and every positive,
and at most ``2·keep + positives``. Two unordered sets are canonical: encoded sorted
(Elias-Fano, ~13 bits per item at 500 items) and decoded, they are the same value, so a
worker that recovered a state from the changelog updates it exactly as one that kept it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache

import numpy as np

from streams.state import eliasfano
from streams.state.ordering import item_hash
from streams.state.packing import Reader, Writer, pack_bits, packed_size, unpack_bits

FP_BITS = 20
FP_SPARE = 16  # extra hits a filter fetches for false positives (P(more than 16) < 1e-13 at 1,000)
_SHIFT = 32 - FP_BITS


def fingerprint(h: int) -> int:
    """The fingerprint of a 32-bit item hash (the one mapping every filter must use)."""
    return h >> _SHIFT


def fingerprints(hashes: np.ndarray) -> np.ndarray:
    """:func:`fingerprint` of an array of 32-bit item hashes."""
    return np.asarray(hashes, dtype=np.uint32) >> np.uint32(_SHIFT)


@lru_cache(maxsize=1 << 20)
def item_fingerprint(item_id: str) -> int:
    return fingerprint(item_hash(item_id))


def item_fingerprints(item_ids: Iterable[str]) -> list[int]:
    return list(map(item_fingerprint, item_ids))  # every record encode: one C-level loop


class SeenSet:
    """Immutable fingerprint set in two generations (see the module doc)."""

    __slots__ = ("old", "new", "_sorted", "_old_bytes")

    def __init__(self, old: Iterable[int] = (), new: Iterable[int] = (),
                 old_bytes: bytes | None = None) -> None:
        self.old: frozenset[int] = old if isinstance(old, frozenset) else frozenset(old)
        # A set handed over by SeenUpdate.done is owned by this object alone (never mutated
        # after): kept as it is, not copied once more per user per batch.
        self.new: frozenset[int] | set[int] = new if isinstance(new, (frozenset, set)) else frozenset(new)
        self._sorted: np.ndarray | None = None
        self._old_bytes = old_bytes  # ``old`` encoded: it changes once per rotation only

    def __contains__(self, fp: object) -> bool:
        return fp in self.new or fp in self.old

    def has(self, item_id: str) -> bool:
        return item_fingerprint(item_id) in self

    def __len__(self) -> int:
        return int(self.sorted().size)

    def __bool__(self) -> bool:
        return bool(self.new or self.old)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SeenSet) and self.old == other.old and self.new == other.new

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SeenSet(old={len(self.old)}, new={len(self.new)})"

    def sorted(self) -> np.ndarray:
        """Every fingerprint once, sorted (uint32; for ``recommenders.base.in_sorted``)."""
        if self._sorted is None:
            self._sorted = np.union1d(np.fromiter(self.old, np.uint32, len(self.old)),
                                      np.fromiter(self.new, np.uint32, len(self.new)))
        return self._sorted

    @property
    def overfetch(self) -> int:
        """How many more hits than wanted to fetch before filtering this set out."""
        return len(self) + FP_SPARE if self else 0

    def updating(self) -> "SeenUpdate":
        return SeenUpdate(self)

    def added(self, fp: int, keep: int, pinned: Callable[[], Iterable[int]]) -> "SeenSet":
        """This set after one item (see :meth:`SeenUpdate.add`)."""
        if fp in self.new:
            return self
        u = SeenUpdate(self)
        u.add(fp, keep, pinned)
        return u.done()

    def write(self, w: Writer, implied: Iterable[int] = ()) -> None:
        """Both generations Elias-Fano coded (sorted: canonical). ``implied`` are
        fingerprints the reader can recompute (the positives'): one bit each says whether
        it is in ``new``, which is then coded without them (~12 bits saved per item)."""
        if self._old_bytes is None:
            self._old_bytes = _encode(self.old)
        imp = sorted(set(implied))
        new = self.new.difference(imp) if imp else self.new
        w.uint(len(self.old))
        w.uint(len(new))
        w.raw(self._old_bytes)
        w.raw(pack_bits([fp in self.new for fp in imp], 1))
        w.raw(_encode(new))

    @classmethod
    def read(cls, r: Reader, implied: Iterable[int] = ()) -> "SeenSet":
        """Inverse of :meth:`write`, given the same ``implied`` fingerprints."""
        n_old, n_new = r.uint(), r.uint()
        old_bytes = r.raw(eliasfano.size(n_old, FP_BITS))
        old = eliasfano.decode(old_bytes, n_old, FP_BITS)
        imp = sorted(set(implied))
        flags = unpack_bits(r.raw(packed_size(len(imp), 1)), len(imp), 1)
        new = eliasfano.decode(r.raw(eliasfano.size(n_new, FP_BITS)), n_new, FP_BITS).tolist()
        new.extend(fp for fp, f in zip(imp, flags.tolist()) if f)
        return cls(old.tolist(), new, bytes(old_bytes))


def _encode(gen: frozenset[int]) -> bytes:
    return eliasfano.encode(np.sort(np.fromiter(gen, np.uint32, len(gen))), FP_BITS)


class SeenUpdate:
    """A mutable copy for a batch of additions (one copy of ``new`` per batch, not per item)."""

    __slots__ = ("_base", "old", "new", "_changed")

    def __init__(self, base: SeenSet) -> None:
        self._base, self.old, self.new, self._changed = base, base.old, set(base.new), False

    def __contains__(self, fp: object) -> bool:
        return fp in self.new or fp in self.old

    def add(self, fp: int, keep: int, pinned: Callable[[], Iterable[int]]) -> None:
        """Add one fingerprint; when ``new`` reaches ``keep`` it becomes ``old``, together
        with ``pinned()`` (the positives' fingerprints), and the former ``old`` is dropped."""
        if fp in self.new:
            return
        self._changed = True
        self.new.add(fp)
        if len(self.new) >= keep:
            self.new.update(pinned())
            self.old, self.new = frozenset(self.new), set()

    def done(self) -> SeenSet:
        """The new set; this update must not be used after (its ``new`` set moves over)."""
        if not self._changed:
            return self._base
        base = self._base
        new, self.new = self.new, set()
        return SeenSet(self.old, new, base._old_bytes if self.old is base.old else None)
