"""Running mean of the catalogue's item vectors.

Content queries are centred on it (``u - mass·mean``): in the prototype, centring item
vectors on the running mean lifted the content signal. Fed from ``item-vectors``.
"""
from __future__ import annotations

import numpy as np


class RunningMean:
    """Exact mean of the vectors currently in the catalogue (upserts replace, deletes remove)."""

    def __init__(self, normalize: bool = True) -> None:
        self.normalize = normalize
        self._sum: np.ndarray | None = None
        self._members: dict[str, np.ndarray] = {}

    def _prep(self, v: np.ndarray) -> np.ndarray:
        x = np.asarray(v, dtype=np.float64).ravel()
        n = float(np.linalg.norm(x))
        return x / n if self.normalize and n > 0 else x

    def upsert(self, item_id: str, vector: np.ndarray) -> None:
        x = self._prep(vector)
        if self._sum is None:
            self._sum = np.zeros_like(x)
        if x.shape != self._sum.shape:
            return  # another model's vector; ignored (the replica reports those)
        self.remove(item_id)
        self._members[item_id] = x
        self._sum += x

    def remove(self, item_id: str) -> None:
        old = self._members.pop(item_id, None)
        if old is not None and self._sum is not None:
            self._sum -= old

    def __len__(self) -> int:
        return len(self._members)

    def mean(self) -> np.ndarray | None:
        if not self._members or self._sum is None:
            return None
        return (self._sum / len(self._members)).astype(np.float32)
