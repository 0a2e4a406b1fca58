"""Maximal marginal relevance: trade a little relevance for lists that are not all alike."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from streams.state.ordering import item_hash


def mmr(items: Sequence[str], relevance: Mapping[str, float], vectors: Mapping[str, np.ndarray],
        k: int, lam: float) -> list[str]:
    """Greedy MMR: pick argmax λ·rel(i) − (1−λ)·max_{j chosen} cos(i, j).

    Relevance is scaled to [0, 1] by the pool's best so both terms share a range; items
    without a vector count as dissimilar to everything. Ties go to the stable hash.
    """
    if not items or k <= 0:
        return []
    top = max(relevance[i] for i in items)
    rel = np.array([relevance[i] / top if top > 0 else 0.0 for i in items])
    dim = next((np.asarray(v).size for v in vectors.values()), 0)
    mat = np.zeros((len(items), max(dim, 1)), dtype=np.float64)
    for n, i in enumerate(items):
        v = vectors.get(i)
        if v is not None and np.asarray(v).size == dim:
            norm = np.linalg.norm(v)
            mat[n] = np.asarray(v, dtype=np.float64).ravel() / norm if norm > 0 else 0.0
    tie = np.array([item_hash(i) for i in items], dtype=np.float64)
    max_sim = np.full(len(items), -np.inf)
    chosen: list[int] = []
    free = np.ones(len(items), dtype=bool)
    for _ in range(min(k, len(items))):
        penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
        gain = lam * rel - (1.0 - lam) * penalty
        cand = np.flatnonzero(free)
        best = cand[np.lexsort((tie[cand], -gain[cand]))[0]]
        chosen.append(int(best))
        free[best] = False
        max_sim = np.maximum(max_sim, mat @ mat[best])
    return [items[c] for c in chosen]
