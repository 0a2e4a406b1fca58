"""One int key per item id a ranking worker knows, with its row in every store it reads.

Fusion over strings costs a dict lookup per candidate per source (hundreds per list);
over keys it is array gathers. :class:`ItemKeys` gives every id met (FAISS hits, every
item of :class:`ItemStats`) a dense key once, and keeps, per key: the stable hash (tie
break, seen filter), the row in ``ItemStats`` (session, transitions, popularity arrays),
the row in the content vector matrix, the row in the current CF factors, and whether the
item is deleted. Rows are kept current incrementally: new ItemStats ids when read (the
id map is append-only), content rows through :attr:`ContentIndex.listeners`, CF rows when
the model object changes (once per model version). All of it runs on the worker's loop.
:class:`LabelKeys` maps a FAISS index's labels to these keys, so batched search results
become keys without a string per neighbour.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from index.faiss_index import FaissIndex
from streams.ranking.indexes import CFIndex, ContentIndex
from streams.state.items import ItemStats
from streams.state.ordering import item_hash


class ItemKeys:
    def __init__(self, stats: ItemStats, content: ContentIndex, cf: CFIndex) -> None:
        self.stats, self.content, self.cf = stats, content, cf
        self.index: dict[str, int] = {}
        self.names: list[str] = []
        size = 1024
        self.hash = np.zeros(size, np.uint32)
        self.stats_row = np.full(size, -1, np.int64)
        self.content_row = np.full(size, -1, np.int64)
        self.cf_row = np.full(size, -1, np.int64)
        self.deleted = np.zeros(size, bool)
        self.of_stats = np.full(size, -1, np.int64)  # ItemStats row -> key
        self._stats_n = 0
        self._cf_model: object = None
        content.listeners.append(self._on_content)

    def __len__(self) -> int:
        return len(self.names)

    # --- upkeep -------------------------------------------------------------------------
    def sync(self) -> None:
        """Catch up with ItemStats (new ids) and the CF model (new rows); once per batch."""
        ids = self.stats.ids
        n = len(ids)
        if n > self._stats_n:
            if n > self.of_stats.size:
                self.of_stats = _grown(self.of_stats, n, -1)
            for j in range(self._stats_n, n):
                k = self.add(ids.id_of(j))
                self.stats_row[k] = j
                self.of_stats[j] = k
            self._stats_n = n
        model = self.cf.model
        if model is not self._cf_model:
            self._cf_model = model
            row = model.row if model is not None else (lambda _i: None)
            self.cf_row[: len(self.names)] = np.fromiter(
                (-1 if (r := row(i)) is None else r for i in self.names), np.int64, len(self.names))

    def _on_content(self, item_id: str) -> None:
        """ContentIndex listener: the item's row or deleted flag changed."""
        k = self.index.get(item_id)
        if k is not None:
            self.content_row[k] = self.content.row(item_id)
            self.deleted[k] = item_id in self.content.deleted

    def add(self, item_id: str) -> int:
        k = self.index.get(item_id)
        if k is not None:
            return k
        k = self.index[item_id] = len(self.names)
        self.names.append(item_id)
        if k >= self.hash.size:
            size = 2 * self.hash.size
            self.hash = _grown(self.hash, size, 0)
            self.stats_row, self.content_row, self.cf_row = (
                _grown(a, size, -1) for a in (self.stats_row, self.content_row, self.cf_row))
            self.deleted = _grown(self.deleted, size, False)
        self.hash[k] = item_hash(item_id)
        j = self.stats.ids.get(item_id)
        self.stats_row[k] = -1 if j is None or j >= self._stats_n else j
        if j is not None and j < self._stats_n:
            self.of_stats[j] = k
        self.content_row[k] = self.content.row(item_id)
        self.deleted[k] = item_id in self.content.deleted
        m = self._cf_model
        r = m.row(item_id) if m is not None else None  # type: ignore[attr-defined]
        self.cf_row[k] = -1 if r is None else r
        return k

    # --- reads --------------------------------------------------------------------------
    def keys(self, items: Sequence[str]) -> np.ndarray:
        get, add = self.index.get, self.add
        return np.fromiter((k if (k := get(i)) is not None else add(i) for i in items), np.int64, len(items))

    def ids(self, keys: np.ndarray) -> list[str]:
        names = self.names
        return [names[k] for k in keys.tolist()]


def _grown(a: np.ndarray, size: int, fill: object) -> np.ndarray:
    out = np.full(max(size, a.size), fill, a.dtype)
    out[: a.size] = a
    return out


class LabelKeys:
    """Label → item key for one FAISS index, so search results map to keys by one gather.

    FAISS labels are append-only until a rebuild renumbers them (``generation``), so the
    table only grows by the labels added since the last call. Its last slot is padding
    for label -1 (no hit): callers mask those out.
    """

    def __init__(self, keys: ItemKeys) -> None:
        self.keys = keys
        self._index: object = None
        self._generation = -1
        self._table = np.zeros(1, np.int64)

    def table(self, index: FaissIndex) -> np.ndarray:
        """Key of every label of ``index`` (call after the search, on the thread that writes it)."""
        if index is not self._index or index.generation != self._generation:
            self._index, self._generation, self._table = index, index.generation, np.zeros(1, np.int64)
        n = self._table.size - 1
        new = index.label_ids(n)
        if new:
            table = np.zeros(n + len(new) + 1, np.int64)
            table[:n] = self._table[:n]
            table[n:-1] = self.keys.keys(new)
            self._table = table
        return self._table
