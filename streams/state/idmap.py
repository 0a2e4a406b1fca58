"""Wire ids (strings) ↔ dense ints, so per-item statistics can live in numpy arrays."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from streams.state.ordering import item_hash


class IdMap:
    """Append-only string↔int map; ids are never reused, so arrays indexed by them stay valid.

    Also keeps each id's stable hash in a uint32 array for vectorised tie-breaks and
    seen-set filtering.
    """

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._index: dict[str, int] = {}
        self._ids: list[str] = []
        self._hashes = np.zeros(64, dtype=np.uint32)
        for i in ids:
            self.add(i)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._index

    def add(self, item_id: str) -> int:
        """The dense index of ``item_id``, assigning the next one if new."""
        idx = self._index.get(item_id)
        if idx is not None:
            return idx
        idx = len(self._ids)
        self._index[item_id] = idx
        self._ids.append(item_id)
        if idx >= self._hashes.size:
            self._hashes = np.concatenate([self._hashes, np.zeros_like(self._hashes)])
        self._hashes[idx] = item_hash(item_id)
        return idx

    def get(self, item_id: str) -> int | None:
        return self._index.get(item_id)

    def id_of(self, idx: int) -> str:
        return self._ids[idx]

    def ids_of(self, idxs: Iterable[int]) -> list[str]:
        ids = self._ids
        return [ids[i] for i in idxs]

    @property
    def hashes(self) -> np.ndarray:
        """uint32 stable hash per dense index (a view; length == len(self))."""
        return self._hashes[: len(self._ids)]
