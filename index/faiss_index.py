"""FAISS implementation of :class:`~index.base.VectorIndex`.

Layout: FAISS holds vectors at sequential labels 0..ntotal-1 (that is how
``IndexFlatIP`` and ``IndexHNSWFlat`` number them), and this class keeps the
string-id ↔ label maps plus an ``alive`` mask. HNSW cannot remove vectors, so delete
and replace work the same way for every structure: the old label is tombstoned
(masked out of searches with an ``IDSelectorBitmap``, or filtered after an over-fetch
on GPU indexes, which take no selectors) and :meth:`compact` rebuilds from the live
vectors once tombstones pass ``rebuild_dead_fraction``. The rebuild runs under the
lock, so a big HNSW rebuild pauses readers; it is rare by construction.

Structure: ``flat`` is exact; ``hnsw`` is approximate and fast at scale; ``auto``
starts flat and migrates to HNSW once ``auto_hnsw_min`` vectors are live. With a GPU
(``faiss.get_num_gpus() > 0``) ``auto``/``flat`` use a GPU flat index: brute force
on a GPU beats CPU HNSW well into the millions and stays exact. A CPU flat index is
searched by :mod:`index.exact` (FAISS's per-pair inner products, found through numpy
sgemm + a vectorised top-k for bigger batches): exact, the same scores in any batch, and
without FAISS's per-query heap, which dominated batched search.

:meth:`search_labels` answers a batch as arrays of labels (``label_ids`` maps them to
ids), for callers that map labels themselves; ``search``/``search_batch`` build
:class:`Hit` lists from the same search.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterable, Sequence

import faiss
import numpy as np

from index.base import Hit
from index.config import IndexSettings
from index.errors import DimensionMismatch, VectorIndexError
from index.exact import exact_top_k, largest_norm

log = logging.getLogger(__name__)
GPU_MAX_K = 2048  # faiss GPU indexes return at most this many neighbours per query


class FaissIndex:
    """Thread-safe (one lock) inner-product index with string ids and tombstones."""

    def __init__(self, cfg: IndexSettings | None = None, **overrides: object) -> None:
        cfg = cfg or IndexSettings()
        self.cfg = cfg.model_copy(update=overrides) if overrides else cfg
        self.dim = self.cfg.dim
        self.use_gpu = self.cfg.device != "cpu" and faiss.get_num_gpus() > 0
        if self.cfg.device == "cuda" and not self.use_gpu:
            raise VectorIndexError("index device 'cuda' requested but faiss sees no GPU")
        self._lock = threading.RLock()
        self._gpu_res = faiss.StandardGpuResources() if self.use_gpu else None
        self.generation = 0  # bumped whenever labels are renumbered (a rebuild)
        self._reset(self._initial_kind())

    # --- structure ---------------------------------------------------------------------
    def _initial_kind(self) -> str:
        return "hnsw" if self.cfg.kind == "hnsw" else "flat"

    def _new_faiss(self, kind: str) -> faiss.Index:
        if kind == "hnsw":
            idx = faiss.IndexHNSWFlat(self.dim, self.cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            idx.hnsw.efConstruction = self.cfg.hnsw_ef_construction
            return idx
        idx = faiss.IndexFlatIP(self.dim)
        return faiss.index_cpu_to_gpu(self._gpu_res, 0, idx) if self.use_gpu else idx

    def _reset(self, kind: str) -> None:
        self.generation += 1
        self.kind = kind
        self._index = self._new_faiss(kind)
        self._ids: list[str] = []                     # label -> id
        self._label: dict[str, int] = {}              # id -> live label
        self._alive = np.zeros(0, dtype=bool)
        self._bitmap: np.ndarray | None = None        # packed alive mask cache
        self._selectors = kind == "hnsw" or not self.use_gpu
        self._columns: np.ndarray | None = None       # flat vectors as columns (_flat_columns)
        self._columns_n, self._columns_gen = 0, self.generation
        self._max_norm = 0.0  # of the vectors in the column copy (bounds exact_top_k's rounding)

    @property
    def dead(self) -> int:
        return len(self._ids) - len(self._label)

    def __len__(self) -> int:
        return len(self._label)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._label

    def stats(self) -> dict[str, object]:
        with self._lock:
            return {"kind": self.kind, "gpu": self.use_gpu, "live": len(self), "dead": self.dead,
                    "ntotal": int(self._index.ntotal)}

    # --- writes ------------------------------------------------------------------------
    def _check(self, x: np.ndarray, what: str) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise DimensionMismatch(f"{what}: expected shape (n, {self.dim}), got {x.shape}")
        if not np.isfinite(x).all():
            raise VectorIndexError(f"{what}: vectors contain NaN or inf")
        return x

    def upsert(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        vectors = self._check(vectors, "upsert")
        if len(ids) != len(vectors):
            raise VectorIndexError(f"upsert: {len(ids)} ids but {len(vectors)} vectors")
        last = {item_id: i for i, item_id in enumerate(ids)}  # last occurrence wins
        rows = sorted(last.values())
        with self._lock:
            self._tombstone(ids[i] for i in rows)
            base = len(self._ids)
            self._index.add(vectors[rows])
            for j, i in enumerate(rows):
                self._ids.append(ids[i])
                self._label[ids[i]] = base + j
            self._alive = np.concatenate([self._alive, np.ones(len(rows), dtype=bool)])
            self._bitmap = None
            self._maybe_restructure()

    def delete(self, ids: Sequence[str]) -> int:
        with self._lock:
            n = self._tombstone(ids)
            self._maybe_restructure()
            return n

    def _tombstone(self, ids: Iterable[str]) -> int:
        n = 0
        for item_id in ids:
            label = self._label.pop(item_id, None)
            if label is not None:
                self._alive[label] = False
                n += 1
        if n:
            self._bitmap = None
        return n

    def _maybe_restructure(self) -> None:
        if (self.cfg.kind == "auto" and self.kind == "flat" and not self.use_gpu
                and len(self) >= self.cfg.auto_hnsw_min):
            log.info("index: %d live vectors >= %d, migrating flat -> hnsw", len(self), self.cfg.auto_hnsw_min)
            self.compact(kind="hnsw")
        elif self.dead >= self.cfg.rebuild_min_dead and self.dead > self.cfg.rebuild_dead_fraction * len(self._ids):
            self.compact()

    def compact(self, kind: str | None = None) -> None:
        """Rebuild from live vectors only (drops tombstones; optionally change structure)."""
        with self._lock:
            ids, vecs = self.export()
            log.info("index: rebuilding %s with %d live vectors (%d tombstones dropped)",
                     kind or self.kind, len(ids), self.dead)
            self._reset(kind or self.kind)
            if ids:
                self.upsert(ids, vecs)

    # --- reads -------------------------------------------------------------------------
    def get(self, item_id: str) -> np.ndarray | None:
        with self._lock:
            label = self._label.get(item_id)
            return None if label is None else self._index.reconstruct(label)

    def export(self) -> tuple[list[str], np.ndarray]:
        with self._lock:
            labels = np.flatnonzero(self._alive)
            if len(labels) == 0:
                return [], np.zeros((0, self.dim), np.float32)
            vecs = self._index.reconstruct_n(0, self._index.ntotal)[labels]
            return [self._ids[i] for i in labels], np.ascontiguousarray(vecs)

    def search(self, query: np.ndarray, k: int, allow: Collection[str] | None = None,
               deny: Collection[str] | None = None) -> list[Hit]:
        return self.search_batch(np.asarray(query, np.float32).reshape(1, -1), k, allow, deny)[0]

    def search_batch(self, queries: np.ndarray, k: int, allow: Collection[str] | None = None,
                     deny: Collection[str] | None = None,
                     deny_per_query: Sequence[Collection[str]] | None = None) -> list[list[Hit]]:
        queries = self._check(queries, "search")
        if k <= 0:
            raise VectorIndexError(f"search: k must be >= 1, got {k}")
        if deny_per_query is not None and len(deny_per_query) != len(queries):
            raise VectorIndexError(f"search: {len(deny_per_query)} deny lists for {len(queries)} queries")
        with self._lock:
            if not self._label:
                return [[] for _ in queries]
            if allow is not None:
                labels = np.array(sorted(self._label[a] for a in allow if a in self._label), dtype=np.int64)
                if len(labels) <= self.cfg.exact_allow_max:
                    return self._exact_subset(queries, k, labels, deny, deny_per_query)
            extra = max((len(d) for d in deny_per_query), default=0) if deny_per_query else 0
            scores, labels_out = self._live_first(*self._ann(queries, k + extra, allow, deny))
            return self._to_hits(scores, labels_out, k, deny, deny_per_query)

    def search_labels(self, queries: np.ndarray, k: int | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search_batch` (no filters) as arrays: (scores float32, labels int64), [n, ≤ max k].

        ``k`` is one count or one per query. Row i holds query i's best live labels,
        best first, then label -1 (score -inf) past its k or where fewer are live. No
        Python object per neighbour; map labels with :meth:`label_ids` (valid until
        :attr:`generation` changes).
        """
        queries = self._check(queries, "search")
        ks = np.broadcast_to(np.asarray(k, np.int64), (len(queries),))
        if len(ks) and ks.min() <= 0:
            raise VectorIndexError(f"search: k must be >= 1, got {int(ks.min())}")
        with self._lock:
            width = min(int(ks.max()) if len(ks) else 0, len(self))
            scores = np.full((len(queries), width), -np.inf, np.float32)
            labels = np.full((len(queries), width), -1, np.int64)
            if not width:
                return scores, labels
            if self.kind == "flat" and not self.use_gpu:  # one product for every k
                s, lab = self._ann(queries, ks, None, None)
                return s[:, :width], lab[:, :width]  # live labels come first
            for kk in np.unique(ks).tolist():  # FAISS takes one k a call
                rows = np.flatnonzero(ks == kk)
                s, lab = self._live_first(*self._ann(queries[rows], kk, None, None))
                w = min(kk, width, s.shape[1])
                scores[rows, :w], labels[rows, :w] = s[:, :w], lab[:, :w]
            return scores, labels

    def label_ids(self, start: int = 0) -> list[str]:
        """The id of every label from ``start`` on (dead labels keep their old id)."""
        with self._lock:
            return self._ids[start:]

    def _exact_subset(self, queries: np.ndarray, k: int, labels: np.ndarray, deny: Collection[str] | None,
                      deny_per_query: Sequence[Collection[str]] | None) -> list[list[Hit]]:
        """Small allow-lists: score exactly (any structure, CPU or GPU)."""
        if len(labels) == 0:
            return [[] for _ in queries]
        vecs = self._index.reconstruct_batch(labels)
        scores = queries @ vecs.T
        order = np.argsort(-scores, axis=1, kind="stable")
        return self._to_hits(np.take_along_axis(scores, order, 1), labels[order], k, deny, deny_per_query)

    def _ann(self, queries: np.ndarray, fetch: int | np.ndarray, allow: Collection[str] | None,
             deny: Collection[str] | None) -> tuple[np.ndarray, np.ndarray]:
        """FAISS's answer (dead labels possible on GPU); ``fetch`` per query: CPU flat only."""
        ntotal = int(self._index.ntotal)
        need_filter = self.dead > 0 or bool(deny) or allow is not None
        if not self._selectors:  # GPU flat: over-fetch, filter in _to_hits
            fetch += self.dead + (len(deny) if deny else 0)
            if allow is not None:
                fetch = ntotal
            return self._index.search(queries, min(fetch, ntotal, GPU_MAX_K))
        if self.kind == "flat":  # CPU flat: exact in numpy, the filter as a mask
            live = self._filter_mask(allow, deny) if need_filter else None
            xt = self._flat_columns()
            return exact_top_k(queries, self._flat_vectors(), xt, np.minimum(fetch, ntotal), live, self._max_norm)
        params = faiss.SearchParametersHNSW() if self.kind == "hnsw" else faiss.SearchParameters()
        if self.kind == "hnsw":
            params.efSearch = max(self.cfg.hnsw_ef_search, fetch)
        bitmap = None
        if need_filter:
            bitmap = self._filter_bitmap(allow, deny)
            params.sel = faiss.IDSelectorBitmap(ntotal, faiss.swig_ptr(bitmap))
        return self._index.search(queries, min(fetch, ntotal), params=params)

    def _flat_vectors(self) -> np.ndarray:
        """A CPU flat index's stored vectors as a [ntotal, dim] view (no copy; read under the lock)."""
        n = int(self._index.ntotal)
        return faiss.rev_swig_ptr(self._index.get_xb(), n * self.dim).reshape(n, self.dim)

    def _flat_columns(self) -> np.ndarray:
        """The same vectors as the columns of a [dim, ntotal] view, for :func:`exact_top_k`.

        A second copy (4 bytes x dim per vector, only for CPU flat indexes, which
        ``auto`` leaves at ``auto_hnsw_min`` vectors), kept in a buffer with spare columns
        so an upsert copies only the new vectors; a rebuild (new generation) starts over.
        Tracks the largest norm copied (``_max_norm``: an upper bound after deletes), which
        bounds the rounding error the exact search allows for.
        """
        n = int(self._index.ntotal)
        cols = self._columns
        if cols is None or self._columns_gen != self.generation or n < self._columns_n:
            cols, self._columns_n, self._columns_gen, self._max_norm = None, 0, self.generation, 0.0
        if cols is None or n > cols.shape[1]:
            grown = np.empty((self.dim, max(1024, n + n // 2)), np.float32)
            if cols is not None:
                grown[:, : self._columns_n] = cols[:, : self._columns_n]
            cols = self._columns = grown
        if n > self._columns_n:
            new = self._flat_vectors()[self._columns_n:n]
            cols[:, self._columns_n:n] = new.T
            self._max_norm = max(self._max_norm, largest_norm(new))
            self._columns_n = n
        return cols[:, :n]

    def _denied(self, deny: Collection[str] | None) -> np.ndarray:
        return np.array([self._label[d] for d in (deny or ()) if d in self._label], dtype=np.int64)

    def _filter_mask(self, allow: Collection[str] | None, deny: Collection[str] | None) -> np.ndarray:
        """True at the labels a search may return (live, allowed, not denied)."""
        if allow is not None:
            mask = np.zeros(len(self._ids), dtype=bool)
            mask[[self._label[a] for a in allow if a in self._label]] = True
        else:
            mask = self._alive.copy() if deny else self._alive
        if deny:
            mask[self._denied(deny)] = False
        return mask

    def _filter_bitmap(self, allow: Collection[str] | None, deny: Collection[str] | None) -> np.ndarray:
        if allow is not None:
            return np.packbits(self._filter_mask(allow, deny), bitorder="little")
        if self._bitmap is None:
            self._bitmap = np.packbits(self._alive, bitorder="little")
        bitmap = self._bitmap.copy()
        denied = self._denied(deny)
        if len(denied):
            np.bitwise_and.at(bitmap, denied >> 3, ~(1 << (denied & 7)).astype(np.uint8))
        return bitmap

    def _live_first(self, scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Dead labels (a GPU search returns them) to -1, and every row's live labels first."""
        dead = labels >= 0
        dead[dead] = ~self._alive[labels[dead]]
        if dead.any():
            labels = np.where(dead, -1, labels)
            scores = np.where(dead, np.float32(-np.inf), scores)
        gone = labels < 0
        if gone.any():
            order = np.argsort(gone, axis=1, kind="stable")
            scores, labels = np.take_along_axis(scores, order, 1), np.take_along_axis(labels, order, 1)
        return scores, labels

    def _to_hits(self, scores: np.ndarray, labels: np.ndarray, k: int, deny: Collection[str] | None,
                 deny_per_query: Sequence[Collection[str]] | None) -> list[list[Hit]]:
        """Hit lists from live-first rows (label -1: none), minus the denied ids."""
        ids = self._ids
        width = k + (len(deny) if deny else 0) + max(map(len, deny_per_query or ()), default=0)
        out: list[list[Hit]] = []  # only a denied id is skipped, so `width` columns suffice
        for q, (srow, lrow) in enumerate(zip(scores[:, :width].tolist(), labels[:, :width].tolist())):
            extra = deny_per_query[q] if deny_per_query else ()
            hits: list[Hit] = []
            for s, lab in zip(srow, lrow):
                if lab < 0:
                    continue
                item_id = ids[lab]
                if (deny and item_id in deny) or item_id in extra:
                    continue
                hits.append(Hit(item_id, s))
                if len(hits) == k:
                    break
            out.append(hits)
        return out
