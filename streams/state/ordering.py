"""Deterministic ranking helpers.

Ties are broken by a stable hash of the item id, never by id order: in MovieLens replays
same-second events are ordered by item id, so "prefer the next id" would leak the answer
(see notes/quality-findings.md). Python's ``hash`` is salted per process, hence blake2b.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from hashlib import blake2b

import numpy as np


@lru_cache(maxsize=1 << 20)
def item_hash(item_id: str) -> int:
    """32-bit stable hash of an id: tie-break key and the seen-set representation."""
    return int.from_bytes(blake2b(item_id.encode(), digest_size=4).digest(), "little")


def top_k_indices(scores: np.ndarray, tiebreak: np.ndarray, k: int,
                  valid: np.ndarray | None = None) -> np.ndarray:
    """Indices of the k best scores (desc), ties by ``tiebreak`` (asc); exact at the cut.

    ``valid`` masks out entries (e.g. seen items); entries with score -inf are dropped.
    """
    if k <= 0 or scores.size == 0:
        return np.empty(0, dtype=np.int64)
    cand = np.flatnonzero(np.isfinite(scores) if valid is None else (valid & np.isfinite(scores)))
    if cand.size == 0:
        return cand
    s = scores[cand]
    if cand.size > k:
        cut = np.partition(s, cand.size - k)[cand.size - k]
        keep = s >= cut  # keeps every tie at the cut, so the choice below is exact
        cand, s = cand[keep], s[keep]
    order = np.lexsort((tiebreak[cand], -s))
    return cand[order[:k]]


def sort_scored(scored: Mapping[str, float] | Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
    """(id, score) pairs sorted by score desc, ties by stable hash then id (total order)."""
    pairs = scored.items() if isinstance(scored, Mapping) else scored
    return sorted(pairs, key=lambda p: (-p[1], item_hash(p[0]), p[0]))
