"""Symmetric sparse pair counts over dense item ints, memory-bounded per row.

Each row keeps its neighbours in append-only ``array`` columns plus a position dict, so an
update is one dict lookup and one in-place add, and reading a row for scoring is a memcpy
into numpy instead of iterating a dict (the difference between ~0.5 ms and ~5 µs a row).
"""
from __future__ import annotations

from array import array
from collections.abc import Iterable

import numpy as np


class _Row:
    __slots__ = ("pos", "keys", "vals")

    def __init__(self) -> None:
        self.pos: dict[int, int] = {}
        self.keys = array("q")
        self.vals = array("d")

    def add(self, j: int, w: float) -> None:
        p = self.pos.get(j)
        if p is None:
            self.pos[j] = len(self.keys)
            self.keys.append(j)
            self.vals.append(w)
        else:
            self.vals[p] += w


_NO_ROW = _Row()  # read-only stand-in for an item without neighbours (never added to)


class PairCounts:
    """``c[i][j] == c[j][i]``: how often i and j co-occurred.

    A row over ``row_cap`` entries is pruned to its strongest 3/4 (ties by the other
    item's hash, so deterministic). Memory is therefore ≤ items × row_cap entries; on
    MovieLens-100K no row reaches the default cap, so counts are exact there.
    """

    def __init__(self, row_cap: int = 5000) -> None:
        if row_cap < 4:
            raise ValueError(f"row_cap must be >= 4, got {row_cap}")
        self.row_cap = row_cap
        self.rows: dict[int, _Row] = {}

    def _row(self, i: int) -> _Row:
        r = self.rows.get(i)
        if r is None:
            r = self.rows[i] = _Row()
        return r

    def add(self, j: int, others: Iterable[int], w: float = 1.0,
            hashes: np.ndarray | None = None) -> None:
        """Count the pair (j, i) once for every i in ``others`` (i ≠ j)."""
        rj = self._row(j)
        for i in others:
            if i == j:
                continue
            ri = self._row(i)
            ri.add(j, w)
            rj.add(i, w)
            if len(ri.keys) > self.row_cap:
                self._prune(i, hashes)
        if len(rj.keys) > self.row_cap:
            self._prune(j, hashes)

    def _prune(self, i: int, hashes: np.ndarray | None) -> None:
        keys, vals = self.row(i)
        tie = hashes[keys] if hashes is not None else keys
        order = np.lexsort((tie, -vals))[: (3 * self.row_cap) // 4]
        r = self.rows[i] = _Row()
        for k, v in zip(keys[order].tolist(), vals[order].tolist()):
            r.add(k, v)

    def get(self, i: int, j: int) -> float:
        r = self.rows.get(i)
        if r is None:
            return 0.0
        p = r.pos.get(j)
        return 0.0 if p is None else r.vals[p]

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(neighbour ints, counts) of row i as new arrays (empty if none)."""
        r = self.rows.get(i)
        if r is None:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        # copies, so no numpy view pins the array buffers (they must stay resizable)
        return (np.array(np.frombuffer(r.keys, dtype=np.int64)),
                np.array(np.frombuffer(r.vals, dtype=np.float64)))

    def gather(self, items: list[int]) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """Rows ``items`` end to end as (neighbour ints, counts, each row's length; 0 for
        an item without a row), writable: one ``bytearray.join`` of the row buffers per
        column (no view pins them), 5x cheaper than a numpy view a row and a concatenate
        for a 20-row history."""
        rows = [self.rows.get(i, _NO_ROW) for i in items]
        return (np.frombuffer(bytearray().join([r.keys for r in rows]), dtype=np.int64),
                np.frombuffer(bytearray().join([r.vals for r in rows]), dtype=np.float64),
                [len(r.keys) for r in rows])

    def n_entries(self) -> int:
        return sum(len(r.keys) for r in self.rows.values())
