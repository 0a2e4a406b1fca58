"""Ranking metrics for a single relevant item, and their running totals.

Every scored event has exactly one relevant item (the one the user rated next), so
HR@K is "did it appear in the top K" and NDCG@K is 1/log2(rank+2) with rank from 0.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

KS: tuple[int, ...] = (10, 20)


def hit_at(rank: int | None, k: int) -> float:
    """1.0 when the relevant item is within the first ``k`` positions (rank from 0)."""
    return 1.0 if rank is not None and rank < k else 0.0


def ndcg_at(rank: int | None, k: int) -> float:
    """NDCG@k with one relevant item: the ideal DCG is 1, so it is just the discounted gain."""
    return 1.0 / math.log2(rank + 2) if rank is not None and rank < k else 0.0


def top_k(scores: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` best candidates; ties go to the smaller index (smaller item id).

    Non-candidates never appear, even when fewer than ``k`` candidates exist.
    """
    idx = np.flatnonzero(candidates)
    if idx.size == 0:
        return idx
    vals = scores[idx]
    if idx.size > k:
        # argpartition does not respect ties, so keep every item tied with the k-th score.
        kth = np.partition(-vals, k - 1)[k - 1]
        keep = -vals <= kth
        idx, vals = idx[keep], vals[keep]
    order = np.lexsort((idx, -vals))
    return idx[order[:k]]


def rank_in(items: np.ndarray, target: int) -> int | None:
    """Position of ``target`` in a recommended list, or None when it is absent."""
    where = np.flatnonzero(items == target)
    return int(where[0]) if where.size else None


def hit_credit(explanation: dict[str, float]) -> dict[str, float]:
    """Split one hit between the sources in proportion to their positive contributions."""
    positive = {s: v for s, v in explanation.items() if v > 0}
    total = sum(positive.values())
    return {s: v / total for s, v in positive.items()} if total > 0 else {}


@dataclass
class MetricTotals:
    """Running sums over scored events; ``summary()`` turns them into the reported figures."""

    catalogue_size: int
    scored: int = 0
    hits: dict[int, float] = field(default_factory=lambda: {k: 0.0 for k in KS})
    ndcg: dict[int, float] = field(default_factory=lambda: {k: 0.0 for k in KS})
    recommended: set[int] = field(default_factory=set)
    source_credit: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    hit_trace: list[float] = field(default_factory=list)

    def add(self, items: np.ndarray, target: int, explanation: dict[str, float] | None = None) -> int | None:
        """Score one list against its relevant item; ``explanation`` is the target's per-source contribution."""
        rank = rank_in(items, target)
        self.scored += 1
        for k in KS:
            self.hits[k] += hit_at(rank, k)
            self.ndcg[k] += ndcg_at(rank, k)
        self.recommended.update(items[:10].tolist())
        self.hit_trace.append(hit_at(rank, 10))
        if explanation is not None and hit_at(rank, 10):
            for source, share in hit_credit(explanation).items():
                self.source_credit[source] += share
        return rank

    def summary(self) -> dict[str, float]:
        """HR@K, NDCG@K, coverage@10 and the number of scored events."""
        n = max(self.scored, 1)
        out: dict[str, float] = {"scored": float(self.scored)}
        for k in KS:
            out[f"hr@{k}"] = self.hits[k] / n
            out[f"ndcg@{k}"] = self.ndcg[k] / n
        out["coverage@10"] = len(self.recommended) / max(self.catalogue_size, 1)
        return out

    def source_share(self) -> dict[str, float]:
        """Fraction of HR@10 hits credited to each source (sums to 1 when explanations were given)."""
        hits = sum(self.source_credit.values())
        return {s: v / hits for s, v in sorted(self.source_credit.items())} if hits else {}


def windowed(trace: list[float], window: int) -> list[float]:
    """Mean of consecutive windows of a hit trace (the last partial window included)."""
    return [float(np.mean(trace[i:i + window])) for i in range(0, len(trace), window)]
