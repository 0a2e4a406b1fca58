"""Symmetric sparse pair counts (dict of dicts over dense item ints), memory-bounded per row."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

_EMPTY_I = np.empty(0, dtype=np.int64)
_EMPTY_F = np.empty(0, dtype=np.float64)


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
        self.rows: dict[int, dict[int, float]] = {}

    def add(self, j: int, others: Iterable[int], w: float = 1.0,
            hashes: np.ndarray | None = None) -> None:
        """Count the pair (j, i) once for every i in ``others`` (i ≠ j)."""
        rows = self.rows
        rj = rows.get(j)
        if rj is None:
            rj = rows[j] = {}
        for i in others:
            if i == j:
                continue
            ri = rows.get(i)
            if ri is None:
                ri = rows[i] = {}
            ri[j] = ri.get(j, 0.0) + w
            rj[i] = rj.get(i, 0.0) + w
            if len(ri) > self.row_cap:
                self._prune(i, hashes)
        if len(rj) > self.row_cap:
            self._prune(j, hashes)

    def _prune(self, i: int, hashes: np.ndarray | None) -> None:
        keys, vals = self.row(i)
        tie = hashes[keys] if hashes is not None else keys
        order = np.lexsort((tie, -vals))[: (3 * self.row_cap) // 4]
        self.rows[i] = dict(zip(keys[order].tolist(), vals[order].tolist()))

    def get(self, i: int, j: int) -> float:
        r = self.rows.get(i)
        return 0.0 if r is None else r.get(j, 0.0)

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(neighbour ints, counts) of row i as arrays (empty if none)."""
        r = self.rows.get(i)
        if not r:
            return _EMPTY_I, _EMPTY_F
        n = len(r)
        return (np.fromiter(r.keys(), dtype=np.int64, count=n),
                np.fromiter(r.values(), dtype=np.float64, count=n))

    def n_entries(self) -> int:
        return sum(len(r) for r in self.rows.values())
